#!/usr/bin/env bash
# durability.sh — write throughput and latency with fsync on, ZooKeeper 3.8
# against zab-node, next to what the disk itself can do.
#
#   durability.sh --zab-bin PATH [--duration S] [--warmup S] [--load-bin P] [--out DIR]
#
# Both servers run with forceSync=yes (the default of both) and their dataDir
# in a fresh mktemp directory under /tmp, one server at a time. Loads
# (zab-load --op write, i.e. setData of 100 B on 1000 znodes):
#   write-1x1    1 session x 1 outstanding   (every write waits for its own fsync)
#   write-1x64   1 session x 64 outstanding  (one session's pipeline, group commit)
#   write-16x32  16 sessions x 32 outstanding
# each for --duration seconds (default 10) after --warmup (default 2).
#
# The disk: a loop of write(128 B)+fdatasync on a scratch file in the same
# directory, 3 s each way (FSYNC_SECS), before and after the servers:
#   prealloc  overwriting a preallocated 64 MB file, as ZooKeeper's txn log does
#   append    each write grows the file, so fdatasync also has to flush the size
# It reports µs per fdatasync and syncs/s. 1x1 writes cannot go faster than the
# disk's sync rate; the table shows each server's 1x1 rate as a share of it.
#
# Waits while cargo/rustc or a busy java/zab-node of someone else runs (BUILD_WAIT_SECS).
# Never builds anything: --load-bin defaults to target/release/zab-load.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

ZAB_BIN=""
duration=10
warmup=2
load_bin=$repo/target/release/zab-load
out=""
while [ $# -gt 0 ]; do
    case $1 in
        --zab-bin) ZAB_BIN=${2:?}; shift 2 ;;
        --duration) duration=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --load-bin) load_bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "durability.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
bench_setup durability

names=(write-1x1 write-1x64 write-16x32)
args_for() {
    local w=(--op write --size 100 --duration "$duration" --warmup "$warmup")
    case $1 in
        write-1x1) echo "${w[@]}" --sessions 1 --outstanding 1 ;;
        write-1x64) echo "${w[@]}" --sessions 1 --outstanding 64 ;;
        write-16x32) echo "${w[@]}" --sessions 16 --outstanding 32 ;;
    esac
}

bench_wait_quiet
noise_watch
echo "disk: $(df -P "$scratch" | awk 'NR == 2 { print $1 " mounted on " $6 }'), $(findmnt -no FSTYPE -T "$scratch" 2>/dev/null)"
echo "[disk] write+fdatasync loop in $scratch ..."
fsync_probe before "$scratch" || echo "[disk] fsync probe failed" >&2

status=0
for t in zk zab; do
    bench_wait_quiet
    if ! start "$t"; then status=1; continue; fi
    for n in "${names[@]}"; do
        echo "[$t] $n: zab-load $(args_for "$n")"
        # shellcheck disable=SC2046 # args_for prints separate words on purpose
        load "$t" "$n" $(args_for "$n") || status=1
    done
    du -sb "$DIR/data" | awk '{ print $1 }' >"$out/$t.datadir.bytes"
    stop_pid "$PID"
done

echo "[disk] write+fdatasync loop again ..."
fsync_probe after "$scratch" || echo "[disk] fsync probe failed" >&2

"$PY" - "$out" "${names[@]}" <<'EOF'
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
targets = ["zk", "zab"]
def get(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None
cols = ["ops/s", "p50 ms", "p99 ms", "p999 ms", "errors"]
keys = ["throughput", "p50_ms", "p99_ms", "p999_ms", "errors"]
print()
print("%-12s" % "fsync on" + "".join("| %-45s" % t for t in targets))
print("%-12s" % "load" + "".join("| " + " ".join("%8s" % c for c in cols) + " " for _ in targets))
for n in names:
    row = "%-12s" % n
    for t in targets:
        r = get("%s.%s.json" % (t, n))
        if r is None:
            row += "| %-45s" % "no result"
        else:
            row += "| " + " ".join(("%8.0f" if k == "throughput" else "%8d" if k == "errors" else "%8.3f") % r[k] for k in keys) + " "
    print(row)
print()
print("disk, write 128 B + fdatasync   syncs/s   µs mean    µs p50    µs p99")
rates = []
for when in ["before", "after"]:
    for mode in ["prealloc", "append"]:
        r = get("fsync.%s.%s.json" % (when, mode))
        if r is None:
            print("  %-6s %-22s no result" % (when, mode))
            continue
        if mode == "prealloc":
            rates.append(r["syncs_per_s"])
        print("  %-6s %-22s %9.0f %9.0f %9.0f %9.0f" % (when, mode, r["syncs_per_s"], r["us_mean"], r["us_p50"], r["us_p99"]))
if rates:
    disk = sum(rates) / len(rates)
    parts = []
    for t in targets:
        r = get("%s.write-1x1.json" % t)
        if r is not None and disk > 0:
            parts.append("%s %.2f" % (t, r["throughput"] / disk))
    print()
    print("write-1x1 ops/s per prealloc fdatasync/s (1.00 = one write per disk sync): " + ", ".join(parts))
EOF
noise_report
echo "results in $out"
exit $status
