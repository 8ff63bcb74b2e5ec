#!/usr/bin/env bash
# AdminServer conformance: the HTTP commands of Apache ZooKeeper 3.8 (Debian's jars, Jetty) and of
# zab-node, compared by HTTP status, Content-Type and the key/type structure of the JSON.
#
#   e2e/admin/run.sh [--zab-bin PATH] [--only-zk] [--update-reference] [--all-diffs] [--keep]
#
#   --zab-bin PATH       zab-node binary (default: target/release/zab-node under the repo root)
#   --only-zk            run against ZooKeeper only and print its structure for every request
#   --update-reference   also rewrite e2e/admin/zookeeper-3.8-structure.txt and
#                        e2e/admin/zookeeper-3.8-sample/ from this ZooKeeper run
#   --all-diffs          list every difference (default: at most 40 lines per request)
#   --keep               keep the work directory (zoo.cfg, data dirs, logs, fetched answers)
#
# Each server gets a fresh dataDir, a free 127.0.0.1 client port and a free 127.0.0.1 admin port,
# and the same zoo.cfg (admin.enableServer=true, admin.serverAddress=127.0.0.1,
# admin.serverPort=<port>, 4lw.commands.whitelist=*). session.py then builds a small fixed state
# and holds its session (ephemeral, watches) while fetch.py sends every request; structure.py
# compares the answers. Exit status: 0 everything matched; 1 a difference or a failed zab-node
# run; 2 the harness failed (ZooKeeper did not start, kazoo missing, ...). Everything listens on
# 127.0.0.1 only; every process started here is stopped by its pid.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZAB_BIN="$ROOT/target/release/zab-node"
ONLY_ZK=0
UPDATE_REF=0
KEEP=0
MAX_LINES=40

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=${2:?--zab-bin needs a path}; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --only-zk) ONLY_ZK=1; shift ;;
        --update-reference) UPDATE_REF=1; shift ;;
        --all-diffs) MAX_LINES=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=lib.sh
. "$HERE/lib.sh"
admin_init

# run_against TARGET: starts the server in $WORK/TARGET, builds the state, fetches every request
# into $WORK/TARGET/out, stops everything. The out directory always gets a responses.tsv (header
# only when nothing could be fetched). Returns non-zero if a step failed.
run_against() {
    local target=$1 dir="$WORK/$1" port admin_port rc=0 t0=$SECONDS
    mkdir -p "$dir/data" "$dir/out"
    { read -r port; read -r admin_port; } < <(free_ports 2)
    write_admin_cfg "$dir/zoo.cfg" "$port" "$admin_port" "$dir/data"
    spawn_server "$target" "$dir/zoo.cfg" "$dir/server.log"
    local pid=$SERVER_PID
    if ! wait_client_port "$target" "$port" "$pid" || ! wait_admin "$target" "$admin_port" "$pid"; then
        tail -n 30 "$dir/server.log" >&2 || true
        rc=1
    else
        # without the session the answers still show what the server does: fetch anyway
        start_session "$target" "$port" "$dir" || rc=1
        fetch_fourlw "$target" "$port" "$dir/fourlw" || rc=1
        fetch_all "$target" "$admin_port" "$dir/out" || rc=1
        stop_pid "$SPID"
    fi
    if kill -0 "$pid" 2>/dev/null; then
        stop_pid "$pid"
    else
        log "$target: server was no longer running at the end"
        rc=1
    fi
    ensure_index "$dir/out"
    log "$target: $((SECONDS - t0))s"
    return $rc
}

# write_reference: the normalised structure and the raw answers of this ZooKeeper run, into e2e/admin/.
write_reference() {
    local out="$WORK/zookeeper/out" version
    version=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$out/monitor.json")
    {
        echo "# AdminServer answers of Apache ZooKeeper $version"
        echo "# (Debian's jars, standalone, Jetty), as normalised by e2e/admin/structure.py."
        echo "# Regenerate: e2e/admin/run.sh --only-zk --update-reference"
        echo "# Per request: '== LABEL  METHOD PATH -> STATUS CONTENT-TYPE  [CHECK]', then one line per key"
        echo "# path: 'a/b' nests, '[]' is an array element (all elements merged), '<...>' stands for"
        echo "# keys that are data (session ids, paths, times, property names), number(int|float) is"
        echo "# the literal ZooKeeper wrote, '= \"...\"' is a value that run.sh compares (command, error)."
        echo "# The state behind it: e2e/admin/session.py; raw answers: zookeeper-3.8-sample/."
        "$PY" "$HERE/structure.py" show "$out"
    } >"$HERE/zookeeper-3.8-structure.txt"
    rm -rf "$HERE/zookeeper-3.8-sample"
    mkdir -p "$HERE/zookeeper-3.8-sample"
    cp "$out"/* "$HERE/zookeeper-3.8-sample/"
    log "wrote $HERE/zookeeper-3.8-structure.txt and $HERE/zookeeper-3.8-sample/"
}

zk_rc=0
run_against zookeeper || zk_rc=$?
if [[ $zk_rc -ne 0 ]]; then
    log "the reference run against ZooKeeper failed (logs: $WORK/zookeeper; --keep keeps them)"
    exit 2
fi
if [[ $UPDATE_REF -eq 1 ]]; then write_reference; fi

if [[ $ONLY_ZK -eq 1 ]]; then
    "$PY" "$HERE/structure.py" show "$WORK/zookeeper/out"
    exit 0
fi

zab_rc=0
if [[ ! -x $ZAB_BIN ]]; then
    log "zab-node binary not found or not executable: $ZAB_BIN"
    ensure_index "$WORK/zab/out"
    zab_rc=1
else
    run_against zab || zab_rc=$?
fi

cmp_rc=0
"$PY" "$HERE/structure.py" compare "$WORK/zookeeper/out" "$WORK/zab/out" --names zookeeper,zab \
    --strict-numbers --max-lines "$MAX_LINES" || cmp_rc=$?
"$PY" "$HERE/fourlw.py" compare "$WORK/zookeeper/fourlw" "$WORK/zab/fourlw" --names zookeeper,zab \
    --max-lines "$MAX_LINES" || cmp_rc=$((cmp_rc > 0 ? cmp_rc : $?))
if [[ $zab_rc -ne 0 ]]; then
    log "the zab-node run failed (logs: $WORK/zab; --keep keeps them)"
fi
if [[ $cmp_rc -eq 2 ]]; then
    exit 2
fi
if [[ $cmp_rc -ne 0 || $zab_rc -ne 0 ]]; then
    exit 1
fi
exit 0
