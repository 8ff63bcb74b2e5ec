#!/usr/bin/env bash
# AdminServer answers of a leader and a follower: a three-peer ensemble of Apache ZooKeeper 3.8
# (Debian's jars), and the same for zab-node once it runs ensembles, compared as run.sh does.
# Several commands answer differently outside standalone mode (leader, zabstate, voting_view,
# observers, srvr/stats with proposal_stats, mntr with peer_state, quorum_size, learners ...).
#
#   e2e/admin/ensemble.sh [--zab-bin PATH] [--only-zk] [--update-reference] [--all-diffs] [--keep]
#
#   --zab-bin PATH       zab-node binary (default: target/release/zab-node under the repo root)
#   --only-zk            run ZooKeeper only and print the structure seen on the leader and on a
#                        follower
#   --update-reference   also rewrite e2e/admin/zookeeper-3.8-ensemble-structure.txt and
#                        e2e/admin/zookeeper-3.8-ensemble-sample/{leader,follower}/
#   --all-diffs          list every difference (default: at most 40 lines per request)
#   --keep               keep the work directory
#
# Peers 1, 2, 3 on 127.0.0.1, each with its own client, admin, quorum and election port and the
# zoo.cfg of run.sh plus server.1..3 lines (myid in each dataDir). When every peer answers ruok
# and /commands/leader names one leader, session.py builds its state through the leader, and
# fetch.py fetches every request from the leader and from the follower with the lowest id.
# Output, counting and exit status as run.sh (`admin: N passed, M failed`; labels prefixed with
# leader: and follower:). Every process started here is stopped by its pid.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZAB_BIN="$ROOT/target/release/zab-node"
ONLY_ZK=0
UPDATE_REF=0
KEEP=0
MAX_LINES=40

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=${2:?--zab-bin needs a path}; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --only-zk) ONLY_ZK=1; shift ;;
        --update-reference) UPDATE_REF=1; shift ;;
        --all-diffs) MAX_LINES=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "ensemble.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=lib.sh
. "$HERE/lib.sh"
admin_init

PEERS=(1 2 3)

# run_ensemble TARGET: starts the peers in $WORK/TARGET/peerN, builds the state through the
# leader, fetches into $WORK/TARGET/leader and $WORK/TARGET/follower, stops everything.
run_ensemble() {
    local target=$1 dir="$WORK/$1" rc=0 t0=$SECONDS i servers="" ports
    local -a client admin pid role
    mkdir -p "$dir"
    mapfile -t ports < <(free_ports $((4 * ${#PEERS[@]})))
    for i in "${PEERS[@]}"; do
        client[i]=${ports[4 * (i - 1)]}
        admin[i]=${ports[4 * (i - 1) + 1]}
        servers+="server.$i=127.0.0.1:${ports[4 * (i - 1) + 2]}:${ports[4 * (i - 1) + 3]}"$'\n'
    done
    for i in "${PEERS[@]}"; do
        mkdir -p "$dir/peer$i/data"
        echo "$i" >"$dir/peer$i/data/myid"
        write_admin_cfg "$dir/peer$i/zoo.cfg" "${client[i]}" "${admin[i]}" "$dir/peer$i/data"
        printf '%s' "$servers" >>"$dir/peer$i/zoo.cfg"
    done
    for i in "${PEERS[@]}"; do
        spawn_server "$target" "$dir/peer$i/zoo.cfg" "$dir/peer$i/server.log"
        pid[i]=$SERVER_PID
    done
    for i in "${PEERS[@]}"; do
        if ! wait_client_port "$target peer $i" "${client[i]}" "${pid[i]}" ||
            ! wait_admin "$target peer $i" "${admin[i]}" "${pid[i]}"; then
            tail -n 30 "$dir/peer$i/server.log" >&2 || true
            rc=1
            break
        fi
    done
    if [[ $rc -eq 0 ]]; then
        local bases=()
        for i in "${PEERS[@]}"; do bases+=("http://127.0.0.1:${admin[i]}"); done
        local roles=""
        roles=$("$PY" "$HERE/fetch.py" roles "${bases[@]}" --deadline "$READY_SECS") || true
        mapfile -t role <<<"$roles"
        if [[ -z $roles || ${#role[@]} -ne ${#PEERS[@]} ]]; then
            log "$target: the peers did not agree on one leader"
            rc=1
        fi
    fi
    if [[ $rc -eq 0 ]]; then
        local leader="" follower="" n
        for n in "${!role[@]}"; do
            i=${PEERS[n]}
            [[ ${role[n]} == leader ]] && leader=$i
            [[ ${role[n]} == follower && -z $follower ]] && follower=$i
        done
        log "$target: leader peer $leader, follower peer $follower"
        start_session "$target" "${client[leader]}" "$dir" || rc=1
        fetch_fourlw "$target leader" "${client[leader]}" "$dir/fourlw/leader" || rc=1
        fetch_fourlw "$target follower" "${client[follower]}" "$dir/fourlw/follower" || rc=1
        fetch_all "$target leader" "${admin[leader]}" "$dir/leader" || rc=1
        fetch_all "$target follower" "${admin[follower]}" "$dir/follower" || rc=1
        stop_pid "$SPID"
    fi
    for i in "${PEERS[@]}"; do
        if ! kill -0 "${pid[i]}" 2>/dev/null; then
            log "$target peer $i was no longer running at the end"
            rc=1
        fi
    done
    for i in "${PEERS[@]}"; do stop_pid "${pid[i]}"; done
    ensure_index "$dir/leader"
    ensure_index "$dir/follower"
    log "$target: $((SECONDS - t0))s"
    return $rc
}

write_reference() {
    local out="$WORK/zookeeper" r version
    version=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$out/leader/monitor.json")
    {
        echo "# AdminServer answers of Apache ZooKeeper $version in a three-peer ensemble"
        echo "# (Debian's jars, peers 1..3 on 127.0.0.1), as normalised by e2e/admin/structure.py."
        echo "# Regenerate: e2e/admin/ensemble.sh --only-zk --update-reference"
        echo "# Format as zookeeper-3.8-structure.txt (standalone); state from e2e/admin/session.py,"
        echo "# whose session is connected to the leader. Raw answers: zookeeper-3.8-ensemble-sample/."
        for r in leader follower; do
            echo
            echo "######## $r"
            "$PY" "$HERE/structure.py" show "$out/$r"
        done
    } >"$HERE/zookeeper-3.8-ensemble-structure.txt"
    rm -rf "$HERE/zookeeper-3.8-ensemble-sample"
    for r in leader follower; do
        mkdir -p "$HERE/zookeeper-3.8-ensemble-sample/$r"
        cp "$out/$r"/* "$HERE/zookeeper-3.8-ensemble-sample/$r/"
    done
    log "wrote $HERE/zookeeper-3.8-ensemble-structure.txt and $HERE/zookeeper-3.8-ensemble-sample/"
}

zk_rc=0
run_ensemble zookeeper || zk_rc=$?
if [[ $zk_rc -ne 0 ]]; then
    log "the reference run against ZooKeeper failed (--keep keeps the logs)"
    exit 2
fi
if [[ $UPDATE_REF -eq 1 ]]; then write_reference; fi

if [[ $ONLY_ZK -eq 1 ]]; then
    for r in leader follower; do
        echo "######## $r"
        "$PY" "$HERE/structure.py" show "$WORK/zookeeper/$r"
    done
    exit 0
fi

zab_rc=0
if [[ ! -x $ZAB_BIN ]]; then
    log "zab-node binary not found or not executable: $ZAB_BIN"
    ensure_index "$WORK/zab/leader"
    ensure_index "$WORK/zab/follower"
    zab_rc=1
else
    run_ensemble zab || zab_rc=$?
fi

cmp_rc=0
"$PY" "$HERE/structure.py" compare "$WORK/zookeeper/leader" "$WORK/zab/leader" \
    "$WORK/zookeeper/follower" "$WORK/zab/follower" --names zookeeper,zab --strict-numbers \
    --max-lines "$MAX_LINES" || cmp_rc=$?
"$PY" "$HERE/fourlw.py" compare "$WORK/zookeeper/fourlw/leader" "$WORK/zab/fourlw/leader" \
    "$WORK/zookeeper/fourlw/follower" "$WORK/zab/fourlw/follower" --names zookeeper,zab \
    --max-lines "$MAX_LINES" || cmp_rc=$((cmp_rc > 0 ? cmp_rc : $?))
if [[ $zab_rc -ne 0 ]]; then
    log "the zab-node run failed (--keep keeps the logs)"
fi
if [[ $cmp_rc -eq 2 ]]; then
    exit 2
fi
if [[ $cmp_rc -ne 0 || $zab_rc -ne 0 ]]; then
    exit 1
fi
exit 0
