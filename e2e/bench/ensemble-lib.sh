# ensemble-lib.sh — three-member ensembles for ensemble.sh and failover.sh (sourced, not run),
# on top of lib.sh (which brings e2e/lib.sh).
#
# Members 1..3 on 127.0.0.1 of one server kind at a time (zk: Apache ZooKeeper 3.8 from Debian's
# jars, java -Xmx$ZK_HEAP; zab: zab-node), each in $scratch/TARGET/peerN with its own client,
# quorum and election port, dataDir peerN/data holding myid. zoo.cfg is lib.sh's write_cfg
# (forceSync=yes, all four-letter words) with tickTime=ENS_TICK, initLimit=10, syncLimit=5 and the
# server.N=127.0.0.1:quorumPort:electionPort lines; a copy goes to $out/TARGET.peerN.zoo.cfg and
# the member's output to $out/TARGET.peerN.log (appended across restarts).
#
# State, indexed by member id: E_PORT (client port), E_PID (pid while running, empty after
# ens_kill9 / ens_stop), E_DIR (member directory), E_ADMIN (zab-node's admin port when
# ENS_ZAB_ADMIN=1, for POST /commands/handover; ZooKeeper's AdminServer stays off); E_TARGET
# names the kind. Every start goes
# through lib.sh's launch (so the pid is in PIDS and stopped at exit); a pid this file stops or
# kills is taken out of PIDS at once, so the exit trap never signals a recycled pid.

ENS_TICK=${ENS_TICK:-2000}
ENS_IDS=(1 2 3)
E_TARGET=""
E_PORT=()
E_PID=()
E_DIR=()
E_ADMIN=()

# forget_pid PID: removes PID from PIDS (it has been stopped and reaped).
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# ens_create TARGET: fresh member directories, ports and zoo.cfg files (nothing started).
ens_create() {
    local target=$1 i ports servers=()
    E_TARGET=$target
    mapfile -t ports < <(free_ports $((3 * ${#ENS_IDS[@]})))
    for i in "${ENS_IDS[@]}"; do
        E_PORT[i]=${ports[3 * (i - 1)]}
        servers+=("server.$i=127.0.0.1:${ports[3 * (i - 1) + 1]}:${ports[3 * (i - 1) + 2]}")
    done
    for i in "${ENS_IDS[@]}"; do
        E_DIR[i]=$scratch/$target/peer$i
        E_PID[i]=""
        write_cfg "${E_DIR[i]}" "${E_PORT[i]}"
        sed -i "s/^tickTime=.*/tickTime=$ENS_TICK/; s/^initLimit=.*/initLimit=10/; s/^syncLimit=.*/syncLimit=5/" \
            "${E_DIR[i]}/zoo.cfg"
        printf '%s\n' "${servers[@]}" >>"${E_DIR[i]}/zoo.cfg"
        if [ "${ENS_ZAB_ADMIN:-0}" = 1 ] && [ "$target" = zab ]; then
            E_ADMIN[i]=$(free_port)
            sed -i "s/^admin.enableServer=.*/admin.enableServer=true/" "${E_DIR[i]}/zoo.cfg"
            printf 'admin.serverAddress=127.0.0.1\nadmin.serverPort=%s\n' "${E_ADMIN[i]}" >>"${E_DIR[i]}/zoo.cfg"
        fi
        echo "$i" >"${E_DIR[i]}/data/myid"
        cp "${E_DIR[i]}/zoo.cfg" "$out/$target.peer$i.zoo.cfg"
        : >"$out/$target.peer$i.log"
    done
}

# ens_launch I: starts member I of E_TARGET on its zoo.cfg and dataDir (no waiting).
ens_launch() {
    local i=$1
    echo "=== start $(date '+%F %T.%N')" >>"$out/$E_TARGET.peer$i.log"
    launch "$E_TARGET" "${E_DIR[i]}" "$out/$E_TARGET.peer$i.log"
    E_PID[i]=$PID
}

# ens_mode I: member I's srvr "Mode:" (leader, follower, ...; empty while it does not serve).
ens_mode() { four_letter "${E_PORT[$1]}" srvr 1 | sed -n 's/^Mode: //p'; }

# ens_wait_serving [SECS]: waits (SECS, default READY_SECS) until every member reports a Mode
# and exactly one of them is the leader; sets ENS_LEADER (its id) and ENS_MODES ("1:follower
# 2:leader ..."). Status 1 if a member's process exited, 2 on time-out.
ens_wait_serving() {
    local deadline=$((SECONDS + ${1:-$READY_SECS})) i m leaders
    while ((SECONDS < deadline)); do
        ENS_MODES="" ENS_LEADER="" leaders=0
        for i in "${ENS_IDS[@]}"; do
            if [ -z "${E_PID[i]}" ] || ! kill -0 "${E_PID[i]}" 2>/dev/null; then
                echo "[$E_TARGET] member $i (pid ${E_PID[i]:-none}) is not running; log $out/$E_TARGET.peer$i.log" >&2
                return 1
            fi
            m=$(ens_mode "$i")
            ENS_MODES+="${ENS_MODES:+ }$i:${m:--}"
            [ "$m" = leader ] && { ENS_LEADER=$i; leaders=$((leaders + 1)); }
        done
        if [ "$leaders" -eq 1 ] && [[ $ENS_MODES != *:-* ]]; then
            return 0
        fi
        sleep 0.1
    done
    echo "[$E_TARGET] not serving after ${1:-$READY_SECS}s (modes: $ENS_MODES)" >&2
    return 2
}

# ens_start TARGET: ens_create, all three members launched together, ens_wait_serving; prints
# one line per member.
ens_start() {
    local i t0=$SECONDS
    ens_create "$1"
    for i in "${ENS_IDS[@]}"; do ens_launch "$i"; done
    ens_wait_serving || return 1
    for i in "${ENS_IDS[@]}"; do
        echo "[$E_TARGET] member $i: pid ${E_PID[i]} on 127.0.0.1:${E_PORT[i]}, $(ens_mode "$i"), dataDir ${E_DIR[i]}/data"
    done
    echo "[$E_TARGET] serving after $((SECONDS - t0))s, leader: member $ENS_LEADER"
}

# now_ns: the wall clock (CLOCK_REALTIME, as date +%s%N) in ns, without a fork.
now_ns() { echo "${EPOCHREALTIME//[.,]/}000"; }

# ens_kill9 I: kill -9 member I and reap it; KILL_NS is the time just before the signal, DEAD_NS
# just after the process was reaped (its sockets are closed by then). The two can be
# milliseconds apart on a busy machine, and the member may still answer in between.
ens_kill9() { ens_signal "$1" KILL; }

# ens_term I: SIGTERM member I (a graceful stop) and reap it; KILL_NS and DEAD_NS as ens_kill9.
ens_term() { ens_signal "$1" TERM; }

# ens_signal I SIG: sends SIG to member I, waits until it exited; sets KILL_NS and DEAD_NS.
ens_signal() {
    local i=$1 pid=${E_PID[$1]}
    KILL_NS=$(now_ns)
    kill "-$2" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    DEAD_NS=$(now_ns)
    forget_pid "$pid"
    E_PID[i]=""
    echo "=== signalled (SIG$2) $(date '+%F %T.%N')" >>"$out/$E_TARGET.peer$i.log"
}

# ens_handover I: zab-node only: POST /commands/handover to member I (the leader); KILL_NS just
# before the request, DEAD_NS once it answered (the old leader's epoch has ended: writes issued
# from then on count, as after a kill once the process is reaped), HANDED_TO the member that
# leads next. Status 1 if it was refused.
ens_handover() {
    local i=$1 answer
    KILL_NS=$(now_ns)
    answer=$(curl -s -m 60 -X POST "http://127.0.0.1:${E_ADMIN[i]}/commands/handover")
    DEAD_NS=$(now_ns)
    echo "=== handover $(date '+%F %T.%N'): $answer" >>"$out/$E_TARGET.peer$i.log"
    HANDED_TO=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1]).get("to") or "")' "$answer" 2>/dev/null)
    [ -n "$HANDED_TO" ] || { echo "[$E_TARGET] hand-over refused: $answer" >&2; return 1; }
}

# ens_stop: stops every running member by its pid (lib.sh's stop_pid).
ens_stop() {
    local i
    for i in "${ENS_IDS[@]}"; do
        [ -n "${E_PID[i]}" ] || continue
        stop_pid "${E_PID[i]}"
        forget_pid "${E_PID[i]}"
        E_PID[i]=""
    done
}

# ens_connect WHICH: the connect string of WHICH (a member id, or "all"); prints it.
ens_connect() {
    local i s=""
    if [ "$1" = all ]; then
        for i in "${ENS_IDS[@]}"; do s+="${s:+,}127.0.0.1:${E_PORT[i]}"; done
    else
        s=127.0.0.1:${E_PORT[$1]}
    fi
    echo "$s"
}
