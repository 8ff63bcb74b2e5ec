# e2e/cluster/lib.sh — names, paths and small helpers shared by up.sh, down.sh and images.sh
# (sourced, never run). One place says where the local cluster keeps its state, which address
# the node has, and how a recorded process is started, checked and stopped.
# Never: start or stop anything when sourced; never touch a process it has no pid file for.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the names below are used by the scripts that source this file

K8S_VERSION=v1.37.2
ZAB_CACHE_DIR=${ZAB_CACHE_DIR:-$HOME/.cache/zab}
K8S_BIN=$ZAB_CACHE_DIR/k8s-$K8S_VERSION/bin
# Everything a running cluster owns lives here; down.sh removes it.
STATE=${ZAB_CLUSTER_STATE:-/var/lib/zab-e2e-cluster}
# down.sh copies the components' logs here before it removes $STATE (CI shows them on failure).
LOGS_KEPT=${ZAB_CLUSTER_LOGS:-$ZAB_CACHE_DIR/cluster-logs}

NODE_NAME=zab-e2e-node
BRIDGE=zabbr0
NODE_IP=10.244.0.1           # on the bridge: node InternalIP, apiserver, kubelet, cluster DNS
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
CLUSTER_DOMAIN=cluster.local
APISERVER_URL=https://$NODE_IP:6443
FENCE_CHAIN=ZAB-E2E-FENCE
NONROOT_UID=65532            # the images' user; owns the host-path PVs (see up.sh)
HOSTPATH_PV_DIR=/tmp/hostpath_pv   # hard-coded in kube-controller-manager's host-path provisioner

CONTAINERD_SOCK=$STATE/containerd/containerd.sock
PAUSE_IMAGE=localhost/pause:zab

# Sysctls the cluster changes (we, the CNI bridge plugin, kubelet, kube-proxy); up.sh saves
# them once, down.sh writes them back.
SAVED_SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables
    net.bridge.bridge-nf-call-ip6tables vm.overcommit_memory vm.panic_on_oom kernel.panic
    kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
    net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max)

# Paths outside $STATE that the components create on their own when missing; up.sh records
# which of them did not exist, down.sh removes exactly those.
# (Not /run/netns: containerd keeps pod network namespaces under $STATE, and other programs,
# e.g. `ip netns`, use /run/netns at the same time.)
FOREIGN_PATHS=(/run/containerd /var/log/containers /var/log/pods
    /var/lib/kubelet /etc/cni /opt/cni /var/lib/cni /opt/containerd /var/lib/containerd
    /etc/kubernetes /usr/libexec/kubernetes /var/lib/kube-proxy "$HOSTPATH_PV_DIR")

log() { printf '[%s %s] %s\n' "$(basename "$0")" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_of NAME: the recorded pid when that process is still alive, else nothing.
pid_of() {
    local f=$STATE/pids/$1.pid pid
    [[ -f $f ]] || return 0
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] && [[ -d /proc/$pid ]] || return 0
    # A pid can be reused: it must still run the program recorded beside it.
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$(<"$STATE/pids/$1.exe")" ]] && echo "$pid"
    return 0
}

# start NAME PROGRAM ARGS...: runs PROGRAM detached (own session), output to logs/NAME.log,
# records its pid. Does nothing when NAME is already running.
start() {
    local name=$1; shift
    if [[ -n $(pid_of "$name") ]]; then
        log "$name already running (pid $(pid_of "$name"))"
        return 0
    fi
    mkdir -p "$STATE/pids" "$STATE/logs"
    # (8>&-: the daemon must not keep lock_cluster's lock held after up.sh ends)
    setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null 8>&- &
    local pid=$!
    echo "$pid" >"$STATE/pids/$name.pid"
    readlink -f "$(_program_of "$@")" >"$STATE/pids/$name.exe"
    log "started $name (pid $pid)"
}

# The program a command line ends up executing (setpriv execs the first word after its options).
_program_of() {
    if [[ $(basename "$1") == setpriv ]]; then
        shift
        while [[ $# -gt 0 && $1 == --* ]]; do shift; done
        command -v "$1"
    else
        command -v "$1"
    fi
}

# wait_for DESC SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds; fails with
# the log's tail when the deadline passes.
wait_for() {
    local desc=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${secs}s waiting for $desc"
            return 1
        fi
        sleep 0.2
    done
    log "$desc: ready"
}

# running PID: the process exists and is not a zombie (this VM's init reaps orphans slowly).
running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# stop NAME: SIGTERM to the recorded pid, SIGKILL after 5 s (kube-apiserver waits for its
# long-running requests); removes the pid file.
stop() {
    local name=$1 pid
    pid=$(pid_of "$name")
    if [[ -n $pid ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 5))
        while running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if running "$pid"; then
            log "$name (pid $pid) still running 5 s after SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            while running "$pid"; do sleep 0.1; done
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$STATE/pids/$name.pid" "$STATE/pids/$name.exe"
}

# lock_cluster: one up.sh or down.sh at a time on this machine (several people share it).
lock_cluster() {
    mkdir -p "$ZAB_CACHE_DIR"
    exec 8>"$ZAB_CACHE_DIR/cluster.lock"
    flock -w 600 8 || die "another up.sh/down.sh has held $ZAB_CACHE_DIR/cluster.lock for 10 min"
}

kubectl_() { "$K8S_BIN/kubectl" --kubeconfig "$STATE/kubeconfig/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
