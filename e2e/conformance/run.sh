#!/usr/bin/env bash
# Differential conformance run: the same scripted client session (Conformance.java) against a fresh
# Apache ZooKeeper 3.8 (Debian's jars) and against a fresh zab-node, then a per-scenario diff.
#
#   e2e/conformance/run.sh [--zab-bin PATH] [--only-zk] [--scenarios a,b,...] [--keep]
#
#   --zab-bin PATH   zab-node binary (default: target/release/zab-node under the repo root)
#   --only-zk        run against ZooKeeper only and print its transcript
#   --scenarios L    run only the named scenarios (comma separated; names as in the transcript)
#   --keep           keep the work directory (configs, data dirs, logs, transcripts)
#
# Exit status: 0 all scenarios matched; 1 a difference or a failed zab-node run; 2 the harness
# itself failed (no javac, ZooKeeper did not start, the ZooKeeper transcript has an abort).
# Everything listens on 127.0.0.1 only; every process started here is stopped by its pid.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ZAB_BIN="$ROOT/target/release/zab-node"
ONLY_ZK=0
KEEP=0
SCENARIOS=""

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=$2; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --only-zk) ONLY_ZK=1; shift ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --scenarios=*) SCENARIOS=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

JARS=/usr/share/java
# zookeeper.jar's manifest Class-Path pulls in netty, jute, slf4j-api, commons-*, metrics ...
CLIENT_CP="$JARS/zookeeper.jar:$JARS/zookeeper-jute.jar:$JARS/slf4j-nop.jar"
SERVER_CP="$JARS/zookeeper.jar:$JARS/zookeeper-jute.jar:$JARS/slf4j-simple.jar"
SUPER_DIGEST='super:D/InIHSb7yEEbrWz8b9l71RjZJU='   # super:test
READY_DEADLINE_S=60
CLIENT_DEADLINE_S=600

WORK=$(mktemp -d /tmp/zab-conformance.XXXXXX)
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ $KEEP -eq 0 ]]; then
        rm -rf "$WORK"
    else
        echo "run.sh: work directory kept: $WORK" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run.sh: $*" >&2; }

for tool in java javac; do
    command -v "$tool" >/dev/null || { log "$tool not found"; exit 2; }
done
for jar in zookeeper.jar zookeeper-jute.jar slf4j-nop.jar slf4j-simple.jar; do
    [[ -f "$JARS/$jar" ]] || { log "$JARS/$jar missing (apt-get install zookeeper libslf4j-java)"; exit 2; }
done

# A loopback port nobody listens on (a connect attempt fails).
free_port() {
    local port i
    for i in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

# Sends a four-letter word, prints the answer (empty if none).
four_letter() {
    local port=$1 word=$2
    ( exec 3<>"/dev/tcp/127.0.0.1/$port" && printf '%s' "$word" >&3 && timeout 2 cat <&3 ) 2>/dev/null || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until the server on $port answers ruok with imok (ZooKeeper) or, for a server that does
# not implement four-letter words, at least accepts connections for a while.
wait_ready() {
    local name=$1 port=$2 pid=$3
    local start=$SECONDS open_since=""
    while (( SECONDS - start < READY_DEADLINE_S )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it was ready"
            return 1
        fi
        if [[ $(four_letter "$port" ruok) == imok ]]; then
            return 0
        fi
        if port_open "$port"; then
            open_since=${open_since:-$SECONDS}
            if (( SECONDS - open_since >= 5 )); then
                log "$name accepts connections but does not answer ruok; going ahead"
                return 0
            fi
        fi
        sleep 0.2
    done
    log "$name not ready after ${READY_DEADLINE_S}s"
    return 1
}

write_config() {
    local file=$1 port=$2 datadir=$3
    cat >"$file" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$datadir
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
maxClientCnxns=60
minSessionTimeout=2000
maxSessionTimeout=20000
EOF
}

# ---- compile the client program
mkdir -p "$WORK/classes"
if ! javac -nowarn -d "$WORK/classes" -cp "$CLIENT_CP" "$HERE/Conformance.java" 2>"$WORK/javac.log"; then
    cat "$WORK/javac.log" >&2
    log "Conformance.java does not compile"
    exit 2
fi

# run_against NAME: starts the server in $WORK/NAME, runs the script, stops the server.
# Leaves the transcript in $WORK/NAME.txt. Returns non-zero if the server or the client failed.
run_against() {
    local name=$1 dir="$WORK/$1" port pid rc=0 t0=$SECONDS
    mkdir -p "$dir/data"
    port=$(free_port)
    write_config "$dir/zoo.cfg" "$port" "$dir/data"
    if [[ $name == zookeeper ]]; then
        java -cp "$SERVER_CP" \
            -Dzookeeper.extendedTypesEnabled=true \
            -Dznode.container.checkIntervalMs=100 \
            "-Dzookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST" \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
            >"$dir/server.log" 2>&1 &
    else
        {
            echo "zookeeper.extendedTypesEnabled=true"
            echo "znode.container.checkIntervalMs=100"
            echo "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST"
        } >>"$dir/zoo.cfg"
        "$ZAB_BIN" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    fi
    pid=$!
    PIDS+=("$pid")
    if ! wait_ready "$name" "$port" "$pid"; then
        tail -n 30 "$dir/server.log" >&2 || true
        : >"$WORK/$name.txt"
        rc=1
    else
        local args=("127.0.0.1:$port")
        [[ -n $SCENARIOS ]] && args+=("$SCENARIOS")
        timeout "$CLIENT_DEADLINE_S" java -cp "$WORK/classes:$CLIENT_CP" Conformance "${args[@]}" \
            >"$WORK/$name.txt" 2>"$dir/client.log" || rc=$?
        case $rc in
            0) ;;
            3) log "$name: some scenarios aborted (a step timed out; details in $dir/client.log)" ;;
            124) log "$name: the client run exceeded ${CLIENT_DEADLINE_S}s and was stopped" ;;
            *) log "$name: client exited with status $rc (see $dir/client.log)" ;;
        esac
    fi
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    else
        log "$name: server was no longer running at the end"
        rc=1
    fi
    log "$name: $((SECONDS - t0))s"
    return $rc
}

# Splits a transcript into one file per scenario (DIR/NAME), prints the scenario names.
split_scenarios() {
    local file=$1 dir=$2
    mkdir -p "$dir"
    awk -v dir="$dir" '
        /^## / { name = substr($0, 4); if (name == "end") { out = ""; next } out = dir "/" name; print name; printf "" > out; next }
        out != "" { print >> out }
    ' "$file"
}

zk_rc=0
run_against zookeeper || zk_rc=$?
if grep -q '^!! aborted' "$WORK/zookeeper.txt"; then
    grep -B3 '^!! aborted' "$WORK/zookeeper.txt" >&2
    log "the script aborted against ZooKeeper itself: the suite is broken"
    zk_rc=2
fi

if [[ $ONLY_ZK -eq 1 ]]; then
    cat "$WORK/zookeeper.txt"
    [[ $zk_rc -eq 0 ]] || exit 2
    exit 0
fi
if [[ $zk_rc -ne 0 ]]; then
    log "reference run against ZooKeeper failed"
    exit 2
fi

zab_rc=0
if [[ ! -x $ZAB_BIN ]]; then
    log "zab-node binary not found or not executable: $ZAB_BIN"
    : >"$WORK/zab.txt"
    zab_rc=1
else
    run_against zab || zab_rc=$?
fi

if [[ -s "$WORK/zab.txt" ]]; then
    diff -u --label zookeeper --label zab "$WORK/zookeeper.txt" "$WORK/zab.txt" || true
else
    log "no transcript from zab-node; every scenario counts as different"
fi

mapfile -t names < <(split_scenarios "$WORK/zookeeper.txt" "$WORK/split-zookeeper")
split_scenarios "$WORK/zab.txt" "$WORK/split-zab" >/dev/null
passed=0
failed=0
for n in "${names[@]}"; do
    if [[ -f "$WORK/split-zab/$n" ]] && cmp -s "$WORK/split-zookeeper/$n" "$WORK/split-zab/$n"; then
        echo "  match     $n"
        passed=$((passed + 1))
    else
        echo "  DIFFERENT $n"
        failed=$((failed + 1))
    fi
done
if [[ $zab_rc -ne 0 ]]; then
    log "the zab-node run failed (status $zab_rc)"
fi
echo "conformance: $passed passed, $failed failed"
if [[ $failed -ne 0 || $zab_rc -ne 0 ]]; then
    exit 1
fi
exit 0
