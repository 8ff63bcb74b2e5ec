#!/usr/bin/env bash
# e2e/cluster/up.sh — brings up a real single-node Kubernetes v1.37.2 on this machine as plain
# processes (no systemd, no kind): etcd, kube-apiserver, kube-controller-manager (host-path
# provisioner), kube-scheduler, containerd + runc, kubelet, kube-proxy (iptables), CoreDNS, CNI
# bridge networking on 10.244.0.0/24 with the node address on the bridge, an iptables fence that
# keeps pod traffic inside the pod network, and a default StorageClass `standard`.
# Installs the Debian packages it needs, builds the binaries once (build.sh) and the zab images
# (images.sh). Every process it starts is recorded under $STATE/pids; down.sh undoes all of it.
# Idempotent: on a running cluster it only checks and re-applies. Last line printed: the path of
# an env file to `source` (KUBECONFIG, PATH with the cluster's kubectl and helm first).
# Never: pull an image, touch a process it did not start, or let pod traffic leave the pod network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/cluster/lib.sh
. "$here/lib.sh"

[[ $(id -u) == 0 ]] || die "run as root (it starts containerd, kubelet and changes iptables)"
lock_cluster
t0=$SECONDS

# --- Debian packages ----------------------------------------------------------------------------
declare -A need=([etcd]=etcd-server [containerd]=containerd [runc]=runc [iptables]=iptables
    [conntrack]=conntrack [socat]=socat [openssl]=openssl [jq]=jq [curl]=curl [ip]=iproute2
    [setpriv]=util-linux [findmnt]=util-linux [gcc]=gcc [ldd]=libc-bin [nft]=nftables)
missing=()
for cmd in "${!need[@]}"; do command -v "$cmd" >/dev/null || missing+=("${need[$cmd]}"); done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
    missing+=(containernetworking-plugins)
if ((${#missing[@]})); then
    # Package scripts must not start daemons: a policy-rc.d that says no, restored afterwards.
    prc=/usr/sbin/policy-rc.d saved_prc=""
    if [[ -e $prc ]]; then saved_prc=$(mktemp); cp -p "$prc" "$saved_prc"; fi
    restore_prc() {
        if [[ -n $saved_prc ]]; then cp -p "$saved_prc" "$prc"; rm -f "$saved_prc"; else rm -f "$prc"; fi
    }
    trap restore_prc EXIT
    printf '#!/bin/sh\n# written by zab e2e/cluster/up.sh while it installs packages\nexit 101\n' >"$prc"
    chmod 0755 "$prc"
    mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    restore_prc
    trap - EXIT
fi

# --- binaries -----------------------------------------------------------------------------------
"$here/build.sh" >/dev/null
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl coredns helm pause; do
    [[ -x $K8S_BIN/$b ]] || die "$K8S_BIN/$b missing after build.sh"
done

mkdir -p "$STATE"/{pids,logs,pki,kubeconfig,etc,etcd,containerd,kubelet,pod-logs,cni/net.d,cni/ipam}

# --- what was there before (recorded once, so down.sh leaves the machine as it found it) -------
if [[ ! -f $STATE/foreign-paths.absent ]]; then
    for p in "${FOREIGN_PATHS[@]}"; do [[ -e $p ]] || echo "$p"; done >"$STATE/foreign-paths.absent"
fi
if [[ ! -f $STATE/sysctl.saved ]]; then
    for s in "${SAVED_SYSCTLS[@]}"; do
        f=/proc/sys/${s//.//}
        [[ -f $f ]] && echo "$s=$(<"$f")"
    done >"$STATE/sysctl.saved"
fi
if [[ ! -f $STATE/iptables-tables.before ]]; then
    for ipt in iptables ip6tables; do
        $ipt-save 2>/dev/null | awk -v p="$ipt" '/^\*/ {print p" "substr($0, 2)}'
    done >"$STATE/iptables-tables.before"
fi
if [[ ! -f $STATE/iptables-chains.before ]]; then
    for t in filter nat mangle raw; do
        for ipt in iptables ip6tables; do
            $ipt -t "$t" -S 2>/dev/null | awk -v p="$ipt/$t" '/^-N /{print p" "$2}'
        done
    done >"$STATE/iptables-chains.before"
fi

# write_if_changed FILE < CONTENT: a running component may watch its config (kube-proxy exits
# when its file is written), so a rerun rewrites nothing that is already right.
write_if_changed() {
    local new; new=$(cat)
    [[ -f $1 && "$(<"$1")" == "$new" ]] || printf '%s\n' "$new" >"$1"
}

# --- certificates (openssl; EC P-256 except the service-account key) ---------------------------
pki=$STATE/pki
sign() { # NAME SUBJECT [SAN]
    local name=$1 subj=$2 san=${3:-}
    [[ -f $pki/$name.crt ]] && return 0
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
    openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
    local ext=$pki/$name.ext
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [[ -n $san ]]; then
            echo "extendedKeyUsage=serverAuth,clientAuth"
            echo "subjectAltName=$san"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } >"$ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 365 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
    rm -f "$pki/$name.csr" "$ext"
}
if [[ ! -f $pki/ca.crt ]]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=zab-e2e-ca" -days 365 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$pki/ca.crt" 2>/dev/null
fi
if [[ ! -f $pki/sa.key ]]; then
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi
sign apiserver "/CN=kube-apiserver" \
    "IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost"
sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
sign admin "/O=system:masters/CN=zab-e2e-admin"
sign controller-manager "/CN=system:kube-controller-manager"
sign scheduler "/CN=system:kube-scheduler"
sign kube-proxy "/CN=system:kube-proxy"
sign kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME"
sign kubelet-server "/CN=$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
sign coredns "/CN=system:zab-e2e-coredns"
chmod 0600 "$pki"/*.key

kubeconfig() { # NAME CERT
    local f=$STATE/kubeconfig/$1.kubeconfig
    [[ -f $f ]] && return 0
    cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: zab-e2e
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: zab-e2e
  context: {cluster: zab-e2e, user: $1}
current-context: zab-e2e
EOF
    chmod 0600 "$f.tmp"; mv "$f.tmp" "$f"
}
for k in admin controller-manager scheduler kube-proxy coredns; do kubeconfig "$k" "$k"; done
kubeconfig kubelet kubelet-client

# kube-controller-manager runs as the images' nonroot user (65532) so that the host-path PVs it
# creates (mode 0750, hard-coded) belong to the user zab's pods run as; it reads only these.
cm_dir=$STATE/controller-manager
mkdir -p "$cm_dir"
cp "$STATE/kubeconfig/controller-manager.kubeconfig" "$pki/sa.key" "$pki/ca.crt" "$cm_dir/"
chown -R "$NONROOT_UID:$NONROOT_UID" "$cm_dir"
chmod 0700 "$cm_dir"
if [[ ! -d $HOSTPATH_PV_DIR ]]; then
    install -d -m 0755 -o "$NONROOT_UID" -g "$NONROOT_UID" "$HOSTPATH_PV_DIR"
fi
[[ $(stat -c %u "$HOSTPATH_PV_DIR") == "$NONROOT_UID" ]] ||
    die "$HOSTPATH_PV_DIR exists and is not owned by uid $NONROOT_UID; remove it (it holds host-path PVs) and rerun"

# --- node network: the bridge carries the node address; sysctls; the egress fence -------------
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
fi
[[ $(ip -o -4 addr show dev "$BRIDGE") == *" inet $NODE_IP/"* ]] || ip addr add "$NODE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
# The host reaches ClusterIPs over the bridge, never over its uplink.
ip route replace "$SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP"
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
if ! iptables -S "$FENCE_CHAIN" >/dev/null 2>&1; then
    iptables -N "$FENCE_CHAIN"
fi
iptables -F "$FENCE_CHAIN"
iptables -A "$FENCE_CHAIN" -s "$POD_CIDR" -d "$POD_CIDR" -j RETURN
iptables -A "$FENCE_CHAIN" -s "$POD_CIDR" -j REJECT --reject-with icmp-net-prohibited
iptables -A "$FENCE_CHAIN" -d "$POD_CIDR" -j REJECT --reject-with icmp-net-prohibited
iptables -C FORWARD -j "$FENCE_CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$FENCE_CHAIN"

# --- etcd ---------------------------------------------------------------------------------------
start etcd etcd --name zab-e2e --data-dir "$STATE/etcd" --unsafe-no-fsync \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster zab-e2e=http://127.0.0.1:2380 --log-level warn
wait_for etcd 60 bash -c 'curl -sf http://127.0.0.1:2379/health | grep -q "\"health\":\"true\""'

# --- kube-apiserver -----------------------------------------------------------------------------
start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --client-ca-file="$pki/ca.crt" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=false --profiling=false --event-ttl=30m
api_ready() {
    curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
        "$APISERVER_URL/readyz" | grep -qx ok
}
wait_for kube-apiserver 120 api_ready

# --- kube-controller-manager and kube-scheduler ------------------------------------------------
start kube-controller-manager setpriv --reuid="$NONROOT_UID" --regid="$NONROOT_UID" --clear-groups \
    "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$cm_dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$cm_dir/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$cm_dir/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --cert-dir="$cm_dir/serving" \
    --service-account-private-key-file="$cm_dir/sa.key" --root-ca-file="$cm_dir/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range="$SERVICE_CIDR" \
    --enable-hostpath-provisioner=true --leader-elect=false --profiling=false
start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig="$STATE/kubeconfig/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/kubeconfig/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/kubeconfig/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --cert-dir="$STATE/scheduler-serving" \
    --leader-elect=false --profiling=false
wait_for kube-controller-manager 60 curl -skf https://127.0.0.1:10257/healthz
wait_for kube-scheduler 60 curl -skf https://127.0.0.1:10259/healthz

# --- cluster objects: CoreDNS's read access, the default StorageClass --------------------------
kubectl_ apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "zab-e2e:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "zab-e2e:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "zab-e2e:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:zab-e2e-coredns"}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF

# --- containerd ---------------------------------------------------------------------------------
write_if_changed "$STATE/etc/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # lowering oom_score_adj needs CAP_SYS_RESOURCE, which this VM's root lacks
  restrict_oom_score_adj = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
write_if_changed "$STATE/cni/net.d/10-zab-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "zab-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "10.244.0.10", "rangeEnd": "10.244.0.250", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
start containerd containerd --config "$STATE/etc/containerd.toml"
wait_for containerd 60 ctr --address "$CONTAINERD_SOCK" version

# --- images (pause, zab-node, zab-operator): tag e2e, and e2e-b for the scenarios that change
# the image of a running ensemble or operator (CONTRACTS.md) ---------------------------------
read -r -a image_tags <<<"${ZAB_E2E_IMAGE_TAGS:-e2e e2e-b}"
"$here/images.sh" "${image_tags[@]}" >&2

# --- kubelet ------------------------------------------------------------------------------------
write_if_changed "$STATE/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-server.crt
tlsPrivateKeyFile: $pki/kubelet-server.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [$NODE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: ""
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/kubelet/volume-plugins
evictionHard: {memory.available: 50Mi, nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%", imagefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
EOF
start kubelet "$K8S_BIN/kubelet" --config="$STATE/etc/kubelet.yaml" \
    --kubeconfig="$STATE/kubeconfig/kubelet.kubeconfig" --root-dir="$STATE/kubelet" \
    --cert-dir="$STATE/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
wait_for kubelet 60 curl -sf http://127.0.0.1:10248/healthz
node_ready() {
    [[ $(kubectl_ get node "$NODE_NAME" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}
wait_for "node $NODE_NAME Ready" 120 node_ready

# --- kube-proxy ---------------------------------------------------------------------------------
write_if_changed "$STATE/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kubeconfig/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$POD_CIDR"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
start kube-proxy "$K8S_BIN/kube-proxy" --config="$STATE/etc/kube-proxy.yaml"
wait_for kube-proxy 60 curl -sf http://127.0.0.1:10256/healthz

# --- CoreDNS (answers cluster names only; nothing is forwarded off the machine) ----------------
write_if_changed "$STATE/etc/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:10054
    ready 127.0.0.1:10055
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $STATE/kubeconfig/coredns.kubeconfig zab-e2e
        pods insecure
        ttl 5
    }
}
EOF
start coredns "$K8S_BIN/coredns" -conf "$STATE/etc/Corefile"
wait_for coredns 60 curl -sf http://127.0.0.1:10055/ready

# --- env file -----------------------------------------------------------------------------------
env_file=$STATE/env
cat >"$env_file" <<EOF
# written by e2e/cluster/up.sh: source it to use the local cluster
export KUBECONFIG=$STATE/kubeconfig/admin.kubeconfig
export PATH=$K8S_BIN:\$PATH
EOF
log "cluster up in $((SECONDS - t0)) s (state in $STATE, binaries in $K8S_BIN)"
echo "$env_file"
