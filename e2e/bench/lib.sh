# lib.sh — the bench helpers on top of e2e/lib.sh, shared by compare.sh, durability.sh and
# restart.sh (sourced, not run). Servers one at a time on a free 127.0.0.1 port, fresh mktemp
# dataDirs under /tmp, readiness by polling `ruok` against a deadline, ZooKeeper as `java -Xmx1g`
# from Debian's jars, every process this script starts is stopped by its pid.
#
# The sourcing script sets: ZAB_BIN, load_bin, out (kept logs; empty: a new /tmp dir) and calls
# out_and_scratch (scratch is deleted on exit); it may call pin_bins, bench_wait_quiet before
# measuring, and noise_watch / noise_report around the measurements.

here=${here:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
repo=${repo:-$(cd "$here/../.." && pwd)}
# shellcheck source=../lib.sh
. "$here/../lib.sh"
PROBE=$here/zkprobe.py
ZK_HEAP=${ZK_HEAP:-1g}
BUILD_WAIT_SECS=${BUILD_WAIT_SECS:-3600}
FORCE_SYNC=yes       # forceSync in zoo.cfg (empty: left to the server's default)
SHOW_DATADIR=1       # start names the dataDir in its "[target] pid ..." line

# write_cfg DIR PORT: DIR/zoo.cfg with dataDir DIR/data (fsync per FORCE_SYNC).
write_cfg() {
    local dir=$1 port=$2
    mkdir -p "$dir/data"
    write_zoo_cfg "$dir/zoo.cfg" "$port" "$dir/data" maxClientCnxns=0 admin.enableServer=false \
        zookeeper.extendedTypesEnabled=true ${FORCE_SYNC:+"forceSync=$FORCE_SYNC"}
}

# launch TARGET DIR LOG: starts the server on DIR/zoo.cfg in the background, output appended to LOG
# (no waiting); sets PID and LAUNCH_NS (date +%s%N just before the fork).
launch() {
    local target=$1 dir=$2 log=$3
    # shellcheck disable=SC2206 # ZK_JAVA_OPTS is a list of words
    ZK_JVM_ARGS=(-Xmx"$ZK_HEAP" ${ZK_JAVA_OPTS:-} -Dzookeeper.extendedTypesEnabled=true)
    LAUNCH_NS=$(date +%s%N)
    spawn_server "$target" "$dir/zoo.cfg" "$log"
    PID=$SERVER_PID
    echo "$PID" >>"$scratch/.ours"
}

# start TARGET: fresh dataDir, port and log, waits for ruok; sets PID, PORT, DIR.
start() {
    local target=$1 log=$out/$1.server.log
    DIR=$(mktemp -d "$scratch/$target.XXXXXX")
    PORT=$(free_port)
    write_cfg "$DIR" "$PORT"
    cp "$DIR/zoo.cfg" "$out/$target.zoo.cfg"
    : >"$log"
    launch "$target" "$DIR" "$log"
    poll_ready "$PORT" "$PID" || { echo "[$target] not ready (log: $log)" >&2; return 1; }
    if [ "$SHOW_DATADIR" -eq 1 ]; then
        echo "[$target] pid $PID on 127.0.0.1:$PORT, dataDir $DIR/data"
    else
        echo "[$target] pid $PID on 127.0.0.1:$PORT"
    fi
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
    PIDS+=("$!")
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
    cp "$ZAB_BIN" "$scratch/zab-node" && ZAB_BIN=$scratch/zab-node || return 1
    cp "$load_bin" "$scratch/zab-load" && load_bin=$scratch/zab-load || return 1
}

# bench_setup NAME: the checks and set-up of durability.sh and restart.sh (NAME): --zab-bin and
# the zab-load binary, out (default /tmp/zab-NAME.XXXXXX) and scratch, which zab-node runs, pin_bins.
bench_setup() {
    need_zab_bin
    [ -x "$load_bin" ] || { echo "$1.sh: no zab-load at $load_bin (cargo build --release -p zab-load)" >&2; exit 2; }
    out_and_scratch "zab-$1"
    echo "zab-node: $ZAB_BIN ($(date -r "$ZAB_BIN" '+%F %T'), sha256 $(sha256sum "$ZAB_BIN" | cut -c1-12))"
    pin_bins || exit 1
}

# rss PID: "VmRSS VmHWM" of PID in MiB.
rss() {
    awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { printf "%.0f %.0f", r / 1024, h / 1024 }' "/proc/$1/status"
}
