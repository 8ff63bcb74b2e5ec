#!/usr/bin/env bash
# Real client libraries, unchanged, against a three-member Apache ZooKeeper 3.8 ensemble and a
# three-member zab-node ensemble (all on 127.0.0.1), diffed: Apache Curator's recipes
# (CuratorMain) and a Kafka 3.9 broker in ZooKeeper mode (kafka.sh).
#
#   e2e/clients/run.sh [--zab-bin PATH] [--only-zk] [--suites curator,kafka] [--scenarios a,b] [--keep]
#
#   --zab-bin PATH   zab-node binary (default: target/release/zab-node under the repo root)
#   --only-zk        run against ZooKeeper only and print its transcripts
#   --suites L       curator, kafka or both (default)
#   --scenarios L    only these Curator scenarios (names as in the transcript)
#   --keep           keep the work directory (configs, data dirs, server/broker/client logs)
#
# For each server: start the ensemble (ensemble.sh), run the Curator scenarios, then the Kafka
# scenario (which kills the ensemble's leader with kill -9 and restarts it), stop everything. Then
# per scenario: "match" when both transcripts are the same and ZooKeeper's has no "!!" line (a
# failed check or an abort), else "DIFFERENT" with the diff. Ends with the lines
# `curator: N passed, M failed` and `kafka: N passed, M failed`.
# The client programs are built with Maven (pom.xml here; artifacts cached in ~/.m2, jars copied to
# */target/lib). Exit status: 0 all matched; 1 a difference or a failed zab run; 2 the harness failed
# (no java/mvn, the build failed, ZooKeeper did not start). Every process started here is stopped
# by its pid, also on failure (the exit trap of ../lib.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZAB_BIN="$ROOT/target/release/zab-node"
ONLY_ZK=0
KEEP=0
SUITES="curator,kafka"
SCENARIOS=""

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=${2:?--zab-bin needs a path}; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --only-zk) ONLY_ZK=1; shift ;;
        --suites) SUITES=${2:?--suites needs a list}; shift 2 ;;
        --scenarios) SCENARIOS=${2:?--scenarios needs a list}; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# shellcheck source=ensemble.sh
. "$HERE/ensemble.sh"
# shellcheck source=kafka.sh
. "$HERE/kafka.sh"
ZK_JVM_ARGS=(-Xmx256m)
FOURLW_SECS=2
CURATOR_DEADLINE_S=${CURATOR_DEADLINE_S:-1200}

WORK=$(mktemp -d /tmp/zab-clients.XXXXXX)
on_exit 'remove_work "$KEEP"'
require_tools java mvn "$PY"
require_jars "apt-get install zookeeper libslf4j-java" zookeeper.jar zookeeper-jute.jar slf4j-simple.jar
[[ $ONLY_ZK -eq 1 ]] || need_zab_bin

has_suite() { [[ ",$SUITES," == *",$1,"* ]]; }

echo "== building the client programs (Maven; Curator 5.9.0, Kafka 3.9.2)"
t0=$SECONDS
if ! mvn -q -B -f "$HERE/pom.xml" package >"$WORK/mvn.log" 2>&1; then
    tail -n 40 "$WORK/mvn.log" >&2
    log "the Maven build failed (full log: $WORK/mvn.log with --keep)"
    exit 2
fi
log "built in $((SECONDS - t0))s"
CURATOR_CP="$HERE/curator/target/classes:$HERE/curator/target/lib/*"

# run_curator KIND: the Curator scenarios against the running ensemble into $WORK/KIND/curator.txt.
run_curator() {
    local kind=$1 rc=0 t0=$SECONDS args=("$(connect_string)")
    [[ -n $SCENARIOS ]] && args+=("$SCENARIOS")
    timeout "$CURATOR_DEADLINE_S" java -Xmx512m -cp "$CURATOR_CP" zab.e2e.CuratorMain "${args[@]}" \
        >"$WORK/$kind/curator.txt" 2>"$WORK/$kind/curator-client.log" || rc=$?
    case $rc in
        0) ;;
        3) log "$kind: some Curator scenarios aborted (see $WORK/$kind/curator-client.log)" ;;
        124) log "$kind: the Curator run exceeded ${CURATOR_DEADLINE_S}s and was stopped" ;;
        *) log "$kind: CuratorMain exited with status $rc (see $WORK/$kind/curator-client.log)" ;;
    esac
    sed -n 's/^timing: //p' "$WORK/$kind/curator-client.log" | tr '\n' ',' | sed 's/,$//; s/,/, /g' |
        xargs -0 printf '%s: %s: Curator scenario times: %s\n' "${0##*/}" "$kind" >&2
    log "$kind: Curator scenarios took $((SECONDS - t0))s"
    return $rc
}

# run_against KIND: ensemble up, the suites, ensemble down. Non-zero if anything failed to run.
run_against() {
    local kind=$1 rc=0 t0=$SECONDS
    mkdir -p "$WORK/$kind"
    : >"$WORK/$kind/curator.txt"
    : >"$WORK/$kind/kafka.txt"
    if ! start_ensemble "$kind" "$WORK/$kind"; then
        stop_ensemble || true
        return 1
    fi
    log "$kind: ensemble up in $((SECONDS - t0))s, leader member $(leader_member)"
    if has_suite curator; then run_curator "$kind" || rc=1; fi
    if has_suite kafka; then run_kafka "$kind" "$WORK/$kind" >"$WORK/$kind/kafka.txt" || rc=1; fi
    stop_ensemble || rc=1
    log "$kind: $((SECONDS - t0))s in all"
    return $rc
}

# split_scenarios FILE DIR: one file per "## NAME" section in DIR; prints the names.
split_scenarios() {
    mkdir -p "$2"
    awk -v dir="$2" '
        /^## / { name = substr($0, 4); if (name == "end") { out = ""; next } out = dir "/" name; print name; printf "" > out; next }
        out != "" { print >> out }
    ' "$1"
}

# compare SUITE: match/DIFFERENT per scenario of SUITE, then "SUITE: N passed, M failed".
compare() {
    local suite=$1 n names
    PASSED=0 FAILED=0
    mapfile -t names < <(split_scenarios "$WORK/zookeeper/$suite.txt" "$WORK/split/zookeeper-$suite")
    split_scenarios "$WORK/zab/$suite.txt" "$WORK/split/zab-$suite" >/dev/null
    if [[ ${#names[@]} -eq 0 || -z ${names[0]} ]]; then
        log "$suite: no transcript from ZooKeeper"
        FAILED=1
    fi
    for n in "${names[@]}"; do
        [[ -n $n ]] || continue
        local zk="$WORK/split/zookeeper-$suite/$n" zab="$WORK/split/zab-$suite/$n"
        if grep -q '^!!' "$zk"; then
            echo "  BROKEN    $n (fails against ZooKeeper itself)"
            sed 's/^/    zookeeper| /' "$zk"
            tally 1
        elif [[ -f $zab ]] && cmp -s "$zk" "$zab"; then
            echo "  match     $n"
            tally 0
        else
            echo "  DIFFERENT $n"
            if [[ -f $zab ]]; then
                diff -u --label "zookeeper $n" --label "zab $n" "$zk" "$zab" | sed 's/^/    /' || true
            else
                echo "    (no transcript from zab)"
            fi
            tally 1
        fi
    done
    summary "$suite"
}

zk_rc=0
run_against zookeeper || zk_rc=$?
if [[ $ONLY_ZK -eq 1 ]]; then
    for s in curator kafka; do has_suite "$s" && cat "$WORK/zookeeper/$s.txt"; done
    exit $((zk_rc == 0 ? 0 : 2))
fi
if [[ $zk_rc -ne 0 ]]; then
    log "the reference run against ZooKeeper failed to run (its transcripts are still compared)"
fi
zab_rc=0
run_against zab || zab_rc=$?

status=0
for s in curator kafka; do
    has_suite "$s" || continue
    echo "== $s: ZooKeeper 3.8 vs zab-node"
    compare "$s"
    ((FAILED == 0)) || status=1
done
((zab_rc == 0)) || status=1
if ((zk_rc != 0 && status == 0)); then status=2; fi
exit $status
