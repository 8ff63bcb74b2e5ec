#!/usr/bin/env bash
# e2e/cluster/down.sh — undoes e2e/cluster/up.sh and leaves the machine as up.sh found it:
# stops exactly the processes up.sh recorded (by pid) and the containers and containerd shims of
# the cluster's own containerd (found by its unique -address), unmounts everything under the
# state dir, removes the cgroups kubelet made, the bridge, the route, the fence chain and the
# KUBE-* chains kube-proxy and kubelet left (only those that were not there before up.sh), the
# sysctls up.sh saved, the paths the components created outside the state dir, and the state
# dir itself. The components' logs are kept in $ZAB_CLUSTER_LOGS (default under the cache dir).
# Safe to run when nothing is up, or twice.
# Never: kill a process it cannot tie to this cluster, or delete a chain that predates up.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=e2e/cluster/lib.sh
. "$here/lib.sh"

[[ $(id -u) == 0 ]] || die "run as root"
lock_cluster
t0=$SECONDS

if [[ -d $STATE/logs ]]; then
    rm -rf "$LOGS_KEPT"; mkdir -p "$LOGS_KEPT"
    cp -r "$STATE/logs/." "$LOGS_KEPT/" 2>/dev/null || true
    [[ -d $STATE/pod-logs ]] && cp -r "$STATE/pod-logs" "$LOGS_KEPT/pods" 2>/dev/null || true
fi

# --- node agents first (so nothing restarts containers), then the containers ------------------
for c in coredns kube-proxy kubelet; do stop "$c"; done

# Shims of our containerd carry its socket in their command line: `-address $CONTAINERD_SOCK`.
our_shims() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ $cmd == *containerd-shim*" -address $CONTAINERD_SOCK "* ]] && echo "${p#/proc/}"
    done
    return 0
}
# descendants PID: every process below PID (containers' processes below their shim).
descendants() {
    local kids k
    kids=$(ps -eo pid=,ppid= | awk -v pp="$1" '$2 == pp {print $1}')
    for k in $kids; do echo "$k"; descendants "$k"; done
}
mapfile -t shims < <(our_shims)
if ((${#shims[@]})); then
    victims=()
    for s in "${shims[@]}"; do mapfile -t -O "${#victims[@]}" victims < <(descendants "$s"); done
    if ((${#victims[@]})); then
        kill -KILL "${victims[@]}" 2>/dev/null || true
        log "killed ${#victims[@]} container processes"
    fi
    kill -TERM "${shims[@]}" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while (($(our_shims | wc -l) > 0)) && ((SECONDS < deadline)); do sleep 0.1; done
    mapfile -t left < <(our_shims)
    ((${#left[@]})) && kill -KILL "${left[@]}" 2>/dev/null || true
    log "stopped ${#shims[@]} containerd shims"
fi
stop containerd

# --- control plane ------------------------------------------------------------------------------
for c in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$c"; done

# --- mounts: everything under the state dir (kubelet's rshared self-bind, pod volumes, rootfs
# overlays, sandbox shm, network namespaces), deepest first ------------------------------------
if [[ -d $STATE ]]; then
    for _ in 1 2 3; do
        mapfile -t mounts < <(findmnt -rn -o TARGET | awk -v s="$STATE" 'index($0, s) == 1' | sort -r)
        ((${#mounts[@]})) || break
        for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    done
    ((${#mounts[@]})) && log "unmounted ${#mounts[@]} mounts under $STATE"
fi

# --- cgroups kubelet made (cgroupfs driver, cgroup v1: /sys/fs/cgroup/*/kubepods) --------------
for h in /sys/fs/cgroup/*/; do
    [[ -d ${h}kubepods ]] || continue
    find "${h}kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null || true
done

# --- network ------------------------------------------------------------------------------------
if ip link show "$BRIDGE" >/dev/null 2>&1; then
    # pod veths go with their network namespaces; any left are ours (enslaved to our bridge)
    for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip link del "$v" 2>/dev/null || true
    done
    ip link del "$BRIDGE"
    log "removed bridge $BRIDGE (and its route)"
fi
before=$STATE/iptables-chains.before
for ipt in iptables ip6tables; do
    command -v $ipt >/dev/null || continue
    for t in filter nat mangle raw; do
        mapfile -t chains < <($ipt -t "$t" -S 2>/dev/null | awk '/^-N (KUBE-|ZAB-E2E-)/ {print $2}' |
            while read -r c; do grep -qx "$ipt/$t $c" "$before" 2>/dev/null || echo "$c"; done)
        ((${#chains[@]})) || continue
        # rules in other chains that jump to ours
        $ipt -t "$t" -S | grep -E -- "-j ($(IFS='|'; echo "${chains[*]}"))( |$)" |
            grep -Ev "^-A ($(IFS='|'; echo "${chains[*]}")) " | sed 's/^-A /-D /' |
            while read -r rule; do eval "$ipt -t $t $rule" || true; done || true
        for c in "${chains[@]}"; do $ipt -t "$t" -F "$c" 2>/dev/null || true; done
        for c in "${chains[@]}"; do $ipt -t "$t" -X "$c" 2>/dev/null || true; done
        log "$ipt -t $t: removed ${#chains[@]} chains"
    done
done

# Tables (nf_tables backend) that did not exist before up.sh and now hold nothing: deleted.
if [[ -f $STATE/iptables-tables.before ]] && command -v nft >/dev/null; then
    for ipt in iptables ip6tables; do
        family=ip; [[ $ipt == ip6tables ]] && family=ip6
        for t in $($ipt-save 2>/dev/null | awk '/^\*/ {print substr($0, 2)}'); do
            grep -qx "$ipt $t" "$STATE/iptables-tables.before" && continue
            [[ -z $($ipt -t "$t" -S | grep -v '^-P ') ]] || continue
            nft delete table "$family" "$t" 2>/dev/null && log "$ipt: removed empty table $t"
        done
    done
fi

# --- sysctls back as they were ------------------------------------------------------------------
if [[ -f $STATE/sysctl.saved ]]; then
    while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null || log "could not restore $kv"; done \
        <"$STATE/sysctl.saved"
fi

# --- paths the components created outside the state dir, then the state dir --------------------
if [[ -f $STATE/foreign-paths.absent ]]; then
    while IFS= read -r p; do
        [[ -n $p && -e $p ]] || continue
        # never remove what still holds a mount
        real=$(realpath "$p")
        if findmnt -rn -o TARGET | awk -v s="$real" 'index($0, s) == 1 {found = 1} END {exit !found}'; then
            log "leaving $p: something is mounted there"
            continue
        fi
        rm -rf "$p" || log "could not remove $p"
        log "removed $p"
    done <"$STATE/foreign-paths.absent"
fi
if [[ -d $STATE ]]; then
    rm -rf "$STATE"
    log "removed $STATE"
fi
log "cluster down in $((SECONDS - t0)) s (logs kept in $LOGS_KEPT)"
