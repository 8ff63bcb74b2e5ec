#!/usr/bin/env bash
# ensemble.sh — the same zab-load runs against a 3-member Apache ZooKeeper 3.8 ensemble and a
# 3-member zab-node ensemble, one ensemble at a time.
#
#   ensemble.sh [--zab-bin PATH] [--target leader|follower|all] [--duration S] [--warmup S]
#               [--only zk|zab] [--load-bin PATH] [--out DIR] [--keep]
#
#   --zab-bin PATH   zab-node (default: target/release/zab-node)
#   --target T       which member the clients connect to: follower (default; the follower with
#                    the lowest id), leader, or all (a connect string of the three members; the
#                    client shuffles it, so each session lands on a random member)
#   --duration S     measured seconds per load (default 10)
#   --warmup S       unmeasured load before each (default 2)
#   --only zk|zab    run one of the two ensembles only
#   --load-bin PATH  zab-load (default: target/release/zab-load; never built here)
#   --out DIR        where the results stay (default: a new /tmp/zab-ensemble.XXXXXX)
#   --keep           keep the scratch dir (the members' dataDirs)
#
# Loads, in this order, 100 B payloads on 1000 znodes below /bench:
#   write-1x1    setData, 1 session x 1 outstanding
#   write-16x32  setData, 16 sessions x 32 outstanding
#   read-1x1     getData, 1 x 1
#   read-16x32   getData, 16 x 32
# Each ensemble: members 1..3 on 127.0.0.1 with fresh dataDirs under the scratch dir,
# tickTime=2000 initLimit=10 syncLimit=5, forceSync=yes (ensemble-lib.sh), started together;
# the loads begin once every member reports a srvr Mode and exactly one is the leader.
# Prints each run, then a table of ops/s, p50/p99/p999 and errors per load and ensemble, with
# the ratios zab/zk. Kept in --out: the zoo.cfg and log of every member, each run's text
# (TARGET.LOAD.txt) and JSON line (TARGET.LOAD.json), and all JSON lines in results.jsonl with
# "load", "member" (id or all) and "role" (--target) added in front.
# Waits while cargo/rustc or a busy java/zab-node of someone else runs (BUILD_WAIT_SECS,
# default 3600) and warns when that happened during the measurements. Every process started
# here is stopped by its pid at exit; the scratch dir is removed unless --keep.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=ensemble-lib.sh
. "$here/ensemble-lib.sh"

ZAB_BIN=$repo/target/release/zab-node
load_bin=$repo/target/release/zab-load
target_role=follower
duration=10
warmup=2
only=""
out=""
keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --zab-bin) ZAB_BIN=${2:?}; shift 2 ;;
        --target) target_role=${2:?}; shift 2 ;;
        --duration) duration=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --only) only=${2:?}; shift 2 ;;
        --load-bin) load_bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "ensemble.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case $target_role in leader|follower|all) ;; *) echo "ensemble.sh: --target leader|follower|all" >&2; exit 2 ;; esac
case $only in ""|zk|zab) ;; *) echo "ensemble.sh: --only zk|zab" >&2; exit 2 ;; esac
require_tools java
require_jars "apt-get install zookeeper" zookeeper.jar zookeeper-jute.jar slf4j-simple.jar
bench_setup ensemble
[ "$keep" -eq 1 ] && on_exit 'echo "scratch kept: $scratch" >&2'

names=(write-1x1 write-16x32 read-1x1 read-16x32)
args_for() {
    local w=(--size 100 --duration "$duration" --warmup "$warmup")
    case $1 in
        write-1x1) echo --op write --sessions 1 --outstanding 1 "${w[@]}" ;;
        write-16x32) echo --op write --sessions 16 --outstanding 32 "${w[@]}" ;;
        read-1x1) echo --op read --sessions 1 --outstanding 1 "${w[@]}" ;;
        read-16x32) echo --op read --sessions 16 --outstanding 32 "${w[@]}" ;;
    esac
}

# pick_member: the member id (or "all") the clients use, from --target and ENS_LEADER.
pick_member() {
    local i
    case $target_role in
        leader) echo "$ENS_LEADER" ;;
        all) echo all ;;
        follower)
            for i in "${ENS_IDS[@]}"; do
                [ "$i" != "$ENS_LEADER" ] && { echo "$i"; return; }
            done ;;
    esac
}

targets=(zk zab)
[ -n "$only" ] && targets=("$only")
bench_wait_quiet
noise_watch
status=0
: >"$out/results.jsonl"
: >"$out/members"
for t in "${targets[@]}"; do
    bench_wait_quiet
    if ! ens_start "$t"; then
        status=1
        ens_stop
        continue
    fi
    leader=$ENS_LEADER
    member=$(pick_member)
    if [ "$member" = all ]; then
        what="all members ($(ens_connect all); each session picks one at random)"
    else
        what="member $member ($target_role, 127.0.0.1:${E_PORT[member]})"
    fi
    echo "[$t] clients connect to $what"
    echo "$t $member $leader" >>"$out/members"
    # lib.sh's load connects to 127.0.0.1:$PORT: PORT carries the rest of the connect string
    PORT=$(ens_connect "$member")
    PORT=${PORT#127.0.0.1:}
    for n in "${names[@]}"; do
        if ! ens_wait_serving 30; then
            echo "[$t] $n: skipped, the ensemble does not serve (modes: $ENS_MODES)"
            status=1
            continue
        fi
        [ "$ENS_LEADER" != "$leader" ] && echo "[$t] NOTE: the leader changed from member $leader to $ENS_LEADER (modes: $ENS_MODES)"
        leader=$ENS_LEADER
        echo "[$t] $n: zab-load $(args_for "$n")"
        # shellcheck disable=SC2046 # args_for prints separate words on purpose
        load "$t" "$n" $(args_for "$n") || status=1
        # results.jsonl: zab-load's line with the load's name and the member it ran against
        sed "s/^{/{\"load\":\"$n\",\"member\":\"$member\",\"role\":\"$target_role\",/" \
            "$out/$t.$n.json" >>"$out/results.jsonl"
    done
    ens_wait_serving 10 || status=1
    echo "[$t] at the end: modes $ENS_MODES"
    ens_stop
done

"$PY" - "$out" "$target_role" "${targets[*]}" "${names[@]}" <<'EOF'
import json, os, sys
out, role, targets, names = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
def get(t, n):
    try:
        with open(os.path.join(out, "%s.%s.json" % (t, n))) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None
members = {}
for line in open(os.path.join(out, "members")):
    t, m, leader = line.split()
    members[t] = "all members" if m == "all" else "member %s%s" % (m, " (leader)" if m == leader else "")
keys = ["throughput", "p50_ms", "p99_ms", "p999_ms", "errors"]
def cells(r):
    if r is None:
        return "%-42s" % "no result"
    return " ".join(("%8.0f" if k == "throughput" else "%6d" if k == "errors" else "%8.3f") % r[k] for k in keys)
print()
print("3-member ensembles, clients on: " + ", ".join("%s %s" % (t, members.get(t, "?")) for t in targets))
both = targets == ["zk", "zab"]
print("%-12s" % "load" + "".join("| %-42s " % t for t in targets) + ("| zab/zk" if both else ""))
print("%-12s" % "" + "".join("| %8s %8s %8s %8s %6s " % ("ops/s", "p50 ms", "p99 ms", "p999 ms", "errors") for _ in targets)
      + ("| %6s %6s %6s %6s" % ("ops/s", "p50", "p99", "p999") if both else ""))
for n in names:
    row = "%-12s" % n + "".join("| %s " % cells(get(t, n)) for t in targets)
    if both:
        a, b = get("zk", n), get("zab", n)
        if a is None or b is None:
            row += "| -"
        else:
            row += "| " + " ".join("%6.2f" % (b[k] / a[k]) if a[k] else "     -" for k in keys[:4])
    print(row)
EOF
noise_report
echo "results in $out"
exit $status
