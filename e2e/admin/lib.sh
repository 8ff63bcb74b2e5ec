# lib.sh — the admin suite's helpers on top of e2e/lib.sh, shared by run.sh (standalone) and
# ensemble.sh (three peers); sourced, not run.
#
# The sourcing script sets KEEP (1: keep WORK) and then calls admin_init, which makes WORK (a fresh
# /tmp/zab-admin.XXXXXX), installs the exit trap that stops every pid in PIDS (TERM, KILL after
# STOP_SECS) and removes WORK, and checks the tools. Everything listens on 127.0.0.1 only.

# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
# Jetty (brought by zookeeper.jar's manifest) needs javax.servlet on top (without it ZooKeeper logs
# "Unable to load jetty, not starting JettyAdminServer").
ZK_CP+=":$JARS/servlet-api.jar"
ZK_JVM_ARGS=(-Xmx512m)
FOURLW_SECS=2
READY_OPEN_SECS=5   # a server without four-letter words: going ahead once its port accepts for 5 s
SESSION_SECS=${SESSION_SECS:-60}
FETCH_SECS=${FETCH_SECS:-300}
TSV_HEADER='label\tmethod\tpath\tcheck\tstatus\tcontent_type\tfile\n'

admin_init() {
    WORK=$(mktemp -d /tmp/zab-admin.XXXXXX)
    on_exit 'remove_work "${KEEP:-0}"'
    require_tools java "$PY"
    "$PY" -c 'import kazoo' 2>/dev/null || { log "kazoo missing for $PY (apt-get install python3-kazoo)"; exit 2; }
    require_jars "apt-get install zookeeper libslf4j-java libservlet-api-java" \
        zookeeper.jar zookeeper-jute.jar slf4j-simple.jar servlet-api.jar
}

# wait_client_port WHO PORT PID: until ruok answers imok or (a server without four-letter words)
# the port has accepted connections for 5 s; READY_SECS at most.
wait_client_port() { wait_ready "$1" "$2" "$3" "client port $2"; }

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

# fetch_fourlw WHO CLIENT_PORT OUTDIR: every read-only four-letter word into OUTDIR (fourlw.py).
fetch_fourlw() {
    timeout "$FETCH_SECS" "$PY" "$HERE/fourlw.py" fetch "$2" "$3" ||
        { log "$1: fourlw.py fetch failed"; return 1; }
}

# ensure_index OUTDIR: an empty responses.tsv when nothing was fetched (every request then counts
# as different in the comparison).
ensure_index() {
    mkdir -p "$1"
    [[ -f "$1/responses.tsv" ]] || printf "$TSV_HEADER" >"$1/responses.tsv"
}

# write_admin_cfg FILE CLIENT_PORT ADMIN_PORT DATADIR: the zoo.cfg keys both servers get.
write_admin_cfg() {
    write_zoo_cfg "$1" "$2" "$4" admin.enableServer=true admin.serverAddress=127.0.0.1 "admin.serverPort=$3" \
        maxClientCnxns=60 minSessionTimeout=4000 maxSessionTimeout=40000
}
