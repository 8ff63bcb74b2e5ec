# shellcheck shell=bash
# ensemble.sh — three-member ensembles on 127.0.0.1 for the client-library suites (run.sh, kafka.sh);
# sourced after ../lib.sh, not run.
#
# start_ensemble KIND DIR starts members 1..3 of Apache ZooKeeper 3.8 (KIND zookeeper, Debian's
# jars) or zab-node (KIND zab) with one zoo.cfg each (myid in each dataDir, every four-letter word
# allowed, no AdminServer) and waits until each answers ruok and srvr shows a leader or follower
# mode with one leader among them. Ports: CLIENT[i]; pids: MEMBER_PID[i] (also in PIDS, so the exit
# trap of lib.sh stops them). Members are stopped and restarted only by pid, never by name.

MEMBERS=(1 2 3)
declare -a CLIENT=() MEMBER_PID=() MEMBER_CFG=() MEMBER_LOG=()
ENSEMBLE_KIND=""

# member_mode PORT: srvr's "Mode:" value (leader, follower, standalone; empty if no answer).
member_mode() { four_letter "$1" srvr | sed -n 's/^Mode: //p'; }

# connect_string: 127.0.0.1:PORT of every member, in myid order, comma separated.
connect_string() {
    local i out=""
    for i in "${MEMBERS[@]}"; do out+="${out:+,}127.0.0.1:${CLIENT[i]}"; done
    echo "$out"
}

# start_member I: starts member I of the current ensemble again (same zoo.cfg, same dataDir).
start_member() {
    spawn_server "$ENSEMBLE_KIND" "${MEMBER_CFG[$1]}" "${MEMBER_LOG[$1]}"
    MEMBER_PID[$1]=$SERVER_PID
}

# wait_quorum: every running member ready and in leader/follower mode, exactly one leader;
# READY_SECS at most. Members whose pid is 0 (killed on purpose) are skipped.
wait_quorum() {
    local deadline=$((SECONDS + READY_SECS)) i mode leaders
    for i in "${MEMBERS[@]}"; do
        [[ ${MEMBER_PID[i]} != 0 ]] || continue
        wait_ready "$ENSEMBLE_KIND member $i" "${CLIENT[i]}" "${MEMBER_PID[i]}" || return 1
    done
    while ((SECONDS < deadline)); do
        leaders=0
        local all=1
        for i in "${MEMBERS[@]}"; do
            [[ ${MEMBER_PID[i]} != 0 ]] || continue
            mode=$(member_mode "${CLIENT[i]}")
            case $mode in
                leader) leaders=$((leaders + 1)) ;;
                follower) ;;
                *) all=0 ;;
            esac
        done
        ((all == 1 && leaders == 1)) && return 0
        sleep 0.2
    done
    log "$ENSEMBLE_KIND: no single leader with every member following after ${READY_SECS}s"
    return 1
}

# leader_member: the I whose member says "Mode: leader" (empty if none does).
leader_member() {
    local i
    for i in "${MEMBERS[@]}"; do
        [[ ${MEMBER_PID[i]} != 0 ]] || continue
        [[ $(member_mode "${CLIENT[i]}") == leader ]] && { echo "$i"; return 0; }
    done
}

# start_ensemble KIND DIR: see the header.
start_ensemble() {
    local kind=$1 dir=$2 i servers="" ports
    ENSEMBLE_KIND=$kind
    mapfile -t ports < <(free_ports $((3 * ${#MEMBERS[@]})))
    for i in "${MEMBERS[@]}"; do
        CLIENT[i]=${ports[3 * (i - 1)]}
        servers+="server.$i=127.0.0.1:${ports[3 * (i - 1) + 1]}:${ports[3 * (i - 1) + 2]}"$'\n'
    done
    for i in "${MEMBERS[@]}"; do
        mkdir -p "$dir/member$i/data"
        echo "$i" >"$dir/member$i/data/myid"
        MEMBER_CFG[i]="$dir/member$i/zoo.cfg"
        MEMBER_LOG[i]="$dir/member$i/server.log"
        write_zoo_cfg "${MEMBER_CFG[i]}" "${CLIENT[i]}" "$dir/member$i/data" admin.enableServer=false \
            maxClientCnxns=0 minSessionTimeout=4000 maxSessionTimeout=40000
        printf '%s' "$servers" >>"${MEMBER_CFG[i]}"
    done
    for i in "${MEMBERS[@]}"; do start_member "$i"; done
    if ! wait_quorum; then
        for i in "${MEMBERS[@]}"; do
            log "member $i's log tail:"
            tail -n 20 "${MEMBER_LOG[i]}" >&2 || true
        done
        return 1
    fi
}

# stop_ensemble: stops every member still running (by pid); false if one had exited by itself.
stop_ensemble() {
    local i rc=0
    for i in "${MEMBERS[@]}"; do
        [[ ${MEMBER_PID[i]} != 0 ]] || continue
        if ! kill -0 "${MEMBER_PID[i]}" 2>/dev/null; then
            log "$ENSEMBLE_KIND member $i was no longer running at the end"
            rc=1
        fi
        stop_pid "${MEMBER_PID[i]}"
    done
    return $rc
}
