#!/usr/bin/env bash
# run.sh — differential interop run: Apache ZooKeeper 3.8 first, then zab-node.
#
#   run.sh --zab-bin PATH [--out DIR]    both servers; zab-node must print the
#                                        same normalised output as ZooKeeper
#   run.sh --only-zk [--out DIR]         ZooKeeper only (develop the checks)
#   run.sh --only-zk --self-check        ZooKeeper twice, diffed: proves the
#                                        checks print the same text every run
#
# Each server gets a fresh mktemp dataDir, a free 127.0.0.1 port and the same
# zoo.cfg keys (standalone, admin server off, all four-letter words,
# extended types on). ZooKeeper runs from the Debian jars as
# `java -Dzookeeper.extendedTypesEnabled=true ... QuorumPeerMain zoo.cfg`;
# zab-node runs as `zab-node zoo.cfg`, where the same property is the
# zoo.cfg key zookeeper.extendedTypesEnabled=true. Readiness is polled with
# `ruok` against a deadline. kazoo_check.py and cli_check.sh run against
# each server; their outputs go to DIR/<target>.{kazoo,cli}.txt (stderr and
# server logs beside them) and are diffed against ZooKeeper's. Every server
# started here is stopped by its pid on exit. Exit status 0 only if every
# check passed against every server and nothing differs.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
ZK_JVM_ARGS=(-Dzookeeper.extendedTypesEnabled=true)
CHECK_SECS=${CHECK_SECS:-300}

ZAB_BIN=""
only_zk=0
self_check=0
out=""
while [ $# -gt 0 ]; do
    case $1 in
        --zab-bin) ZAB_BIN=${2:?--zab-bin needs a path}; shift 2 ;;
        --only-zk) only_zk=1; shift ;;
        --self-check) self_check=1; shift ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
need_zab_bin "$only_zk"
out_and_scratch zab-interop

# start TARGET: start the server for TARGET (zk, zk2, zab); sets PID and PORT.
start() {
    local target=$1 dir rc=0
    dir=$(mktemp -d "$scratch/$target.XXXXXX")
    mkdir -p "$dir/data"
    PORT=$(free_port)
    write_zoo_cfg "$dir/zoo.cfg" "$PORT" "$dir/data" maxClientCnxns=60 admin.enableServer=false \
        zookeeper.extendedTypesEnabled=true
    cp "$dir/zoo.cfg" "$out/$target.zoo.cfg"
    : >"$out/$target.server.log"
    spawn_server "$target" "$dir/zoo.cfg" "$out/$target.server.log"
    PID=$SERVER_PID
    echo "[$target] pid $PID on 127.0.0.1:$PORT, dataDir $dir/data"
    poll_ready "$PORT" "$PID" || rc=$?
    [ "$rc" -eq 1 ] && echo "server pid $PID exited during start-up" >&2
    [ "$rc" -eq 2 ] && echo "server on port $PORT not ready after ${READY_SECS}s" >&2
    return $rc
}

# check TARGET: start, run both checks, stop. Returns non-zero if a check failed.
check() {
    local target=$1 rc=0
    if ! start "$target"; then
        echo "[$target] FAILED to start; log: $out/$target.server.log"
        return 1
    fi
    # each check is bounded: a server that never answers cannot hang the run
    timeout "$CHECK_SECS" "$PY" "$here/kazoo_check.py" "127.0.0.1:$PORT" \
        >"$out/$target.kazoo.txt" 2>"$out/$target.kazoo.err" || rc=1
    echo "[$target] $(tail -n 1 "$out/$target.kazoo.txt")"
    timeout "$CHECK_SECS" "$here/cli_check.sh" "127.0.0.1:$PORT" \
        >"$out/$target.cli.txt" 2>"$out/$target.cli.err" || rc=1
    echo "[$target] $(tail -n 1 "$out/$target.cli.txt")"
    stop_pid "$PID"
    return $rc
}

# compare TARGET: diff TARGET's outputs against ZooKeeper's.
compare() {
    local target=$1 what rc=0
    for what in kazoo cli; do
        if diff -u "$out/zk.$what.txt" "$out/$target.$what.txt" >"$out/$target.$what.diff"; then
            echo "[$target] $what output identical to ZooKeeper"
            rm -f "$out/$target.$what.diff"
        else
            echo "[$target] $what output DIFFERS from ZooKeeper ($(grep -c '^[-+][^-+]' "$out/$target.$what.diff") lines): $out/$target.$what.diff"
            head -n 40 "$out/$target.$what.diff" | sed 's/^/    /'
            rc=1
        fi
    done
    return $rc
}

status=0
targets=(zk)
[ "$self_check" -eq 1 ] && targets+=(zk2)
[ "$only_zk" -eq 0 ] && targets+=(zab)
for t in "${targets[@]}"; do
    check "$t" || status=1
    if [ "$t" != zk ]; then compare "$t" || status=1; fi
done
echo "outputs in $out"
if [ "$status" -eq 0 ]; then echo "interop: PASS"; else echo "interop: FAIL"; fi
exit $status
