#!/usr/bin/env bash
# failover.sh — how long writes stop when the leader of a 3-member ensemble is killed (or
# stopped, or hands its role over), Apache ZooKeeper 3.8 against zab-node, one ensemble at a
# time.
#
#   failover.sh [--zab-bin PATH] [--rounds N] [--tick MS] [--settle S] [--round-secs S]
#               [--session-timeout S] [--only zk|zab] [--how kill|stop|handover] [--out DIR] [--keep]
#
#   --how kill|stop|handover   how the leader goes: kill -9 (default), SIGTERM (a graceful stop,
#                          in which a zab-node leader hands its role over first; the member is
#                          started again as after a kill), or zab-node's
#                          POST /commands/handover (zab only: ZooKeeper has none; the member
#                          keeps running and follows)
#   --zab-bin PATH         zab-node (default: target/release/zab-node)
#   --rounds N             leader kills per ensemble (default 20)
#   --tick MS              tickTime of both ensembles (default 2000; initLimit=10, syncLimit=5)
#   --settle S             seconds of undisturbed writes before each kill (default 2)
#   --round-secs S         give up on a round when no write is acknowledged that long after
#                          the kill (default 120)
#   --session-timeout S    the writer's session timeout (default 10, kazoo's)
#   --only zk|zab          run one of the two ensembles only
#   --out DIR              where the results stay (default: a new /tmp/zab-failover.XXXXXX)
#   --keep                 keep the scratch dir (the members' dataDirs)
#
# Each ensemble: members 1..3 on 127.0.0.1 with fresh dataDirs under the scratch dir,
# forceSync=yes (ensemble-lib.sh). A writer (failover_writer.py: one kazoo session on the connect
# string of all three members, one write at a time: create, setData, delete, ...) runs throughout
# and logs every write's issue and answer times. Each round: wait until every member serves and
# one leads, until a write issued now is acknowledged, then --settle seconds; kill -9 the
# leader; the failover time is from the signal to the acknowledgement of the first write that
# was *issued after the kill* (after the killed process was reaped: a member can still commit
# writes for a few ms after kill(2) returns on a busy machine); then the killed member is started
# again on its dataDir and the round ends when all three serve again (that time is printed too).
# Prints one line per round (with the zxid of that write and the epochs before and after),
# then per server the median, min and max failover time and the ratios zab/zk. Kept in --out: members' zoo.cfg and logs (TARGET.peerN.log, with a "=== signalled"
# line at each kill), the writer's lines (TARGET.writer.log) and the rounds (TARGET.rounds).
# Waits while cargo/rustc or a busy java/zab-node of someone else runs (BUILD_WAIT_SECS). Every
# process started here is stopped by its pid at exit; the scratch dir is removed unless --keep.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=ensemble-lib.sh
. "$here/ensemble-lib.sh"

ZAB_BIN=$repo/target/release/zab-node
load_bin=$repo/target/release/zab-load   # only for bench_setup's check and pinning
rounds=20
tick=2000
settle=2
round_secs=120
session_timeout=10
only=""
how="kill"
out=""
keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --zab-bin) ZAB_BIN=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --tick) tick=${2:?}; shift 2 ;;
        --settle) settle=${2:?}; shift 2 ;;
        --round-secs) round_secs=${2:?}; shift 2 ;;
        --session-timeout) session_timeout=${2:?}; shift 2 ;;
        --only) only=${2:?}; shift 2 ;;
        --how) how=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "failover.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case $only in ""|zk|zab) ;; *) echo "failover.sh: --only zk|zab" >&2; exit 2 ;; esac
case $how in
    kill|stop) ;;
    handover) only=zab; ENS_ZAB_ADMIN=1; command -v curl >/dev/null || { echo "failover.sh: --how handover needs curl" >&2; exit 2; } ;;
    *) echo "failover.sh: --how kill|stop|handover" >&2; exit 2 ;;
esac
require_tools java
require_jars "apt-get install zookeeper" zookeeper.jar zookeeper-jute.jar slf4j-simple.jar
"$PY" -c 'import kazoo' 2>/dev/null || { log "no kazoo for $PY (apt-get install -y python3-kazoo)"; exit 2; }
ENS_TICK=$tick
bench_setup failover
[ "$keep" -eq 1 ] && on_exit 'echo "scratch kept: $scratch" >&2'
WRITER=$here/failover_writer.py

# first_ack_after LOG OFFSET NS: prints "DONE_NS ISSUE_NS ERRORS ZXID" for the first acknowledged
# write in LOG (from byte OFFSET on) issued after NS, ERRORS the failed writes issued after NS
# before it; prints nothing if there is none yet.
first_ack_after() {
    tail -c +"$(($2 + 1))" "$1" | awk -v ns="$3" -v errs=0 '
        NF >= 4 && length($1) == 19 && $1 > ns {
            if ($3 == "ok") { print $2, $1, errs, ($5 == "" ? "-" : $5); found = 1; exit }
            errs++
        }
        END { if (!found) exit 1 }'
}

# wait_ack_after LOG OFFSET NS SECS: polls first_ack_after for SECS; sets ACK (its output).
wait_ack_after() {
    local deadline=$((SECONDS + $4))
    ACK=""
    while ((SECONDS < deadline)); do
        ACK=$(first_ack_after "$1" "$2" "$3") && return 0
        kill -0 "$WRITER_PID" 2>/dev/null || { echo "[$E_TARGET] the writer exited" >&2; return 1; }
        sleep 0.05
    done
    return 1
}

# errors_between LOG OFFSET NS [UNTIL_NS]: "KIND:count ..." of the failed writes issued after NS
# (and before UNTIL_NS).
errors_between() {
    tail -c +"$(($2 + 1))" "$1" | awk -v ns="$3" -v upto="${4:-0}" '
        NF >= 5 && length($1) == 19 && $1 > ns && (upto == 0 || $1 < upto) && $3 == "err" { n[$5]++ }
        END { for (k in n) printf "%s%s:%d", (s++ ? " " : ""), k, n[k] }'
}

# run_rounds TARGET: the ensemble, the writer, --rounds kills; lines go to $out/TARGET.rounds
# ("ROUND KILLED_ID FAILOVER_MS SERVE_AGAIN_S NEW_LEADER" or "ROUND KILLED_ID - ...").
run_rounds() {
    local t=$1 r killed went offset ack_ns issue_ns errs ms back_s restart_ns prev_zxid zxid notes reap_ms
    local wlog=$out/$1.writer.log
    : >"$out/$t.rounds"
    ens_start "$t" || return 1
    "$PY" "$WRITER" "$(ens_connect all)" --session-timeout "$session_timeout" >"$wlog" 2>"$out/$t.writer.err" &
    WRITER_PID=$!
    PIDS+=("$WRITER_PID")
    echo "[$t] writer pid $WRITER_PID on $(ens_connect all)"
    for ((r = 1; r <= rounds; r++)); do
        if ! ens_wait_serving; then
            echo "[$t] round $r: the ensemble does not serve; giving up"
            return 1
        fi
        offset=$(stat -c %s "$wlog")
        if ! wait_ack_after "$wlog" "$offset" "$(now_ns)" 60; then
            echo "[$t] round $r: the writer got no acknowledgement for 60 s before the kill; giving up (see $out/$t.writer.err)"
            return 1
        fi
        sleep "$settle"
        killed=$ENS_LEADER
        offset=$(stat -c %s "$wlog")
        # the zxid of the last write acknowledged before the kill (a create or setData)
        prev_zxid=$(tail -n 20 "$wlog" | awk '$3 == "ok" && $5 ~ /^0x/ { z = $5 } END { print z }')
        case $how in
            kill) ens_kill9 "$killed"; went="killed leader" ;;
            stop) ens_term "$killed"; went="stopped leader" ;;
            handover) ens_handover "$killed" || return 1; went="leader handed over by" ;;
        esac
        # "issued after the kill": after the killed process was reaped (DEAD_NS); the failover
        # time runs from the signal (KILL_NS)
        zxid=-
        if wait_ack_after "$wlog" "$offset" "$DEAD_NS" "$round_secs"; then
            read -r ack_ns issue_ns errs zxid <<<"$ACK"
            ms=$(awk -v a="$ack_ns" -v k="$KILL_NS" 'BEGIN { printf "%.0f", (a - k) / 1e6 }')
        else
            ms=-
        fi
        restart_ns=$(now_ns)
        [ "$how" = handover ] || ens_launch "$killed"
        if ! ens_wait_serving "$round_secs"; then
            echo "$r $killed $ms - -" >>"$out/$t.rounds"
            echo "[$t] round $r: $went member $killed; first write acknowledged after ${ms} ms; not all serving ${round_secs}s after its restart (modes: $ENS_MODES); giving up"
            return 1
        fi
        back_s=$(awk -v a="$(now_ns)" -v b="$restart_ns" 'BEGIN { printf "%.1f", (a - b) / 1e9 }')
        echo "$r $killed $ms $back_s $ENS_LEADER" >>"$out/$t.rounds"
        notes=""
        reap_ms=$(((DEAD_NS - KILL_NS) / 1000000))
        [ "$reap_ms" -ge 5 ] && notes+="; the killed process took ${reap_ms} ms to be reaped"
        if [ "$ms" = - ]; then
            echo "[$t] round $r: $went member $killed; NO write acknowledged within ${round_secs}s ($(errors_between "$wlog" "$offset" "$DEAD_NS"))$notes"
            continue
        fi
        if [[ $zxid == 0x* && $prev_zxid == 0x* ]]; then
            notes+="; zxid $zxid, epoch $((prev_zxid >> 32)) -> $((zxid >> 32))"
            [ $((prev_zxid >> 32)) -eq $((zxid >> 32)) ] && notes+=" (SAME EPOCH: acknowledged by the killed leader?)"
        fi
        [ "$errs" -gt 0 ] && notes+="; $errs failed before it: $(errors_between "$wlog" "$offset" "$DEAD_NS" "$issue_ns")"
        echo "[$t] round $r: $went member $killed; first write issued after the kill acknowledged after $ms ms$notes; new leader member $ENS_LEADER; all three serve ${back_s}s after the restart"
    done
}

targets=(zk zab)
[ -n "$only" ] && targets=("$only")
echo "tickTime=$tick initLimit=10 syncLimit=5, $rounds rounds (the leader goes by: $how), writer session timeout ${session_timeout}s"
bench_wait_quiet
noise_watch
status=0
for t in "${targets[@]}"; do
    bench_wait_quiet
    run_rounds "$t" || status=1
    if [ -n "${WRITER_PID:-}" ]; then
        stop_pid "$WRITER_PID"
        forget_pid "$WRITER_PID"
        WRITER_PID=""
    fi
    ens_stop
done

FAILOVER_HOW=$how "$PY" - "$out" "${targets[@]}" <<'EOF'
import os, statistics, sys
out, targets = sys.argv[1], sys.argv[2:]
res = {}
for t in targets:
    ms, failed = [], 0
    try:
        for line in open(os.path.join(out, t + ".rounds")):
            f = line.split()
            if f[2] == "-":
                failed += 1
            else:
                ms.append(int(f[2]))
    except OSError:
        pass
    res[t] = (ms, failed)
print()
how = os.environ.get("FAILOVER_HOW", "kill")
what = {"kill": "kill -9 of the leader", "stop": "graceful stop (SIGTERM) of the leader",
        "handover": "hand-over of the leadership (POST /commands/handover)"}[how]
print("failover: %s -> first acknowledged write issued after it, ms" % what)
for t in targets:
    ms, failed = res[t]
    print("%-4s %s%s" % (t, " ".join(str(m) for m in ms) or "-", "  (+%d rounds without a write)" % failed if failed else ""))
print()
print("%-6s %6s %8s %8s %8s %8s" % ("", "rounds", "median", "min", "max", "no write"))
for t in targets:
    ms, failed = res[t]
    if ms:
        print("%-6s %6d %8.0f %8d %8d %8d" % (t, len(ms), statistics.median(ms), min(ms), max(ms), failed))
    else:
        print("%-6s %6d %8s %8s %8s %8d" % (t, 0, "-", "-", "-", failed))
if targets == ["zk", "zab"] and res["zk"][0] and res["zab"][0]:
    a, b = res["zk"][0], res["zab"][0]
    print("%-6s %6s %8.2f %8.2f %8.2f" % ("zab/zk", "", statistics.median(b) / statistics.median(a),
                                          min(b) / max(min(a), 1), max(b) / max(max(a), 1)))
EOF
noise_report
echo "results in $out"
exit $status
