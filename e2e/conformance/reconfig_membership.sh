#!/usr/bin/env bash
# Differential check of membership changes by reconfig, with a writer running throughout:
# the same sequence against an Apache ZooKeeper 3.8 ensemble (Debian's jars), a zab-node one,
# and two mixed ones on 127.0.0.1, the configurations each reconfig returns and each member
# serves compared with ZooKeeper's, and the longest write pause of each step printed.
#
# Ensembles (the kind of members 1..6): zk (all ZooKeeper), zab (all zab-node),
# zab-leads-zk (1, 2, 5, 6 ZooKeeper; 3 and 4 zab, 3 started first so that it leads: a zab
# leader reconfigures ZooKeeper members, and after step 3 a ZooKeeper leader zab ones) and
# zk-leads-zab (the reverse).
#
#   e2e/conformance/reconfig_membership.sh [--zab-bin PATH] [--keep]
#
#   --zab-bin PATH   zab-node binary (default: target/release/zab-node under the repo root)
#   --keep           keep the work directory (configs, data dirs, logs, results)
#
# Members start as server.1..3 (reconfigEnabled=true, standaloneEnabled=false, a super user by
# zookeeper.DigestAuthenticationProvider.superDigest, tickTime 2000). A writer
# (e2e/bench/failover_writer.py: one kazoo session on members 1..3, one write at a time) runs
# from the start to the end. The steps, each a reconfig as super through a member that stays:
#   1 add 4 and 5: both started with the running members and themselves in zoo.cfg (they join
#     as non-voting followers), then `reconfig -add` both as participants (3 -> 5 voters);
#   2 remove 4 and 5 (5 -> 3), then they are stopped;
#   3 remove the leader: its designated successor leads; the old leader is stopped;
#   4 add an observer (6, started with the remaining members and itself as observer);
#   5 promote it: `reconfig -add` its line as participant.
# Compared: what each reconfig returns (OK and the configuration, or the error), and
# /zookeeper/config on every member still running at the end. Normalised: ports become names,
# versions become {V1}, {V2}, ... in order of appearance (each reconfig's zxid depends on the
# writes before it), and at step 3 the leader becomes {L} and the two others {A} (lower id) and
# {B}, as the two ensembles may elect differently. The pauses are printed, not compared: per
# step, the longest time between two acknowledged writes around it, and the writes that failed.
#
# Ends with `reconfig-membership: N passed, M failed`; exit 1 if anything failed, 2 if the
# harness cannot run. Every process started here is stopped by its pid.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=reconfig-lib.sh
. "$HERE/reconfig-lib.sh"
DRIVE=$HERE/membership.py
WRITER=$ROOT/e2e/bench/failover_writer.py

declare -a client quorum election pid kinds

# kinds_of ENSEMBLE: the kind of members 1..6.
kinds_of() {
    case $1 in
        zk) echo zk zk zk zk zk zk ;;
        zab) echo zab zab zab zab zab zab ;;
        zab-leads-zk) echo zk zk zab zab zk zk ;;
        zk-leads-zab) echo zab zab zk zk zab zab ;;
    esac
}

# line I TYPE: member I's server line.
line() { echo "server.$1=127.0.0.1:${quorum[$1]}:${election[$1]}:$2;127.0.0.1:${client[$1]}"; }

# member ENSEMBLE I LINES...: member I (of the kind kinds[I]), its directory and zoo.cfg (the
# server lines given), started.
member() {
    local i=$2 dir kind
    shift 2
    kind=${kinds[i]}
    dir=$BASE/s$i
    mkdir -p "$dir/conf" "$dir/data"
    echo "$i" >"$dir/data/myid"
    {
        printf '%s\n' tickTime=2000 initLimit=10 syncLimit=5 "dataDir=$dir/data" "4lw.commands.whitelist=*" \
            admin.enableServer=false reconfigEnabled=true standaloneEnabled=false
        printf '%s\n' "$@"
    } >"$dir/conf/zoo.cfg"
    spawn_server "$kind" "$dir/conf/zoo.cfg" "$dir/server.log" \
        "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST"
    pid[i]=$SERVER_PID
}

stop_member() { stop_pid "${pid[$1]}"; pid[$1]=""; }

mode_of() { four_letter "${client[$1]}" srvr | sed -n 's/^Mode: //p'; }

# leader_among IDS...: the id of the one that leads (empty if none).
leader_among() {
    local i
    for i in "$@"; do [[ $(mode_of "$i") == leader ]] && { echo "$i"; return; }; done
}

# wait_until SECS CMD...: polls CMD every 100 ms until it succeeds; status 1 on time-out.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

acked_since() { [[ -f $BASE/writer.log ]] && awk -v ns="$1" '$1 > ns && $3 == "ok" { found = 1; exit } END { exit !found }' "$BASE/writer.log"; }
has_leader() { [[ -n $(leader_among "$@") ]]; }

# step NAME: opens a step (its start time); end_step closes it once a write issued after the
# step's last action is acknowledged, and a second has passed.
step() { STEP_NAME=$1; STEP_START=$(date +%s%N); echo "  [$KIND] $1"; }
end_step() {
    local t
    t=$(date +%s%N)
    wait_until 60 acked_since "$t" || echo "  [$KIND] no write acknowledged 60 s after: $STEP_NAME"
    sleep 1
    echo "$STEP_NAME $STEP_START $(date +%s%N)" >>"$BASE/steps"
}

# drive I ARGS...: membership.py through member I's client port; output to RES/FILE.
reconfig_via() {
    local i=$1 out=$2 joining=$3 leaving=$4
    timeout 120 "$PY" "$DRIVE" reconfig "${client[i]}" "$SUPER_PASSWORD" "$joining" "$leaving" >"$RES/$out" \
        2>>"$BASE/kazoo.log" || echo "(reconfig failed)" >>"$RES/$out"
}

# run KIND: the ensemble, the writer and the steps; every process stopped afterwards.
run() {
    steps "$1" || true
    [[ -n ${WRITER_PID:-} ]] && stop_pid "$WRITER_PID"
    WRITER_PID=""
    local i
    for i in 1 2 3 4 5 6; do [[ -n ${pid[i]:-} ]] && stop_member "$i"; done
    normalise
}

steps() {
    local kind=$1 i ports l a b next rest=()
    pid=()
    LABELS=()
    read -r -a kinds <<<"_ $(kinds_of "$kind")"
    KIND=$kind BASE=$WORK/$kind RES=$WORK/results/$kind
    mkdir -p "$BASE" "$RES"
    : >"$BASE/steps"
    mapfile -t ports < <(free_ports 18)
    for i in 1 2 3 4 5 6; do
        client[i]=${ports[$((3 * (i - 1)))]}
        quorum[i]=${ports[$((3 * (i - 1) + 1))]}
        election[i]=${ports[$((3 * (i - 1) + 2))]}
    done
    local three=("$(line 1 participant)" "$(line 2 participant)" "$(line 3 participant)")
    # 3 first, alone until its election port listens: the first two up elect the higher id.
    member "$kind" 3 "${three[@]}"
    wait_until 60 port_open "${election[3]}" || true
    for i in 1 2; do member "$kind" "$i" "${three[@]}"; done
    for i in 1 2 3; do wait_ready "$kind s$i" "${client[i]}" "${pid[i]}" || { echo "(not serving)" >"$RES/setup"; return; }; done
    "$PY" "$WRITER" "127.0.0.1:${client[1]},127.0.0.1:${client[2]},127.0.0.1:${client[3]}" --prefix /membership \
        >"$BASE/writer.log" 2>"$BASE/writer.err" &
    WRITER_PID=$!
    PIDS+=("$WRITER_PID")
    wait_until 60 acked_since 0 || { echo "(the writer got no acknowledgement)" >"$RES/setup"; return; }
    sleep 1

    step "1 add 4 and 5 (3 -> 5 voters)"
    member "$kind" 4 "${three[@]}" "$(line 4 participant)"
    member "$kind" 5 "${three[@]}" "$(line 5 participant)"
    wait_ready "$kind s4" "${client[4]}" "${pid[4]}" || true
    wait_ready "$kind s5" "${client[5]}" "${pid[5]}" || true
    reconfig_via 1 1-add "$(line 4 participant),$(line 5 participant)" -
    end_step

    step "2 remove 4 and 5 (5 -> 3 voters)"
    reconfig_via 1 2-remove - 4,5
    stop_member 4
    stop_member 5
    end_step

    l=$(leader_among 1 2 3)
    for i in 1 2 3; do [[ $i == "$l" ]] || rest+=("$i"); done
    a=${rest[0]:-} b=${rest[1]:-}
    LABELS=("$l=>L" "$a=>A" "$b=>B")
    if [[ -z $l || -z $b ]]; then
        echo "(no leader and two followers)" >"$RES/3-remove-leader"
        return
    fi
    echo "  [$KIND] the leader, member $l, is ${kinds[l]}" | tee -a "$WORK/leaders"
    step "3 remove the leader"
    # The asking member's epoch ends with the leader's: whether its answer or a ConnectionLoss
    # comes first is a race, in ZooKeeper as in zab; what it serves afterwards is compared.
    reconfig_via "$a" 3-asked - "$l"
    : >"$RES/3-remove-leader"
    wait_until 60 has_leader "$a" "$b" || echo "(no new leader among the two others)" >>"$RES/3-remove-leader"
    next=$(leader_among "$a" "$b")
    [[ -n $next ]] && echo "  [$KIND] then member $next leads, ${kinds[next]}" | tee -a "$WORK/leaders"
    # Which of the two leads next depends on who acknowledged the most after the reconfig.
    [[ -n $(leader_among "$a" "$b") ]] && echo "a member that stays leads" >>"$RES/3-remove-leader"
    stop_member "$l"
    timeout 60 "$PY" "$DRIVE" config "${client[a]}" >>"$RES/3-remove-leader" 2>>"$BASE/kazoo.log" ||
        echo "(get failed)" >>"$RES/3-remove-leader"
    end_step

    step "4 add an observer (6)"
    member "$kind" 6 "$(line "$a" participant)" "$(line "$b" participant)" "$(line 6 observer)"
    wait_ready "$kind s6" "${client[6]}" "${pid[6]}" || true
    reconfig_via "$a" 4-add-observer "$(line 6 observer)" -
    end_step

    step "5 promote 6 to participant"
    reconfig_via "$a" 5-promote "$(line 6 participant)" -
    end_step

    stop_pid "$WRITER_PID"
    WRITER_PID=""
    for i in "$a" "$b" 6; do
        timeout 60 "$PY" "$DRIVE" config "${client[i]}" >"$RES/final-s$i" 2>>"$BASE/kazoo.log" ||
            echo "(get failed)" >>"$RES/final-s$i"
    done
    "$PY" "$DRIVE" pauses "$BASE/writer.log" "$BASE/steps" >"$WORK/pauses-$kind"
}

# normalise: in every result file of RES, ports become names, member ids of step 3 become
# their labels, versions become {V1}, {V2}, ... in order of appearance across the files.
normalise() {
    local f i m
    declare -A seen=()
    local n=0
    rm -f "$RES/3-asked"
    for f in "$RES"/1-add "$RES"/2-remove "$RES"/3-remove-leader "$RES"/4-add-observer "$RES"/5-promote "$RES"/final-s*; do
        [[ -f $f ]] || continue
        for i in 1 2 3 4 5 6; do
            sed -i -e "s/\b${client[i]}\b/{client$i}/g; s/\b${quorum[i]}\b/{quorum$i}/g; s/\b${election[i]}\b/{election$i}/g" "$f"
        done
        for m in "${LABELS[@]}"; do
            sed -i -e "s/server\.${m%=>*}=/server.{${m#*=>}}=/; s/{\(client\|quorum\|election\)${m%=>*}}/{\1${m#*=>}}/g" "$f"
        done
        while read -r v; do
            [[ -n ${seen[$v]:-} ]] || { n=$((n + 1)); seen[$v]="{V$n}"; }
            sed -i "s/^version=$v\$/version=${seen[$v]}/" "$f"
        done < <(sed -n 's/^version=//p' "$f")
    done
    # the final configurations by label, not by member id
    for m in "${LABELS[@]}"; do
        [[ -f $RES/final-s${m%=>*} ]] && mv "$RES/final-s${m%=>*}" "$RES/final-${m#*=>}"
    done
}

# compare ENSEMBLE: every result file of ZooKeeper's against ENSEMBLE's.
compare() { compare_results "$WORK/results/zk" "$WORK/results/$1" "$1"; }

ENSEMBLES=(zk zab zab-leads-zk zk-leads-zab)
for ens in "${ENSEMBLES[@]}"; do
    echo "== $ens"
    run "$ens"
done
for ens in "${ENSEMBLES[@]:1}"; do
    echo "== $ens compared with zk"
    compare "$ens"
done
echo "== the longest write pause per step (ms) and the writes that failed in it (ms/failed)"
printf '%-34s' step
for ens in "${ENSEMBLES[@]}"; do printf ' %14s' "$ens"; done
echo
paste "${ENSEMBLES[@]/#/$WORK/pauses-}" 2>/dev/null |
    awk -F'\t' '{ printf "%-34s", $1; for (i = 2; i <= NF; i += 3) printf " %14s", $i "/" $(i + 1); print "" }'
summary reconfig-membership
[[ $FAILED -eq 0 ]]
