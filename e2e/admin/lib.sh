# lib.sh — helpers shared by run.sh (standalone) and ensemble.sh (three peers); sourced, not run.
#
# The sourcing script sets NAME (its name, for messages), KEEP (1: keep WORK) and then calls
# admin_init, which makes WORK (a fresh /tmp/zab-admin.XXXXXX), installs the exit trap that stops
# every pid in PIDS (TERM, KILL after STOP_SECS) and removes WORK, and checks the tools.
# Everything listens on 127.0.0.1 only.

PY=/usr/bin/python3   # Debian's python, the one with python3-kazoo
JARS=/usr/share/java
# zookeeper.jar's manifest brings Jetty, Jackson, netty ...; Jetty needs javax.servlet on top
# (without it ZooKeeper logs "Unable to load jetty, not starting JettyAdminServer").
ZK_CP="$JARS/zookeeper.jar:$JARS/zookeeper-jute.jar:$JARS/slf4j-simple.jar:$JARS/servlet-api.jar"
READY_SECS=${READY_SECS:-60}
SESSION_SECS=${SESSION_SECS:-60}
FETCH_SECS=${FETCH_SECS:-300}
STOP_SECS=${STOP_SECS:-20}
TSV_HEADER='label\tmethod\tpath\tcheck\tstatus\tcontent_type\tfile\n'
PIDS=()

log() { echo "$NAME: $*" >&2; }

admin_init() {
    WORK=$(mktemp -d /tmp/zab-admin.XXXXXX)
    trap admin_cleanup EXIT
    trap 'exit 130' INT TERM
    command -v java >/dev/null || { log "java not found"; exit 2; }
    [[ -x $PY ]] || { log "$PY not found"; exit 2; }
    "$PY" -c 'import kazoo' 2>/dev/null || { log "kazoo missing for $PY (apt-get install python3-kazoo)"; exit 2; }
    local jar
    for jar in zookeeper.jar zookeeper-jute.jar slf4j-simple.jar servlet-api.jar; do
        [[ -f "$JARS/$jar" ]] ||
            { log "$JARS/$jar missing (apt-get install zookeeper libslf4j-java libservlet-api-java)"; exit 2; }
    done
}

admin_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ ${KEEP:-0} -eq 0 ]]; then
        rm -rf "$WORK"
    else
        echo "$NAME: work directory kept: $WORK" >&2
    fi
}

# stop_pid PID: TERM, KILL after STOP_SECS, then reap.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + STOP_SECS))
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null | cut -c1) != Z ]]; do
        if (( SECONDS >= deadline )); then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
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

# Sends a four-letter word, prints the answer (empty if none).
four_letter() {
    local port=$1 word=$2
    ( exec 3<>"/dev/tcp/127.0.0.1/$port" && printf '%s' "$word" >&3 && timeout 2 cat <&3 ) 2>/dev/null || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_client_port WHO PORT PID: until ruok answers imok or (a server without four-letter words)
# the port has accepted connections for 5 s; READY_SECS at most.
wait_client_port() {
    local who=$1 port=$2 pid=$3 start=$SECONDS open_since=""
    while (( SECONDS - start < READY_SECS )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$who exited before it was ready"
            return 1
        fi
        [[ $(four_letter "$port" ruok) == imok ]] && return 0
        if port_open "$port"; then
            open_since=${open_since:-$SECONDS}
            if (( SECONDS - open_since >= 5 )); then
                log "$who accepts connections but does not answer ruok; going ahead"
                return 0
            fi
        fi
        sleep 0.2
    done
    log "$who: client port $port not ready after ${READY_SECS}s"
    return 1
}

# wait_admin WHO ADMIN_PORT PID: until GET /commands/ruok answers 200; READY_SECS at most.
wait_admin() {
    "$PY" "$HERE/fetch.py" wait "http://127.0.0.1:$2" --deadline "$READY_SECS" --pid "$3" ||
        { log "$1: AdminServer on 127.0.0.1:$2 not ready"; return 1; }
}

# start_session WHO CLIENT_PORT DIR: session.py in the background (pid in SPID, added to PIDS);
# waits for its ready line, SESSION_SECS at most.
start_session() {
    local who=$1 port=$2 dir=$3 deadline=$((SECONDS + SESSION_SECS))
    "$PY" "$HERE/session.py" "127.0.0.1:$port" >"$dir/session.out" 2>"$dir/session.err" &
    SPID=$!
    PIDS+=("$SPID")
    while ! grep -q '^ready ' "$dir/session.out" 2>/dev/null; do
        if ! kill -0 "$SPID" 2>/dev/null; then
            log "$who: session.py exited before it was ready"
            cat "$dir/session.err" >&2 || true
            return 1
        fi
        if (( SECONDS >= deadline )); then
            log "$who: session.py not ready after ${SESSION_SECS}s"
            return 1
        fi
        sleep 0.1
    done
}

# fetch_all WHO ADMIN_PORT OUTDIR: every request of fetch.py into OUTDIR.
fetch_all() {
    timeout "$FETCH_SECS" "$PY" "$HERE/fetch.py" fetch "http://127.0.0.1:$2" "$3" ||
        { log "$1: fetch.py failed"; return 1; }
}

# ensure_index OUTDIR: an empty responses.tsv when nothing was fetched (every request then counts
# as different in the comparison).
ensure_index() {
    mkdir -p "$1"
    [[ -f "$1/responses.tsv" ]] || printf "$TSV_HEADER" >"$1/responses.tsv"
}

# write_zoo_cfg FILE CLIENT_PORT ADMIN_PORT DATADIR: the zoo.cfg keys both servers get.
write_zoo_cfg() {
    cat >"$1" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$4
clientPort=$2
clientPortAddress=127.0.0.1
admin.enableServer=true
admin.serverAddress=127.0.0.1
admin.serverPort=$3
4lw.commands.whitelist=*
maxClientCnxns=60
minSessionTimeout=4000
maxSessionTimeout=40000
EOF
}

# start_server TARGET CFG LOG: ZooKeeper (TARGET zookeeper) or $ZAB_BIN on CFG in the background;
# pid in SERVER_PID, added to PIDS.
start_server() {
    if [[ $1 == zookeeper ]]; then
        java -Xmx512m -cp "$ZK_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$2" >"$3" 2>&1 &
    else
        "$ZAB_BIN" "$2" >"$3" 2>&1 &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}
