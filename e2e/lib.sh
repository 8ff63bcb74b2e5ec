# lib.sh — helpers shared by the end-to-end suites (conformance, interop, datadir, admin, bench);
# sourced, not run: `. "$HERE/../lib.sh"`.
#
# Servers listen on 127.0.0.1 only: Apache ZooKeeper 3.8 from Debian's jars
# (`java ... QuorumPeerMain zoo.cfg`) or zab-node (`$ZAB_BIN zoo.cfg`). Every pid started through
# spawn_server (or added to PIDS) is stopped by its pid at exit once on_exit is installed.
# Safe under `set -euo pipefail`. Knobs a suite may set after sourcing (defaults in brackets):
#   READY_SECS [60]      readiness deadline of poll_ready / wait_ready (also from the environment)
#   STOP_SECS [20]       SIGTERM -> SIGKILL grace of stop_pid (also from the environment)
#   FOURLW_SECS [3]      bound on one four-letter word exchange
#   READY_ZXID [0]       1: ready also needs srvr to show a Zxid (ZooKeeper answers ruok a moment
#                        before it serves)
#   READY_OPEN_SECS [0]  >0: a port that has accepted connections that long without answering
#                        ruok counts as ready (a server without four-letter words)
#   ZK_CP                ZooKeeper's classpath (the admin suite adds servlet-api.jar for Jetty)
#   ZK_JVM_ARGS [()]     extra JVM options of every ZooKeeper start (heap, -D properties)
#   ZAB_BIN              the zab-node binary spawn_server starts

PY=/usr/bin/python3   # Debian's python, the one with python3-kazoo
JARS=/usr/share/java
# zookeeper.jar's manifest Class-Path brings netty, jute, commons-*, jackson, jetty, slf4j-api ...
ZK_CP="$JARS/zookeeper.jar:$JARS/zookeeper-jute.jar:$JARS/slf4j-simple.jar"
ZK_CLIENT_CP="$JARS/zookeeper.jar:$JARS/zookeeper-jute.jar:$JARS/slf4j-nop.jar"
ZK_MAIN=org.apache.zookeeper.server.quorum.QuorumPeerMain
SUPER_DIGEST='super:D/InIHSb7yEEbrWz8b9l71RjZJU='   # super:test
READY_SECS=${READY_SECS:-60}
STOP_SECS=${STOP_SECS:-20}
FOURLW_SECS=3
READY_ZXID=0
READY_OPEN_SECS=0
ZK_JVM_ARGS=()
PIDS=()
PASSED=0
FAILED=0

# log MSG...: one diagnostic line on stderr, prefixed with the script's name.
log() { echo "${0##*/}: $*" >&2; }

# require_tools TOOL...: exit 2 (the harness cannot run) unless every TOOL (a name or a path) exists.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { log "$tool not found"; exit 2; }
    done
}

# require_jars HINT JAR...: exit 2 unless every JAR is in $JARS; HINT says what to install.
require_jars() {
    local hint=$1 jar
    shift
    for jar in "$@"; do
        [[ -f "$JARS/$jar" ]] || { log "$JARS/$jar missing ($hint)"; exit 2; }
    done
}

# need_zab_bin [ONLY_ZK]: exit 2 unless ZAB_BIN is an executable (with ONLY_ZK 1, none may be given).
need_zab_bin() {
    if [[ -z $ZAB_BIN ]]; then
        [[ ${1:-0} -eq 1 ]] && return 0
        echo "${0##*/}: give --zab-bin PATH${1:+, or --only-zk}" >&2
        exit 2
    fi
    [[ -x $ZAB_BIN ]] || { echo "${0##*/}: $ZAB_BIN is not an executable" >&2; exit 2; }
}

# out_and_scratch NAME: out (kept; a new /tmp/NAME.XXXXXX unless set) made absolute, and scratch,
# a new /tmp/NAME-run.XXXXXX that the exit trap (on_exit) removes.
out_and_scratch() {
    [[ -n $out ]] || out=$(mktemp -d "/tmp/$1.XXXXXX")
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    scratch=$(mktemp -d "/tmp/$1-run.XXXXXX")
    on_exit 'rm -rf "$scratch"'
}

# on_exit CMD: at exit stop every pid in PIDS, then eval CMD; SIGINT/SIGTERM exit with status 130.
on_exit() {
    # shellcheck disable=SC2064 # CMD is expanded now, its own variables at exit
    trap "stop_all; $1" EXIT
    trap 'exit 130' INT TERM
}

# remove_work KEEP: deletes WORK, or (KEEP non-zero) says where it stays.
remove_work() {
    if [[ $1 -eq 0 ]]; then
        rm -rf "$WORK"
    else
        log "work directory kept: $WORK"
    fi
}

# stop_pid PID: SIGTERM, SIGKILL after STOP_SECS, reap; sets STOP_SECONDS (time to exit), STOP_KILLED.
stop_pid() {
    local pid=$1 t0 deadline=$((SECONDS + STOP_SECS))
    STOP_SECONDS=0 STOP_KILLED=0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    t0=$(date +%s%N)
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null | cut -c1) != Z ]]; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            STOP_KILLED=1
            break
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    STOP_SECONDS=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
}

# stop_all: stop_pid for every pid in PIDS, in start order.
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}

# free_ports N: N distinct loopback ports nobody listens on now, one per line.
free_ports() {
    "$PY" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# free_port: one loopback port nobody listens on now.
free_port() { free_ports 1; }

# port_open PORT: true if something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# four_letter PORT WORD [SECS]: prints the answer to a four-letter word (empty if none), SECS
# (default FOURLW_SECS) at most.
four_letter() {
    timeout "${3:-$FOURLW_SECS}" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%s" "$2" >&3 && cat <&3' \
        _ "$1" "$2" 2>/dev/null || true
}

# srvr_zxid PORT: the value of srvr's "Zxid:" line (0x...; empty if none).
srvr_zxid() { four_letter "$1" srvr | sed -n 's/^Zxid: //p'; }

# poll_ready PORT PID: polls until the server is ready (see READY_ZXID, READY_OPEN_SECS);
# status 0 ready, 1 PID exited, 2 READY_SECS passed, 3 the port only accepted connections.
poll_ready() {
    local port=$1 pid=$2 deadline=$((SECONDS + READY_SECS)) open_since=""
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if [[ $(four_letter "$port" ruok) == imok ]] &&
            { [[ $READY_ZXID -eq 0 ]] || [[ $(srvr_zxid "$port") == 0x* ]]; }; then
            return 0
        fi
        if ((READY_OPEN_SECS > 0)) && port_open "$port"; then
            open_since=${open_since:-$SECONDS}
            ((SECONDS - open_since < READY_OPEN_SECS)) || return 3
        fi
        sleep 0.1
    done
    return 2
}

# wait_ready WHO PORT PID [WHAT]: poll_ready, logging why not (WHAT, if given, names what timed out).
wait_ready() {
    local who=$1 what=${4:-} rc=0
    poll_ready "$2" "$3" || rc=$?
    case $rc in
        1) log "$who exited before it was ready" ;;
        2) log "$who${what:+: $what} not ready after ${READY_SECS}s" ;;
        3) log "$who accepts connections but does not answer ruok; going ahead"; rc=0 ;;
    esac
    return $rc
}

# write_zoo_cfg FILE PORT DATADIR [KEY=VALUE...]: a standalone zoo.cfg on 127.0.0.1:PORT with all
# four-letter words allowed, then the suite's own KEY=VALUE lines.
write_zoo_cfg() {
    local file=$1 port=$2 datadir=$3
    shift 3
    {
        echo "tickTime=2000"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$datadir"
        echo "clientPort=$port"
        echo "clientPortAddress=127.0.0.1"
        echo "4lw.commands.whitelist=*"
        printf '%s\n' "$@"
    } >"$file"
}

# spawn_server KIND CFG LOG [PROP=VALUE...]: starts zab-node (KIND zab) or ZooKeeper (any other
# KIND) on CFG in the background, output appended to LOG; each PROP goes to ZooKeeper as -DPROP and
# to zab-node as a zoo.cfg line. Pid in SERVER_PID, added to PIDS.
spawn_server() {
    local kind=$1 cfg=$2 log=$3 prop
    shift 3
    if [[ $kind == zab ]]; then
        # a value may hold '=' (superDigest): zab-node splits each line on its first '=' only
        for prop in "$@"; do echo "$prop"; done >>"$cfg"
        "$ZAB_BIN" "$cfg" >>"$log" 2>&1 &
    else
        local jvm=("${ZK_JVM_ARGS[@]}")
        for prop in "$@"; do jvm+=("-D$prop"); done
        java "${jvm[@]}" -cp "$ZK_CP" "$ZK_MAIN" "$cfg" >>"$log" 2>&1 &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# tally STATUS: counts one check in PASSED (STATUS 0) or FAILED.
tally() {
    if [[ $1 -eq 0 ]]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
}

# summary LABEL: the line CI parses, "LABEL: N passed, M failed".
summary() { echo "$1: $PASSED passed, $FAILED failed"; }
