# lib.sh — helpers shared by durability.sh and restart.sh (sourced, not run).
# Same conventions as compare.sh: servers one at a time on a free 127.0.0.1
# port, fresh mktemp dataDirs under /tmp, readiness by polling `ruok` against a
# deadline, ZooKeeper as `java -Xmx1g` from Debian's jars, every process this
# script starts is stopped by its pid.
#
# The sourcing script sets: out (kept logs), scratch (deleted on exit),
# zab_bin, load_bin; and may call bench_wait_quiet before measuring.

here=${here:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
repo=${repo:-$(cd "$here/../.." && pwd)}
PY=/usr/bin/python3
PROBE=$here/zkprobe.py
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
ZK_HEAP=${ZK_HEAP:-1g}
READY_SECS=${READY_SECS:-60}
STOP_SECS=${STOP_SECS:-20}
BUILD_WAIT_SECS=${BUILD_WAIT_SECS:-3600}

pids=()
bench_cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    [ -n "${scratch:-}" ] && rm -rf "$scratch"
}

# stop_pid PID: SIGTERM, SIGKILL after STOP_SECS. Sets STOP_SECONDS (wall
# time to exit) and STOP_KILLED (1 if it had to be killed).
stop_pid() {
    local pid=$1 t0 deadline=$((SECONDS + STOP_SECS))
    STOP_SECONDS=0 STOP_KILLED=0
    kill -0 "$pid" 2>/dev/null || return 0
    t0=$(date +%s%N)
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill -KILL "$pid" 2>/dev/null
            STOP_KILLED=1
            break
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    STOP_SECONDS=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ruok() {
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && cat <&3' _ "$1" 2>/dev/null
}

# srvr_zxid PORT -> the Zxid srvr reports, as 0x... (empty if none)
srvr_zxid() {
    timeout 5 "$PY" "$PROBE" fourlw "$1" srvr 2>/dev/null | awk '/^Zxid:/ { print $2 }'
}

# write_cfg DIR PORT: DIR/zoo.cfg with dataDir DIR/data, fsync on.
write_cfg() {
    local dir=$1 port=$2
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
zookeeper.extendedTypesEnabled=true
forceSync=yes
EOF
}

# launch TARGET DIR LOG: starts the server on DIR/zoo.cfg in the background
# (no waiting); sets PID and LAUNCH_NS (date +%s%N just before the fork).
launch() {
    local target=$1 dir=$2 log=$3
    LAUNCH_NS=$(date +%s%N)
    case $target in
        # shellcheck disable=SC2086 # ZK_JAVA_OPTS is a list of words
        zk) java -Xmx"$ZK_HEAP" ${ZK_JAVA_OPTS:-} -Dzookeeper.extendedTypesEnabled=true -cp "$ZK_CP" \
                org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >>"$log" 2>&1 & ;;
        zab) "$zab_bin" "$dir/zoo.cfg" >>"$log" 2>&1 & ;;
    esac
    PID=$!
    pids+=("$PID")
    echo "$PID" >>"$scratch/.ours"
}

# wait_ruok TARGET PORT PID LOG: polls ruok until imok, READY_SECS at most.
wait_ruok() {
    local target=$1 port=$2 pid=$3 log=$4 deadline=$((SECONDS + READY_SECS))
    while [ "$(ruok "$port")" != imok ]; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            echo "[$target] not ready (log: $log)" >&2
            return 1
        fi
        sleep 0.1
    done
}

# start TARGET: fresh dataDir and port, waits for ruok; sets PID, PORT, DIR.
start() {
    local target=$1
    DIR=$(mktemp -d "$scratch/$target.XXXXXX")
    PORT=$(free_port)
    write_cfg "$DIR" "$PORT"
    cp "$DIR/zoo.cfg" "$out/$target.zoo.cfg"
    launch "$target" "$DIR" "$out/$target.server.log"
    wait_ruok "$target" "$PORT" "$PID" "$out/$target.server.log" || return 1
    echo "[$target] pid $PID on 127.0.0.1:$PORT, dataDir $DIR/data"
}

# load TARGET NAME ARGS...: one zab-load run against PORT; its JSON line goes
# to $out/TARGET.NAME.json.
load() {
    local target=$1 name=$2
    shift 2
    "$load_bin" --connect "127.0.0.1:$PORT" --label "$target" "$@" >"$out/$target.$name.txt" 2>&1
    local rc=$?
    sed 's/^/    /' "$out/$target.$name.txt" | grep -v '^    {'
    grep '^{' "$out/$target.$name.txt" | tail -n 1 >"$out/$target.$name.json"
    return $rc
}

# busy: true while something else loads the machine: cargo or rustc, or a
# java / zab-node process this script did not start (someone's tests) that
# used more than 10% of a core over one second (idle ones do not count).
busy() {
    local p others=() t1 t2
    BUSY_WHAT=
    pgrep -x cargo >/dev/null && { BUSY_WHAT=cargo; return 0; }
    pgrep rustc >/dev/null && { BUSY_WHAT=rustc; return 0; }
    for p in $(pgrep -x java; pgrep -x zab-node); do
        grep -qx "$p" "$scratch/.ours" 2>/dev/null || others+=("$p")
    done
    [ ${#others[@]} -eq 0 ] && return 1
    t1=$(cpu_ticks "${others[@]}")
    sleep 1
    t2=$(cpu_ticks "${others[@]}")
    BUSY_WHAT="pids ${others[*]}"
    [ $((t2 - t1)) -gt $(($(getconf CLK_TCK) / 10)) ]
}
cpu_ticks() { # PIDS... -> utime+stime summed, in clock ticks
    local p sum=0 f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086 # split the fields on purpose
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    echo "$sum"
}

# bench_wait_quiet: measurements on 2 cores are worthless while cargo/rustc
# or others' servers run; wait (BUILD_WAIT_SECS at most) until `busy` is false.
bench_wait_quiet() {
    local deadline=$((SECONDS + BUILD_WAIT_SECS)) said=0
    touch "$scratch/.waiting"
    while busy; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "warning: cargo/rustc (or someone else's java/zab-node) still running after ${BUILD_WAIT_SECS}s; measuring anyway" >&2
            break
        fi
        [ "$said" -eq 0 ] && echo "waiting for the running cargo/rustc (or someone else's java/zab-node) to finish before measuring ..." >&2
        said=1
        sleep 5
    done
    rm -f "$scratch/.waiting"
}

# fsync_probe NAME DIR: write+fdatasync loops (prealloc and append) in DIR;
# JSON lines go to $out/fsync.NAME.{prealloc,append}.json.
fsync_probe() {
    local name=$1 dir=$2 mode
    for mode in prealloc append; do
        "$PY" "$PROBE" fsync "$dir" --mode "$mode" --seconds "${FSYNC_SECS:-3}" >"$out/fsync.$name.$mode.json" || return 1
    done
}

# noise_watch: a background sampler, once a second, of whether `busy` holds
# during the measurements (a build that starts mid-run makes them worthless);
# noise_report prints a warning when it saw one.
noise_watch() {
    : >"$out/noise.log"
    (
        while :; do
            if [ ! -e "$scratch/.waiting" ] && busy; then
                echo "$(date +%T) load $(cut -d' ' -f1 /proc/loadavg) $BUSY_WHAT" >>"$out/noise.log"
            fi
            sleep 1
        done
    ) &
    pids+=("$!")
}
noise_report() {
    local n
    n=$(wc -l <"$out/noise.log" 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then
        echo "WARNING: cargo/rustc or someone else's java/zab-node ran for ~${n}s during the measurements ($(head -n 1 "$out/noise.log" | cut -d' ' -f1) .. $(tail -n 1 "$out/noise.log" | cut -d' ' -f1)); figures are noisy"
    fi
}

# pin_bins: copy zab-node and zab-load into the scratch dir, so that a rebuild
# during the run cannot swap the binary between two starts.
pin_bins() {
    cp "$zab_bin" "$scratch/zab-node" && zab_bin=$scratch/zab-node || return 1
    cp "$load_bin" "$scratch/zab-load" && load_bin=$scratch/zab-load || return 1
}
