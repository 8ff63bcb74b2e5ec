#!/usr/bin/env bash
# zab's leader election (QuorumCnxManager + FastLeaderElection) against Apache ZooKeeper 3.8's,
# on the election port, with Debian's jars. Not part of `cargo test`.
#
#   e2e/quorum/election_interop.sh [--zab-bin PATH] [--keep]
#
#   --zab-bin PATH   zab-node binary (default: target/debug/zab-node under the repo root)
#   --keep           keep the work directory (configs, logs)
#
# One view on 127.0.0.1: server.1 is zab, server.2 and server.3 are ZooKeeper, server.4 an
# observer slot for zab. zab takes part through the hidden `zab-node elect-once` (one election,
# prints `<state> <leader>`, keeps answering for --hold-ms; it never syncs or serves), with
# last zxid 0 and epoch 0, as a fresh ZooKeeper has.
#
#   1. fresh: zab 1 and ZooKeeper 2, 3 start together. Whatever leader zab decides, ZooKeeper
#      must end with that member leading and the other following (srvr "Mode:"): the three
#      counted each other's votes and the tie rule let the connections stand both ways.
#   2. rejoin: zab 1 starts again while ZooKeeper is established and not looking; it must
#      decide `following L` from ZooKeeper's answers alone (ZOOKEEPER-1732, Vote.equals on
#      leader and peer epoch after updateElectionVote).
#   3. observer: zab as observer 4 decides `observing L` from the voters' answers.
#
# Ends with `election-interop: N passed, M failed`; exit 1 if anything failed, 2 if the harness
# cannot run (no java, no jars, no zab-node). Every process started here is stopped by its pid.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZAB_BIN="$ROOT/target/debug/zab-node"
KEEP=0

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=${2:?--zab-bin needs a path}; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "election_interop.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
require_tools java
require_jars "apt-get install zookeeper" zookeeper.jar zookeeper-jute.jar slf4j-simple.jar
need_zab_bin
WORK=$(mktemp -d /tmp/election-interop.XXXXXX)
on_exit 'remove_work $((KEEP + FAILED))'

# check LABEL STATUS: one result line, counted.
check() {
    if [[ $2 -eq 0 ]]; then echo "  ok   $1"; else echo "  FAIL $1"; fi
    tally "$2"
}

# mode PORT: srvr's "Mode:" value (leader, follower, ...; empty when not serving).
mode() { four_letter "$1" srvr | sed -n 's/^Mode: //p'; }

# wait_modes: waits until ZooKeeper 2 and 3 both report a Mode (READY_SECS at most).
wait_modes() {
    local deadline=$((SECONDS + READY_SECS))
    while ((SECONDS < deadline)); do
        [[ -n $(mode "${client[2]}") && -n $(mode "${client[3]}") ]] && return 0
        sleep 0.2
    done
    return 1
}

# elect SID LOG [HOLD_MS]: runs zab's one election as member SID; prints its decision line.
elect() {
    timeout 60 "$ZAB_BIN" elect-once "$WORK/peer$1/zoo.cfg" --zxid 0 --epoch 0 --hold-ms "${3:-0}" 2>>"$2" || true
}

mapfile -t ports < <(free_ports 12)
declare -a client quorum election
servers=()
for i in 1 2 3 4; do
    client[i]=${ports[$((3 * (i - 1)))]}
    quorum[i]=${ports[$((3 * (i - 1) + 1))]}
    election[i]=${ports[$((3 * (i - 1) + 2))]}
    kind=""
    [[ $i -eq 4 ]] && kind=":observer"
    servers+=("server.$i=127.0.0.1:${quorum[i]}:${election[i]}$kind")
done
for i in 1 2 3 4; do
    mkdir -p "$WORK/peer$i/data"
    echo "$i" >"$WORK/peer$i/data/myid"
    extra=()
    [[ $i -eq 4 ]] && extra=(peerType=observer)
    write_zoo_cfg "$WORK/peer$i/zoo.cfg" "${client[i]}" "$WORK/peer$i/data" \
        admin.enableServer=false electionPortBindRetry=3 "${servers[@]}" "${extra[@]}"
done

echo "1. fresh election: zab 1, ZooKeeper 2 and 3 start together"
out1="$WORK/zab-fresh.out"
# zab keeps answering for 30 s so that a ZooKeeper member starting late learns the same leader.
"$ZAB_BIN" elect-once "$WORK/peer1/zoo.cfg" --zxid 0 --epoch 0 --hold-ms 30000 >"$out1" 2>"$WORK/zab-fresh.log" &
zab_pid=$!
PIDS+=("$zab_pid")
for i in 2 3; do
    spawn_server zk "$WORK/peer$i/zoo.cfg" "$WORK/zk$i.log"
done
wait_modes || log "ZooKeeper did not settle; see $WORK/zk2.log, $WORK/zk3.log"
deadline=$((SECONDS + 30))
while [[ ! -s $out1 ]] && ((SECONDS < deadline)); do sleep 0.1; done
read -r zab_state zab_leader <"$out1" || true
echo "  zab decided: ${zab_state:-nothing} ${zab_leader:-}; ZooKeeper 2: $(mode "${client[2]}"), 3: $(mode "${client[3]}")"
check "zab decided following or leading" "$([[ ${zab_state:-} == following || ${zab_state:-} == leading ]]; echo $?)"
leader=${zab_leader:-0}
if [[ $leader == 2 || $leader == 3 ]]; then
    other=$((5 - leader))
    check "ZooKeeper $leader leads, as zab decided" "$([[ $(mode "${client[$leader]}") == leader ]]; echo $?)"
    check "ZooKeeper $other follows" "$([[ $(mode "${client[$other]}") == follower ]]; echo $?)"
else
    check "zab's leader is a ZooKeeper member (got ${leader})" 1
fi
stop_pid "$zab_pid"

echo "2. rejoin: zab 1 starts again while ZooKeeper is established"
zk_leader=0
for i in 2 3; do [[ $(mode "${client[i]}") == leader ]] && zk_leader=$i; done
got=$(elect 1 "$WORK/zab-rejoin.log")
echo "  zab decided: ${got:-nothing}; ZooKeeper's leader: $zk_leader"
check "zab follows ZooKeeper's leader" "$([[ $got == "following $zk_leader" ]]; echo $?)"

echo "3. observer: zab as observer 4"
got=$(elect 4 "$WORK/zab-observer.log")
echo "  zab decided: ${got:-nothing}"
check "zab observes ZooKeeper's leader" "$([[ $got == "observing $zk_leader" ]]; echo $?)"
check "ZooKeeper kept its leader" "$([[ $(mode "${client[$zk_leader]}") == leader ]]; echo $?)"

summary election-interop
[[ $FAILED -eq 0 ]]
