#!/usr/bin/env bash
# scrape.sh — what scraping /metrics costs a write benchmark: the same zab-load write run on a
# 3-member zab-node ensemble, alternately with and without a scraper that GETs /metrics from
# every member every 100 ms.
#
#   scrape.sh [--zab-bin PATH] [--pairs N] [--duration S] [--warmup S] [--interval MS]
#             [--sessions N] [--outstanding N] [--load-bin PATH] [--out DIR] [--keep]
#
#   --zab-bin PATH   zab-node (default: target/release/zab-node)
#   --pairs N        runs with and without the scraper (default 8 each), in the order
#                    off,on,on,off,off,on,... so that a drift of the machine over time falls on
#                    both sides alike
#   --duration S     measured seconds per run (default 10); --warmup S unmeasured (default 2)
#   --interval MS    scrape interval (default 100)
#   --sessions N / --outstanding N   the write load (default 16 x 32, setData of 100 B)
#   --load-bin PATH  zab-load (default: target/release/zab-load; never built here)
#   --out DIR        where the results stay (default: a new /tmp/zab-scrape.XXXXXX)
#   --keep           keep the scratch dir (the members' dataDirs)
#
# One ensemble serves every run (members 1..3 on 127.0.0.1, forceSync=yes, tickTime=2000, the
# AdminServer on 127.0.0.1 and a free port each); the clients connect to the follower with the
# lowest id. The scraper (scrape.py, one keep-alive HTTP connection per member, started before
# the warm-up and stopped after the run) counts its scrapes, bytes and errors. Prints each run,
# the server CPU one scrape takes (3000 scrapes of the clients' member after the runs, its CPU
# time from /proc), then the mean ops/s with and without scraping, the change in percent, and
# the spread of the runs (standard deviation, and the change's 95% interval from the paired
# differences).
# Waits while cargo/rustc or a busy java/zab-node of someone else runs and warns when that
# happened during the measurements. Every process started here is stopped by its pid.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=ensemble-lib.sh
. "$here/ensemble-lib.sh"

ZAB_BIN=$repo/target/release/zab-node
load_bin=$repo/target/release/zab-load
pairs=8
duration=10
warmup=2
interval=100
sessions=16
outstanding=32
out=""
keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --zab-bin) ZAB_BIN=${2:?}; shift 2 ;;
        --pairs) pairs=${2:?}; shift 2 ;;
        --duration) duration=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --interval) interval=${2:?}; shift 2 ;;
        --sessions) sessions=${2:?}; shift 2 ;;
        --outstanding) outstanding=${2:?}; shift 2 ;;
        --load-bin) load_bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "scrape.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
bench_setup scrape
[ "$keep" -eq 1 ] && on_exit 'echo "scratch kept: $scratch" >&2'

# The ensemble's zoo.cfg files with the AdminServer on.
ens_create zab
mapfile -t admin_ports < <(free_ports 3)
admin_urls=()
for i in "${ENS_IDS[@]}"; do
    sed -i '/^admin\./d' "${E_DIR[i]}/zoo.cfg"
    printf 'admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%s\n' \
        "${admin_ports[i - 1]}" >>"${E_DIR[i]}/zoo.cfg"
    admin_urls+=("http://127.0.0.1:${admin_ports[i - 1]}/metrics")
done
bench_wait_quiet
for i in "${ENS_IDS[@]}"; do ens_launch "$i"; done
ens_wait_serving || exit 1
member=""
for i in "${ENS_IDS[@]}"; do [ "$i" != "$ENS_LEADER" ] && { member=$i; break; }; done
PORT=${E_PORT[member]}
echo "[zab] leader member $ENS_LEADER; clients on member $member (follower, 127.0.0.1:$PORT); scraping ${admin_urls[*]} every ${interval} ms"

noise_watch
: >"$out/runs.tsv"
status=0
run() { # run N on|off
    local n=$1 mode=$2 spid="" name
    name=run$n.$mode
    ens_wait_serving 30 || { echo "run $n: the ensemble does not serve ($ENS_MODES)"; status=1; return; }
    if [ "$mode" = on ]; then
        "$PY" "$here/scrape.py" --interval-ms "$interval" --report "$out/$name.scrape" "${admin_urls[@]}" &
        spid=$!
        PIDS+=("$spid")
    fi
    load zab "$name" --op write --sessions "$sessions" --outstanding "$outstanding" --size 100 \
        --duration "$duration" --warmup "$warmup" >/dev/null || status=1
    if [ -n "$spid" ]; then
        kill -TERM "$spid" 2>/dev/null
        wait "$spid" 2>/dev/null
        forget_pid "$spid"
    fi
    "$PY" - "$out" "$name" "$n" "$mode" <<'EOF'
import json, os, sys
out, name, n, mode = sys.argv[1:]
r = json.loads(open(os.path.join(out, "zab.%s.json" % name)).read())
s = ""
p = os.path.join(out, name + ".scrape")
if os.path.exists(p):
    sc = json.loads(open(p).read())
    s = "  scrapes %d (%.1f/s per member), %d errors, %.0f KiB each, mean %.2f ms" % (
        sc["scrapes"], sc["per_member_per_s"], sc["errors"], sc["mean_bytes"] / 1024, sc["mean_ms"])
print("run %2s scrape %-3s %8.0f ops/s  p99 %7.3f ms%s" % (n, mode, r["throughput"], r["p99_ms"], s))
with open(os.path.join(out, "runs.tsv"), "a") as f:
    f.write("%s\t%s\t%f\n" % (n, mode, r["throughput"]))
EOF
}
n=0
for ((p = 0; p < pairs; p++)); do
    if ((p % 2 == 0)); then order=(off on); else order=(on off); fi
    for mode in "${order[@]}"; do
        n=$((n + 1))
        run "$n" "$mode"
    done
done
# What one scrape costs the server, without load: its CPU time (from /proc) over 3000 scrapes
# of the member the clients used, and that cost at the scrape rate.
"$PY" "$here/scrape.py" --cost "${E_PID[member]}" --count 3000 --members "${#ENS_IDS[@]}" \
    --interval-ms "$interval" "${admin_urls[member - 1]}" || status=1
ens_stop

"$PY" - "$out/runs.tsv" <<'EOF'
import statistics, sys
runs = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
off = [float(t) for _, m, t in runs if m == "off"]
on = [float(t) for _, m, t in runs if m == "on"]
if len(off) < 2 or len(on) < 2:
    print("scrape: too few runs"); sys.exit(1)
# pairs in run order: (off, on) of each pair
pairs = [(float(runs[i][2]), float(runs[i + 1][2])) if runs[i][1] == "off" else (float(runs[i + 1][2]), float(runs[i][2]))
         for i in range(0, len(runs) - 1, 2)]
diffs = [(b - a) / a * 100 for a, b in pairs]
mo, mn = statistics.mean(off), statistics.mean(on)
d, sd = statistics.mean(diffs), statistics.stdev(diffs)
half = 2.0 * sd / len(diffs) ** 0.5
print()
print("without scraping: mean %.0f ops/s (sd %.0f, %d runs)" % (mo, statistics.stdev(off), len(off)))
print("with scraping:    mean %.0f ops/s (sd %.0f, %d runs)" % (mn, statistics.stdev(on), len(on)))
print("scrape: throughput change %+.2f%% (paired mean; 95%% interval %+.2f%% .. %+.2f%%)" % (d, d - half, d + half))
EOF
noise_report
echo "results in $out"
exit $status
