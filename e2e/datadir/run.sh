#!/usr/bin/env bash
# Data-directory compatibility run: an Apache ZooKeeper 3.8 data directory must open in zab-node
# and a zab-node data directory in ZooKeeper, with the same tree, and ZooKeeper's own tools must
# read zab-node's files.
#
#   e2e/datadir/run.sh [--zab-bin PATH] [--only-zk] [--keep]
#
#   --zab-bin PATH   zab-node binary (default: target/release/zab-node under the repo root)
#   --only-zk        case a with ZooKeeper standing in for zab-node, and case c on ZooKeeper's own
#                    files (develops the harness; must pass)
#   --keep           keep the work directory (configs, data dirs, logs, dumps, tool outputs);
#                    it is also kept whenever a check fails
#
# Cases (README.md says what each proves):
#   a  zk->zab   ZooKeeper runs Workload and is SIGKILLed while the workload's session is live.
#                Three copies of its dataDir/dataLogDir are opened: by ZooKeeper; by ZooKeeper
#                from the logs alone (snapshots removed); by zab-node. Their Dump outputs must be
#                identical, and ZooKeeper's and zab-node's Probe outputs too
#   b  zab->zk   the same with zab-node writing the directory
#   c  tools     TxnLogToolkit on every log, SnapshotFormatter on every snapshot, SnapCheck on all
#                snapshots, of the directory zab-node wrote in b
#
# Prints one "  pass <check>" / "  FAIL <check>" line per check, then exactly
# "datadir: N passed, M failed". Exit status 0 when everything passed, 1 on a failed check, 2 when
# the harness itself failed (no java, ZooKeeper misbehaving on its own data).
# Everything listens on 127.0.0.1 only; every process started here is stopped by its pid.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZAB_BIN="$ROOT/target/release/zab-node"
ONLY_ZK=0
KEEP=0

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=${2:?--zab-bin needs a path}; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --only-zk) ONLY_ZK=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
FOURLW_SECS=5
READY_ZXID=1   # ZooKeeper answers ruok a moment before it serves: srvr then shows no Zxid
SESSION_TIMEOUT_MS=180000   # the workload's session: far longer than a reopen takes
WORKLOAD_DEADLINE_S=300
CLIENT_DEADLINE_S=120
PROBE_DEADLINE_MS=30000
TXNLOG_HEADER='ZooKeeper Transactional Log File with dbid 0 txnlog format version 2'

# Server settings that ZooKeeper takes as JVM system properties (-Dkey=value) and zab-node as
# zoo.cfg keys. Small snapCount and preAllocSize give many snapshot and log files, and log
# files that grow past their preallocation.
WRITE_PROPS=(
    "zookeeper.snapCount=500"
    "zookeeper.preAllocSize=64"
    "zookeeper.extendedTypesEnabled=true"
    "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST"
)
# A server that reopens a copy also checks containers and TTLs every 100 ms, for Probe.
REOPEN_PROPS=("${WRITE_PROPS[@]}" "znode.container.checkIntervalMs=100")

WORK=$(mktemp -d /tmp/zab-datadir.XXXXXX)
HARNESS_BROKEN=0
on_exit 'remove_work $((KEEP || FAILED || HARNESS_BROKEN))'

require_tools java javac "$PY" timeout
require_jars "apt-get install zookeeper libslf4j-java" \
    zookeeper.jar zookeeper-jute.jar slf4j-nop.jar slf4j-simple.jar
if [[ $ONLY_ZK -eq 0 && ! -x $ZAB_BIN ]]; then
    log "zab-node binary not found or not executable: $ZAB_BIN (give --zab-bin PATH, or --only-zk)"
    exit 2
fi

# check NAME STATUS [DETAIL]: records and prints one check.
check() {
    local name=$1 ok=$2 detail=${3:-}
    if [[ $ok -eq 0 ]]; then
        echo "  pass $name${detail:+ ($detail)}"
    else
        echo "  FAIL $name${detail:+ ($detail)}"
    fi
    tally "$ok"
}

# start_server KIND DIR PROPS...: KIND zk or zab; DIR holds zoo.cfg, server.log and state/
# (state/data = dataDir, state/datalog = dataLogDir). Sets SPID and SPORT.
start_server() {
    local kind=$1 dir=$2 rc=0
    shift 2
    SPORT=$(free_port)
    mkdir -p "$dir/state/data" "$dir/state/datalog"
    write_zoo_cfg "$dir/zoo.cfg" "$SPORT" "$dir/state/data" "dataLogDir=$dir/state/datalog" \
        admin.enableServer=false maxClientCnxns=60 minSessionTimeout=4000 maxSessionTimeout=300000
    spawn_server "$kind" "$dir/zoo.cfg" "$dir/server.log" "$@"
    SPID=$SERVER_PID
    poll_ready "$SPORT" "$SPID" || rc=$?
    [[ $rc -eq 1 ]] && log "$kind in $dir exited during start-up"
    [[ $rc -eq 2 ]] && log "$kind in $dir not ready after ${READY_SECS}s"
    if [[ $rc -ne 0 ]]; then
        tail -n 20 "$dir/server.log" | sed 's/^/    | /' >&2
        return 1
    fi
}

# hexnum HEX: the value of a hex number, with or without 0x.
hexnum() { printf '%d' "0x${1#0x}"; }

# by_zxid DIR PREFIX: the files PREFIX.<hex zxid> in DIR, in zxid order.
by_zxid() {
    local f
    for f in $(ls "$1" 2>/dev/null); do
        [[ $f =~ ^$2\.[0-9a-f]+$ ]] && printf '%d %s\n' "0x${f#"$2".}" "$f"
    done | sort -n | cut -d' ' -f2
}

server_name() { if [[ $1 == zk ]]; then echo ZooKeeper; else echo zab-node; fi; }

# ---- compile the client programs
mkdir -p "$WORK/classes"
if ! javac -nowarn -d "$WORK/classes" -cp "$ZK_CLIENT_CP" \
        "$HERE/Workload.java" "$HERE/Dump.java" "$HERE/Probe.java" "$HERE/SnapCheck.java" \
        2>"$WORK/javac.log"; then
    cat "$WORK/javac.log" >&2
    log "the Java programs do not compile"
    exit 2
fi
JCP="$WORK/classes:$ZK_CLIENT_CP"
# SnapCheck uses server classes; slf4j-simple so that any warning they log shows.
TOOL_CP="$WORK/classes:$ZK_CP"

# write_dir CASE KIND: KIND runs the Workload in $WORK/CASE/writer and is SIGKILLed while the
# workload's session is open. Leaves $WORK/CASE/writer/state, and sets LAST_ZXID (srvr before the
# kill), SESSION and EPHEMERALS (from the workload's READY line).
write_dir() {
    local case=$1 kind=$2 dir="$WORK/$1/writer" wpid deadline ready=""
    LAST_ZXID="" SESSION="" EPHEMERALS=""
    if ! start_server "$kind" "$dir" "${WRITE_PROPS[@]}"; then
        check "$case: $(server_name "$kind") starts on an empty data dir" 1
        return 1
    fi
    local spid=$SPID
    : >"$dir/workload.out"
    java -cp "$JCP" Workload "127.0.0.1:$SPORT" "$SESSION_TIMEOUT_MS" >"$dir/workload.out" 2>"$dir/workload.err" &
    wpid=$!
    PIDS+=("$wpid")
    deadline=$((SECONDS + WORKLOAD_DEADLINE_S))
    while (( SECONDS < deadline )); do
        ready=$(grep -m1 '^READY ' "$dir/workload.out" || true)
        [[ -n $ready ]] && break
        kill -0 "$wpid" 2>/dev/null || break
        sleep 0.2
    done
    if [[ -z $ready ]]; then
        check "$case: Workload against $(server_name "$kind")" 1 "$(tail -n 3 "$dir/workload.err" | tr '\n' ' ')"
        stop_pid "$wpid"
        stop_pid "$spid"
        return 1
    fi
    LAST_ZXID=$(srvr_zxid "$SPORT")
    kill -KILL "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    stop_pid "$wpid"
    SESSION=$(awk '{print $2}' <<<"$ready")
    EPHEMERALS=$(sed -n 's/.*ephemerals=\([0-9]*\).*/\1/p' <<<"$ready")
    check "$case: Workload against $(server_name "$kind"), then SIGKILL" 0 \
        "last zxid $LAST_ZXID, live session $SESSION with $EPHEMERALS ephemerals"
    [[ -n $LAST_ZXID ]]
}

# reopen CASE NAME KIND SRC [MODE]: copies SRC (a state dir) to $WORK/CASE/NAME/state, starts
# KIND on it, runs Dump then Probe (outputs $WORK/CASE/NAME.dump and .probe), keeps mntr's digest
# mismatch count in $WORK/CASE/NAME.mntr (ZooKeeper only), stops the server. MODE:
#   replay    the copy loses all its snapshots and ZooKeeper is told to trust an empty snapshot
#             dir, so it rebuilds the tree from the transaction logs alone, comparing every txn's
#             digest on the way
#   handover  after Probe, Dump again (NAME.final.dump) and stop the server with SIGKILL: the
#             directory then goes back to the other implementation
#   dumponly  Dump, no Probe
reopen() {
    local case=$1 name=$2 kind=$3 src=$4 mode=${5:-} dir="$WORK/$1/$2" rc=0
    local props=("${REOPEN_PROPS[@]}") what="Dump and Probe run"
    mkdir -p "$dir"
    cp -a "$src" "$dir/state"
    if [[ $mode == replay ]]; then
        rm -f "$dir/state/data/version-2"/snapshot.*
        props+=("zookeeper.snapshot.trust.empty=true")
    fi
    if ! start_server "$kind" "$dir" "${props[@]}"; then
        check "$case: $name ($(server_name "$kind")) opens the directory" 1 "log: $dir/server.log"
        return 1
    fi
    timeout "$CLIENT_DEADLINE_S" java -cp "$JCP" Dump "127.0.0.1:$SPORT" \
        >"$WORK/$case/$name.dump" 2>"$dir/dump.err" || rc=1
    if [[ $mode == dumponly ]]; then
        what="Dump runs"
    else
        timeout "$CLIENT_DEADLINE_S" java -cp "$JCP" Probe "127.0.0.1:$SPORT" "$PROBE_DEADLINE_MS" \
            >"$WORK/$case/$name.probe" 2>"$dir/probe.err" || rc=1
    fi
    if [[ $mode == handover ]]; then
        timeout "$CLIENT_DEADLINE_S" java -cp "$JCP" Dump "127.0.0.1:$SPORT" \
            >"$WORK/$case/$name.final.dump" 2>"$dir/final-dump.err" || rc=1
        what="Dump, Probe and Dump run, then SIGKILL"
    fi
    if [[ $kind == zk ]]; then
        four_letter "$SPORT" mntr | grep '^zk_digest_mismatches_count' >"$WORK/$case/$name.mntr"
    fi
    if ! kill -0 "$SPID" 2>/dev/null; then
        log "$name: the server was no longer running after the dump"
        rc=1
    fi
    if [[ $mode == handover ]]; then
        kill -KILL "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
    else
        stop_pid "$SPID"
    fi
    check "$case: $name ($(server_name "$kind")) opens the directory; $what" $rc \
        "$(grep -c '^/' "$WORK/$case/$name.dump") znodes"
    return $rc
}

ZK_OPEN_PROBLEMS='problem reading snap|Digests are not matching|not covering the snapshot digest|CRC'
ZK_OPEN_PROBLEMS+='|Unable to load database|Severe unrecoverable|Failed to process transaction|\] ERROR '

# ZooKeeper's own verdict on a directory it opened (its log and mntr): a bad newest snapshot is
# skipped with a warning, a digest mismatch is only logged and counted, so both are looked for.
# SRC is the directory that was copied, or "replay" (no snapshot to look for).
zk_opened_cleanly() {
    local case=$1 name=$2 src=$3 dir="$WORK/$1/$2" newest read bad
    # ("Error closing a command socket" is a four-letter word polled before zkDb exists: benign)
    bad=$(grep -E "$ZK_OPEN_PROBLEMS" "$dir/server.log" | grep -v 'Error closing a command socket' | head -n 3)
    check "$case: $name's log on opening: no warning about snapshots, CRC or digests" \
        "$([[ -z $bad ]]; echo $?)" "${bad:-clean}"
    if [[ $src != replay ]]; then
        # a bad newest snapshot would be skipped for an older one, with the same tree in the end
        newest=$(by_zxid "$src/data/version-2" snapshot | tail -n 1)
        read=$(sed -n 's/.*Reading snapshot .*\/\(snapshot\.[0-9a-f]*\).*/\1/p' "$dir/server.log" | tail -n 1)
        check "$case: $name loaded the newest snapshot of the directory" \
            "$([[ -n $read && $read == "$newest" ]]; echo $?)" "read ${read:-none}, newest $newest"
    fi
    check "$case: $name's mntr zk_digest_mismatches_count is 0" \
        "$(grep -qE 'zk_digest_mismatches_count[[:space:]]+0$' "$WORK/$case/$name.mntr"; echo $?)" \
        "$(tr '\t' ' ' <"$WORK/$case/$name.mntr")"
}

# The reopened tree still holds what was on disk: the last zxid, and the ephemerals of the session
# that was live at the kill.
dump_matches_writer() {
    local case=$1 name=$2 file="$WORK/$1/$2.dump" zxid owned
    zxid=$(sed -n 's/^srvr-before-connect Zxid: //p' "$file")
    owned=$(grep -c "ephemeralOwner=$SESSION " "$file")
    check "$case: $name restored the last zxid" "$([[ $zxid == "$LAST_ZXID" ]]; echo $?)" \
        "srvr $zxid, before the kill $LAST_ZXID"
    check "$case: $name kept the $EPHEMERALS ephemerals of the live session" \
        "$([[ $owned == "$EPHEMERALS" ]]; echo $?)" "$owned owned by $SESSION"
}

# compare CASE A B WHAT: the two outputs must be identical.
compare() {
    local case=$1 a=$2 b=$3 what=$4 lines
    if diff -u --label "$a.$what" --label "$b.$what" "$WORK/$case/$a.$what" "$WORK/$case/$b.$what" \
            >"$WORK/$case/$what.diff"; then
        check "$case: $what of $a and $b identical" 0 "$(wc -l <"$WORK/$case/$a.$what") lines"
    else
        lines=$(grep -c '^[-+][^-+]' "$WORK/$case/$what.diff")
        check "$case: $what of $a and $b identical" 1 "$lines lines differ: $WORK/$case/$what.diff"
        head -n 40 "$WORK/$case/$what.diff" | cut -c1-200 | sed 's/^/    /'
    fi
}

# handed_back CASE FROM TO: TO reopened what FROM left after Probe and a last Dump; the tree must
# be the one FROM showed last, and the last zxid one more (the closeSession of that Dump).
handed_back() {
    local case=$1 from=$2 to=$3 d="$WORK/$1" before after
    grep -v '^srvr-' "$d/$from.final.dump" >"$d/$from.final.tree"
    grep -v '^srvr-' "$d/$to.dump" >"$d/$to.tree"
    compare "$case" "$from.final" "$to" tree
    after=$(sed -n 's/^srvr-after-dump Zxid: //p' "$d/$from.final.dump")
    before=$(sed -n 's/^srvr-before-connect Zxid: //p' "$d/$to.dump")
    check "$case: $to starts at the zxid after $from's last" \
        "$([[ -n $after && -n $before && $(hexnum "$before") -eq $(( $(hexnum "$after") + 1 )) ]]; echo $?)" \
        "$from's last Dump saw $after (its closeSession comes next), $to restored $before"
}

# run_open_case CASE WRITER OTHER: WRITER fills a directory; ZooKeeper and OTHER open copies of it.
# Then the copy opened by the implementation that did not write it goes back to the writer's.
run_open_case() {
    local case=$1 writer=$2 other=$3 t0=$SECONDS
    echo "case $case: $(server_name "$writer") writes, ZooKeeper and $(server_name "$other") reopen"
    if ! write_dir "$case" "$writer"; then
        [[ $writer == zk ]] && HARNESS_BROKEN=1
        return
    fi
    local src="$WORK/$case/writer/state" oname=zab zk_mode="" other_mode=handover
    [[ $other == zk ]] && oname=zk-again
    [[ $writer == zab ]] && zk_mode=handover other_mode=""
    local zk_ok=0
    reopen "$case" zk zk "$src" "$zk_mode" || zk_ok=1
    if [[ $zk_ok -eq 0 ]]; then
        zk_opened_cleanly "$case" zk "$src"
        dump_matches_writer "$case" zk
    elif [[ $writer == zk ]]; then
        HARNESS_BROKEN=1
    fi
    # ZooKeeper again, from the logs alone: every txn replayed and its digest compared
    if reopen "$case" zk-replay zk "$src" replay && [[ $zk_ok -eq 0 ]]; then
        zk_opened_cleanly "$case" zk-replay replay
        compare "$case" zk zk-replay dump
    fi
    if reopen "$case" "$oname" "$other" "$src" "$other_mode" && [[ $zk_ok -eq 0 ]]; then
        dump_matches_writer "$case" "$oname"
        compare "$case" zk "$oname" dump
        compare "$case" zk "$oname" probe
    fi
    # the hand-back: a directory both implementations have written to
    local from=$oname
    [[ $writer == zab ]] && from=zk
    if [[ -f "$WORK/$case/$from.final.dump" ]] &&
            reopen "$case" back "$writer" "$WORK/$case/$from/state" dumponly; then
        [[ $writer == zk ]] && zk_opened_cleanly "$case" back "$WORK/$case/$from/state"
        handed_back "$case" "$from" back
    fi
    echo "case $case: $((SECONDS - t0))s"
}

# ---- case c: ZooKeeper's tools on a directory

# tool_problems OUT ERR: the complaints of a ZooKeeper tool. A tool's stdout prints node data,
# which may hold any text, so only its own markers are looked for there ("CRC ERROR - <txn>"
# lines); its stderr gets exceptions, "Last transaction was partial." and logged warnings.
tool_problems() {
    grep -aq '^CRC ERROR' "$1" && echo -n "CRC ERROR lines; "
    grep -aqiE 'CRC|exception|partial|\] (WARN|ERROR) ' "$2" &&
        echo -n "stderr: $(grep -aiE -m1 'CRC|exception|partial|\] (WARN|ERROR) ' "$2" | cut -c1-100); "
}

# check_files CASE STATE: names and places of the files.
check_files() {
    local case=$1 state=$2 f bad="" others
    for f in "${LOGS[@]}" "${SNAPS[@]}"; do
        [[ ${f#*.} == "$(printf '%x' "$(hexnum "${f#*.}")")" ]] || bad+="$f "
    done
    others=$(cd "$state" && find . -type f ! -name 'log.*' ! -name 'snapshot.*' | sed 's|^\./||' | sort | tr '\n' ' ')
    check "$case: logs in dataLogDir/version-2, snapshots in dataDir/version-2, names in plain hex" \
        "$([[ ${#LOGS[@]} -gt 0 && ${#SNAPS[@]} -gt 0 && -z $bad ]]; echo $?)" \
        "${#LOGS[@]} log files, ${#SNAPS[@]} snapshots${bad:+; badly named: $bad}; other files: ${others:-none}"
}

# check_logs CASE LOGDIR LAST: TxnLogToolkit in dump mode, one JVM per file as an operator runs it;
# then the zxids of all files together. Sets TOTAL_TXNS.
check_logs() {
    local case=$1 logdir=$2 last=$3 out="$WORK/$1" f rc n zxids first count why problems=0 first_bad=""
    TOTAL_TXNS=0
    : >"$out/txnlog.zxids"
    for f in "${LOGS[@]}"; do
        rc=0
        java -cp "$ZK_CP" org.apache.zookeeper.server.persistence.TxnLogToolkit "$logdir/$f" \
            </dev/null >"$out/$f.txt" 2>"$out/$f.err" || rc=$?
        n=$(sed -n 's/^EOF reached after \([0-9]*\) txns\.$/\1/p' "$out/$f.txt" | tail -n 1)
        zxids=$(grep -aoE ' session 0x[0-9a-f]+ cxid 0x[0-9a-f]+ zxid 0x[0-9a-f]+ ' "$out/$f.txt" |
            awk '{ print $6 }')
        first=$(head -n 1 <<<"$zxids")
        count=$(grep -c . <<<"$zxids")
        why=""
        [[ $rc -ne 0 ]] && why+="exit $rc; "
        head -n 1 "$out/$f.txt" | grep -qx "$TXNLOG_HEADER" || why+="header: $(head -n 1 "$out/$f.txt" | cut -c1-80); "
        why+=$(tool_problems "$out/$f.txt" "$out/$f.err")
        [[ -z $n ]] && why+="no 'EOF reached after N txns.'; "
        [[ -n $n && $n != "$count" ]] && why+="says $n txns, printed $count; "
        [[ ${n:-0} -eq 0 ]] && why+="no txns; "
        [[ -n $first && $(hexnum "$first") -ne $(hexnum "${f#log.}") ]] && why+="first txn $first; "
        if [[ -n $why ]]; then
            problems=$((problems + 1))
            first_bad=${first_bad:-"$f: $why"}
        fi
        TOTAL_TXNS=$((TOTAL_TXNS + ${n:-0}))
        [[ -n $zxids ]] && echo "$zxids" >>"$out/txnlog.zxids"
    done
    check "$case: TxnLogToolkit reads every log file" "$((problems > 0))" \
        "${first_bad:-${#LOGS[@]} files, $TOTAL_TXNS txns}"

    # together the logs hold every zxid from the first to the last, once, in file-name order
    local prev="" z v gaps=0 lastlogged
    first_bad=""
    while read -r z; do
        v=$(hexnum "$z")
        if [[ -n $prev && $v -ne $((prev + 1)) ]]; then
            gaps=$((gaps + 1))
            [[ $gaps -eq 1 ]] && first_bad="after 0x$(printf '%x' "$prev") comes $z"
        fi
        prev=$v
    done <"$out/txnlog.zxids"
    lastlogged=$(tail -n 1 "$out/txnlog.zxids")
    check "$case: logged zxids are contiguous and end at the last zxid" \
        "$([[ $gaps -eq 0 && -n $lastlogged && $(hexnum "$lastlogged") -eq $(hexnum "$last") ]]; echo $?)" \
        "$(head -n 1 "$out/txnlog.zxids")..$lastlogged, srvr said $last${first_bad:+, $gaps gaps, first: $first_bad}"
}

# check_snapshots CASE SNAPDIR LAST: SnapshotFormatter on each snapshot (it parses the file but
# does not check the seals), then SnapCheck on all of them (the load path of a starting server).
check_snapshots() {
    local case=$1 snapdir=$2 last=$3 out="$WORK/$1" f rc why nodes lastz problems=0 first_bad="" counts=""
    for f in "${SNAPS[@]}"; do
        rc=0
        java -cp "$ZK_CP" org.apache.zookeeper.server.SnapshotFormatter "$snapdir/$f" \
            </dev/null >"$out/$f.txt" 2>"$out/$f.err" || rc=$?
        nodes=$(sed -n 's/^ZNode Details (count=\([0-9]*\)):$/\1/p' "$out/$f.txt")
        lastz=$(sed -n 's/^Last zxid: \(0x[0-9a-f]*\)$/\1/p' "$out/$f.txt")
        why=""
        [[ $rc -ne 0 ]] && why+="exit $rc; "
        why+=$(tool_problems "$out/$f.txt" "$out/$f.err")
        [[ -z $nodes ]] && why+="no 'ZNode Details (count=N):'; "
        [[ -n $nodes && $nodes -lt 4 ]] && why+="only $nodes znodes; "
        grep -q '^Session Details (sid, timeout, ephemeralCount):$' "$out/$f.txt" || why+="no sessions line; "
        if [[ -z $lastz ]]; then
            why+="no 'Last zxid'; "
        elif (( $(hexnum "$lastz") < $(hexnum "${f#snapshot.}") || $(hexnum "$lastz") > $(hexnum "$last") )); then
            why+="Last zxid $lastz outside ${f#snapshot.}..$last; "
        fi
        if [[ -n $why ]]; then
            problems=$((problems + 1))
            first_bad=${first_bad:-"$f: $why"}
        fi
        counts+="${nodes:-?} "
    done
    check "$case: SnapshotFormatter reads every snapshot" "$((problems > 0))" \
        "${first_bad:-${#SNAPS[@]} files, znode counts: $counts}"

    rc=0
    java -cp "$TOOL_CP" SnapCheck "${SNAPS[@]/#/$snapdir/}" >"$out/snapcheck.txt" 2>"$out/snapcheck.err" || rc=$?
    why=$(grep -v '^OK ' "$out/snapcheck.txt" | head -n 1)
    why+=$(tool_problems /dev/null "$out/snapcheck.err")
    check "$case: every snapshot loads with valid seals (SnapCheck)" "$([[ $rc -eq 0 && -z $why ]]; echo $?)" \
        "${why:-$(grep -c '^OK ' "$out/snapcheck.txt") OK, newest: $(tail -n 1 "$out/snapcheck.txt" | cut -c1-160)}"
}

# run_tools_case CASE STATE LAST: ZooKeeper's tools on the files of STATE (data/ and datalog/).
run_tools_case() {
    local case=$1 state=$2 last=$3 t0=$SECONDS
    local logdir="$state/datalog/version-2" snapdir="$state/data/version-2"
    echo "case $case: ZooKeeper's tools on the files in $state"
    mkdir -p "$WORK/$case"
    mapfile -t LOGS < <(by_zxid "$logdir" log)
    mapfile -t SNAPS < <(by_zxid "$snapdir" snapshot)
    check_files "$case" "$state"
    check_logs "$case" "$logdir" "$last"
    # snapCount=500: ZooKeeper rolls the log, and snapshots, at least once per 500 txns
    check "$case: snapCount 500 honoured (a log file and a snapshot per 500 txns at least)" \
        "$([[ ${#LOGS[@]} -ge $((TOTAL_TXNS / 500)) && ${#SNAPS[@]} -ge $((TOTAL_TXNS / 500)) ]]; echo $?)" \
        "$TOTAL_TXNS txns, ${#LOGS[@]} log files, ${#SNAPS[@]} snapshots"
    check_snapshots "$case" "$snapdir" "$last"
    echo "case $case: $((SECONDS - t0))s"
}

T0=$SECONDS
if [[ $ONLY_ZK -eq 1 ]]; then
    run_open_case a zk zk
    if [[ -n ${LAST_ZXID:-} ]]; then
        run_tools_case c "$WORK/a/writer/state" "$LAST_ZXID"
    fi
    # against ZooKeeper itself every check must pass
    [[ $FAILED -ne 0 ]] && HARNESS_BROKEN=1
else
    run_open_case a zk zab
    run_open_case b zab zab
    if [[ -n ${LAST_ZXID:-} ]]; then
        run_tools_case c "$WORK/b/writer/state" "$LAST_ZXID"
    else
        check "c: tools on zab-node's files (case b wrote no directory)" 1
    fi
fi
echo "total: $((SECONDS - T0))s"
summary datadir
if [[ $HARNESS_BROKEN -ne 0 ]]; then
    log "the harness failed against ZooKeeper itself"
    exit 2
fi
[[ $FAILED -eq 0 ]]
