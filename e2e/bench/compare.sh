#!/usr/bin/env bash
# compare.sh — the same zab-load runs against Apache ZooKeeper 3.8 and zab-node.
#
#   compare.sh --zab-bin PATH [options] [-- ZAB-LOAD ARGS]
#   compare.sh --only-zk      [options] [-- ZAB-LOAD ARGS]
#
# Without ZAB-LOAD ARGS it runs the standard matrix, 10 s each:
#   read 100 B 1x1, read 100 B 16x32, write (setData) 100 B 1x1, write 100 B 16x32
# With them (e.g. `-- --op mixed --sessions 8 --outstanding 16 --duration 20`)
# it runs that one load; --connect and --label are added here.
#
#   --memory       instead: create 1,000,000 znodes of 100 B in each server
#                  (--znodes N to change) and report VmRSS/VmHWM of the server
#                  process from /proc/PID/status
#   --duration S   seconds per matrix run (default 10)
#   --warmup S     unmeasured load before each matrix run (default 2)
#   --load-bin P   zab-load binary (default: target/release/zab-load, built
#                  with `cargo build --release -p zab-load` if missing)
#   --out DIR      keep logs, configs and JSON lines there
#
# Servers run one after the other, never together (the machine has 2 cores):
# ZooKeeper (java -Xmx1g, Debian jars) on a free 127.0.0.1 port with a fresh
# dataDir, all its loads, stop; then zab-node the same way (`zab-node zoo.cfg`).
# Readiness is polled (`ruok`) against a deadline; every process started here
# is stopped by its pid on exit. Prints a side-by-side table at the end.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
FORCE_SYNC=""    # forceSync left to the servers' default
SHOW_DATADIR=0

ZAB_BIN=""
only_zk=0
memory=0
znodes=1000000
duration=10
warmup=2
load_bin=""
out=""
load_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --zab-bin) ZAB_BIN=${2:?}; shift 2 ;;
        --only-zk) only_zk=1; shift ;;
        --memory) memory=1; shift ;;
        --znodes) znodes=${2:?}; shift 2 ;;
        --duration) duration=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --load-bin) load_bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --) shift; load_args=("$@"); break ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
need_zab_bin "$only_zk"
if [ -z "$load_bin" ]; then
    load_bin=$repo/target/release/zab-load
    if [ ! -x "$load_bin" ]; then
        (cd "$repo" && cargo build --release -p zab-load) || exit 1
    fi
fi
[ -x "$load_bin" ] || { echo "compare.sh: no zab-load at $load_bin" >&2; exit 2; }
out_and_scratch zab-bench

if [ "$memory" -eq 1 ]; then
    names=(create)
elif [ ${#load_args[@]} -gt 0 ]; then
    names=(custom)
else
    names=(read-1x1 read-16x32 write-1x1 write-16x32)
fi
args_for() {
    local w=(--duration "$duration" --warmup "$warmup" --size 100)
    case $1 in
        read-1x1) echo --op read --sessions 1 --outstanding 1 "${w[@]}" ;;
        read-16x32) echo --op read --sessions 16 --outstanding 32 "${w[@]}" ;;
        write-1x1) echo --op write --sessions 1 --outstanding 1 "${w[@]}" ;;
        write-16x32) echo --op write --sessions 16 --outstanding 32 "${w[@]}" ;;
        create) echo --op create --znodes "$znodes" --size 100 --sessions 4 --outstanding 64 --path-prefix /mem ;;
        custom) echo "${load_args[@]}" ;;
    esac
}

targets=(zk)
[ "$only_zk" -eq 0 ] && targets+=(zab)
status=0
for t in "${targets[@]}"; do
    if ! start "$t"; then status=1; continue; fi
    [ "$memory" -eq 1 ] && echo "[$t] RSS before: $(rss "$PID" | awk '{ print $1 " MiB" }')"
    for n in "${names[@]}"; do
        echo "[$t] $n: zab-load $(args_for "$n")"
        # shellcheck disable=SC2046 # args_for prints separate words on purpose
        load "$t" "$n" $(args_for "$n") || status=1
    done
    if [ "$memory" -eq 1 ]; then
        read -r r h < <(rss "$PID")
        echo "$r $h" >"$out/$t.rss"
        echo "[$t] after $znodes znodes: VmRSS $r MiB, VmHWM $h MiB"
        if [ "$t" = zk ] && command -v jcmd >/dev/null; then
            # the JVM's RSS is mostly heap it has grown into; a full GC shows
            # how much of it the data really needs
            timeout 60 jcmd "$PID" GC.run >/dev/null 2>&1
            live=$(timeout 60 jcmd "$PID" GC.heap_info 2>/dev/null |
                awk '/heap/ && /used/ { for (i = 1; i <= NF; i++) if ($i == "used") { v = $(i + 1); sub(/K,?$/, "", v); printf "%.0f", v / 1024 } }')
            read -r r2 _ < <(rss "$PID")
            echo "${live:-?} $r2" >"$out/$t.heap"
            echo "[$t] after a full GC: live heap ${live:-?} MiB, VmRSS $r2 MiB"
        fi
    fi
    stop_pid "$PID"
done

# the table
"$PY" - "$out" "$memory" "${targets[*]}" "${names[@]}" <<'EOF'
import json, os, sys
out, memory, targets, names = sys.argv[1], sys.argv[2] == "1", sys.argv[3].split(), sys.argv[4:]
def get(t, n):
    try:
        with open(os.path.join(out, "%s.%s.json" % (t, n))) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None
cols = ["ops/s", "p50 ms", "p99 ms", "p999 ms", "errors"]
keys = ["throughput", "p50_ms", "p99_ms", "p999_ms", "errors"]
head = "%-12s" % "load" + "".join("| %-45s" % t for t in targets)
print()
print(head)
print("%-12s" % "" + "".join("| " + " ".join("%8s" % c for c in cols) + " " for _ in targets))
for n in names:
    row = "%-12s" % n
    for t in targets:
        r = get(t, n)
        if r is None:
            row += "| %-45s" % "no result"
        else:
            row += "| " + " ".join(("%8.0f" if k == "throughput" else "%8d" if k == "errors" else "%8.3f") % r[k] for k in keys) + " "
    print(row)
if memory:
    print()
    for t in targets:
        try:
            r, h = open(os.path.join(out, t + ".rss")).read().split()
            line = "%-6s VmRSS %6s MiB   VmHWM %6s MiB" % (t, r, h)
            if os.path.exists(os.path.join(out, t + ".heap")):
                live, r2 = open(os.path.join(out, t + ".heap")).read().split()
                line += "   (after full GC: live heap %s MiB, VmRSS %s MiB)" % (live, r2)
            print(line)
        except (OSError, ValueError):
            print("%-6s no RSS figure" % t)
EOF
echo "results in $out"
exit $status
