#!/usr/bin/env bash
# Differential conformance run: the same scripted client session (Conformance.java) against a fresh
# Apache ZooKeeper 3.8 (Debian's jars) and against a fresh zab-node, then the sessions-across-members
# scenarios (EnsembleScenarios.java) against three ZooKeeper peers and three zab-node peers; then a
# per-scenario diff of the two transcripts.
#
#   e2e/conformance/run.sh [--zab-bin PATH] [--only-zk] [--scenarios a,b,...] [--no-ensemble] [--keep]
#
#   --zab-bin PATH   zab-node binary (default: target/release/zab-node under the repo root)
#   --only-zk        run against ZooKeeper only and print its transcript
#   --scenarios L    run only the named scenarios (comma separated; names as in the transcript)
#   --no-ensemble    skip the three-peer phase
#   --keep           keep the work directory (configs, data dirs, logs, transcripts)
#
# Exit status: 0 all scenarios matched; 1 a difference or a failed zab-node run; 2 the harness
# itself failed (no javac, ZooKeeper did not start, the ZooKeeper transcript has an abort).
# Everything listens on 127.0.0.1 only; every process started here is stopped by its pid.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZAB_BIN="$ROOT/target/release/zab-node"
ONLY_ZK=0
KEEP=0
SCENARIOS=""
ENSEMBLE=1

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=$2; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --only-zk) ONLY_ZK=1; shift ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --scenarios=*) SCENARIOS=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        --no-ensemble) ENSEMBLE=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
FOURLW_SECS=2
READY_OPEN_SECS=5   # a server without four-letter words: going ahead once its port accepts for 5 s
CLIENT_DEADLINE_S=600

WORK=$(mktemp -d /tmp/zab-conformance.XXXXXX)
on_exit 'remove_work "$KEEP"'

require_tools java javac "$PY"
require_jars "apt-get install zookeeper libslf4j-java" \
    zookeeper.jar zookeeper-jute.jar slf4j-nop.jar slf4j-simple.jar

# ---- compile the client program
mkdir -p "$WORK/classes"
if ! javac -nowarn -d "$WORK/classes" -cp "$ZK_CLIENT_CP" "$HERE/Conformance.java" "$HERE/EnsembleScenarios.java" \
    2>"$WORK/javac.log"; then
    cat "$WORK/javac.log" >&2
    log "Conformance.java does not compile"
    exit 2
fi

# run_against NAME: starts the server in $WORK/NAME, runs the script, stops the server.
# Leaves the transcript in $WORK/NAME.txt. Returns non-zero if the server or the client failed.
run_against() {
    local name=$1 dir="$WORK/$1" port pid rc=0 t0=$SECONDS
    mkdir -p "$dir/data"
    port=$(free_port)
    write_zoo_cfg "$dir/zoo.cfg" "$port" "$dir/data" admin.enableServer=false maxClientCnxns=60 \
        minSessionTimeout=2000 maxSessionTimeout=20000
    # JVM system properties of ZooKeeper, zoo.cfg keys of zab-node
    spawn_server "$name" "$dir/zoo.cfg" "$dir/server.log" \
        zookeeper.extendedTypesEnabled=true \
        znode.container.checkIntervalMs=100 \
        "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST"
    pid=$SERVER_PID
    if ! wait_ready "$name" "$port" "$pid"; then
        tail -n 30 "$dir/server.log" >&2 || true
        : >"$WORK/$name.txt"
        rc=1
    else
        local args=("127.0.0.1:$port")
        [[ -n $SCENARIOS ]] && args+=("$SCENARIOS")
        timeout "$CLIENT_DEADLINE_S" java -cp "$WORK/classes:$ZK_CLIENT_CP" Conformance "${args[@]}" \
            >"$WORK/$name.txt" 2>"$dir/client.log" || rc=$?
        case $rc in
            0) ;;
            3) log "$name: some scenarios aborted (a step timed out; details in $dir/client.log)" ;;
            124) log "$name: the client run exceeded ${CLIENT_DEADLINE_S}s and was stopped" ;;
            *) log "$name: client exited with status $rc (see $dir/client.log)" ;;
        esac
    fi
    if kill -0 "$pid" 2>/dev/null; then
        stop_pid "$pid"
    else
        log "$name: server was no longer running at the end"
        rc=1
    fi
    log "$name: $((SECONDS - t0))s"
    return $rc
}

# run_ensemble NAME: three peers of NAME (zab or ZooKeeper) in $WORK/NAME-ensemble/peerN, the
# zoo.cfg of run_against plus server.1..3 lines (myid in each dataDir); once each answers srvr
# with a Zxid, runs the ensemble scenarios and appends their transcript to $WORK/NAME.txt; stops
# the peers by pid. Returns non-zero if a peer or the client failed.
run_ensemble() {
    local name=$1 dir="$WORK/$1-ensemble" rc=0 t0=$SECONDS i servers="" members="" ports
    local -a client pid
    mapfile -t ports < <(free_ports 9)
    for i in 1 2 3; do
        client[i]=${ports[3 * (i - 1)]}
        servers+="server.$i=127.0.0.1:${ports[3 * (i - 1) + 1]}:${ports[3 * (i - 1) + 2]}"$'\n'
        members+="${members:+,}127.0.0.1:${client[i]}"
    done
    for i in 1 2 3; do
        mkdir -p "$dir/peer$i/data"
        echo "$i" >"$dir/peer$i/data/myid"
        write_zoo_cfg "$dir/peer$i/zoo.cfg" "${client[i]}" "$dir/peer$i/data" admin.enableServer=false \
            maxClientCnxns=60 minSessionTimeout=2000 maxSessionTimeout=20000
        printf '%s' "$servers" >>"$dir/peer$i/zoo.cfg"
        spawn_server "$name" "$dir/peer$i/zoo.cfg" "$dir/peer$i/server.log" \
            "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST"
        pid[i]=$SERVER_PID
    done
    local READY_ZXID=1
    for i in 1 2 3; do
        if ! wait_ready "$name peer $i" "${client[i]}" "${pid[i]}"; then
            tail -n 30 "$dir/peer$i/server.log" >&2 || true
            rc=1
        fi
    done
    if [[ $rc -eq 0 ]]; then
        local args=(--ensemble "$members")
        [[ -n $SCENARIOS ]] && args+=("$SCENARIOS")
        CONFORMANCE_PIDS="${pid[1]},${pid[2]},${pid[3]}" CONFORMANCE_KILLED="$dir/stopped-by-script" \
            timeout "$CLIENT_DEADLINE_S" java -cp "$WORK/classes:$ZK_CLIENT_CP" Conformance "${args[@]}" \
            >>"$WORK/$name.txt" 2>"$dir/client.log" || rc=$?
        case $rc in
            0) ;;
            3) log "$name ensemble: some scenarios aborted (details in $dir/client.log)" ;;
            *) log "$name ensemble: client exited with status $rc (see $dir/client.log)" ;;
        esac
    fi
    for i in 1 2 3; do
        # ensemble_member_dies stops one peer on purpose and says which.
        if ! kill -0 "${pid[i]}" 2>/dev/null && ! grep -qx "${pid[i]}" "$dir/stopped-by-script" 2>/dev/null; then
            log "$name ensemble: peer $i was no longer running at the end"
            rc=1
        fi
        stop_pid "${pid[i]}"
    done
    log "$name ensemble: $((SECONDS - t0))s"
    return $rc
}

# Splits a transcript into one file per scenario (DIR/NAME), prints the scenario names.
split_scenarios() {
    local file=$1 dir=$2
    mkdir -p "$dir"
    awk -v dir="$dir" '
        /^## / { name = substr($0, 4); if (name == "end") { out = ""; next } out = dir "/" name; print name; printf "" > out; next }
        out != "" { print >> out }
    ' "$file"
}

zk_rc=0
run_against zookeeper || zk_rc=$?
if [[ $zk_rc -eq 0 && $ENSEMBLE -eq 1 ]]; then
    run_ensemble zookeeper || zk_rc=$?
fi
if grep -q '^!! aborted' "$WORK/zookeeper.txt"; then
    grep -B3 '^!! aborted' "$WORK/zookeeper.txt" >&2
    log "the script aborted against ZooKeeper itself: the suite is broken"
    zk_rc=2
fi

if [[ $ONLY_ZK -eq 1 ]]; then
    cat "$WORK/zookeeper.txt"
    [[ $zk_rc -eq 0 ]] || exit 2
    exit 0
fi
if [[ $zk_rc -ne 0 ]]; then
    log "reference run against ZooKeeper failed"
    exit 2
fi

zab_rc=0
if [[ ! -x $ZAB_BIN ]]; then
    log "zab-node binary not found or not executable: $ZAB_BIN"
    : >"$WORK/zab.txt"
    zab_rc=1
else
    run_against zab || zab_rc=$?
    if [[ $ENSEMBLE -eq 1 ]]; then
        run_ensemble zab || zab_rc=$?
    fi
fi

if [[ -s "$WORK/zab.txt" ]]; then
    diff -u --label zookeeper --label zab "$WORK/zookeeper.txt" "$WORK/zab.txt" || true
else
    log "no transcript from zab-node; every scenario counts as different"
fi

mapfile -t names < <(split_scenarios "$WORK/zookeeper.txt" "$WORK/split-zookeeper")
split_scenarios "$WORK/zab.txt" "$WORK/split-zab" >/dev/null
for n in "${names[@]}"; do
    if [[ -f "$WORK/split-zab/$n" ]] && cmp -s "$WORK/split-zookeeper/$n" "$WORK/split-zab/$n"; then
        echo "  match     $n"
        tally 0
    else
        echo "  DIFFERENT $n"
        tally 1
    fi
done
if [[ $zab_rc -ne 0 ]]; then
    log "the zab-node run failed (status $zab_rc)"
fi
summary conformance
if [[ $FAILED -ne 0 || $zab_rc -ne 0 ]]; then
    exit 1
fi
exit 0
