#!/usr/bin/env bash
# restart.sh — how long ZooKeeper 3.8 and zab-node take to serve again after a
# restart with a large tree on disk.
#
#   restart.sh --zab-bin PATH [--znodes N] [--load-bin P] [--out DIR]
#
# For each server, one at a time (ZooKeeper first): a fresh dataDir under /tmp
# (forceSync=yes), start, create N znodes of 100 B (default 1,000,000) with
#   zab-load --op create --znodes N --size 100 --sessions 4 --outstanding 64 --path-prefix /rst
# wait until srvr's Zxid stops moving, stop it with SIGTERM (SIGKILL after
# STOP_SECS, reported), record the dataDir size, then start it again on the
# same dataDir and time, from the fork until each first held:
#   ruok   `ruok` answers imok
#   zxid   `srvr` reports the Zxid seen before the stop
#   read   getData /rst/create/p0000/n000000000 works on a new session
#          (a tiny client in zkprobe.py; it runs only after the Zxid matched,
#          since its own session is a txn)
# "restart s" is the read time: the server serves again with all its data.
# The page cache is warm (the data was just written), as after a quick
# restart of a process; nothing here drops caches.
#
# ZooKeeper runs with -Xmx1g (ZK_HEAP to change) and GC logging to
# $out/zk.gc.*.log; the table shows its GC pauses, and any OutOfMemoryError in
# its log is reported. RESTART_SECS (default 900) bounds the wait.
# Waits while cargo/rustc or a busy java/zab-node of someone else runs (BUILD_WAIT_SECS).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
RESTART_SECS=${RESTART_SECS:-900}

ZAB_BIN=""
znodes=1000000
load_bin=$repo/target/release/zab-load
out=""
while [ $# -gt 0 ]; do
    case $1 in
        --zab-bin) ZAB_BIN=${2:?}; shift 2 ;;
        --znodes) znodes=${2:?}; shift 2 ;;
        --load-bin) load_bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "restart.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
bench_setup restart

prefix=/rst
probe_path=$prefix/create/p0000/n000000000

# stable_zxid PORT: srvr's Zxid once two reads 0.5 s apart agree.
stable_zxid() {
    local a b i
    a=$(srvr_zxid "$1")
    for i in $(seq 1 40); do
        sleep 0.5
        b=$(srvr_zxid "$1")
        [ -n "$b" ] && [ "$a" = "$b" ] && { echo "$b"; return 0; }
        a=$b
    done
    return 1
}

# kv TARGET KEY VALUE: one figure for the table
kv() { echo "$3" >"$out/$1.$2"; }

status=0
noise_watch
for t in zk zab; do
    bench_wait_quiet
    rm -f "$out/$t".*
    [ "$t" = zk ] && ZK_JAVA_OPTS="-Xlog:gc:file=$out/zk.gc.create.log"
    if ! start "$t"; then status=1; continue; fi
    echo "[$t] create: zab-load --op create --znodes $znodes --size 100 --sessions 4 --outstanding 64 --path-prefix $prefix"
    if ! load "$t" create --op create --znodes "$znodes" --size 100 --sessions 4 --outstanding 64 --path-prefix "$prefix"; then
        echo "[$t] create failed" >&2
        status=1
    fi
    if ! zxid=$(stable_zxid "$PORT"); then
        echo "[$t] srvr's Zxid did not settle" >&2
        status=1
        stop_pid "$PID"
        continue
    fi
    kv "$t" zxid "$zxid"
    read -r r h < <(rss "$PID")
    kv "$t" hwm "$h"
    echo "[$t] Zxid $zxid; VmRSS $r MiB, VmHWM $h MiB; stopping (SIGTERM)"
    stop_pid "$PID"
    kv "$t" stop "$STOP_SECONDS"
    kv "$t" killed "$STOP_KILLED"
    [ "$STOP_KILLED" -eq 1 ] && echo "[$t] did not exit within ${STOP_SECS}s of SIGTERM: killed" >&2
    sync
    kv "$t" bytes "$(du -sb "$DIR/data" | awk '{ print $1 }')"         # apparent (logs are preallocated, sparse)
    kv "$t" kib "$(du -sk "$DIR/data" | awk '{ print $1 }')"           # allocated on disk
    kv "$t" files "$(find "$DIR/data" -type f | wc -l)"
    (cd "$DIR/data" && find . -type f -printf '%10s  %p\n' | sort -k2) >"$out/$t.datadir.before-restart.txt"
    echo "[$t] dataDir $(du -sh "$DIR/data" | awk '{ print $1 }'), $(cat "$out/$t.files") files:"
    sed 's/^/    /' "$out/$t.datadir.before-restart.txt"

    bench_wait_quiet
    PORT=$(free_port)
    write_cfg "$DIR" "$PORT"
    [ "$t" = zk ] && ZK_JAVA_OPTS="-Xlog:gc:file=$out/zk.gc.restart.log"
    echo "[$t] restart on 127.0.0.1:$PORT ..."
    launch "$t" "$DIR" "$out/$t.server.log"
    if "$PY" "$PROBE" wait-serving "$PORT" --zxid "$zxid" --path "$probe_path" \
        --start-ns "$LAUNCH_NS" --deadline "$RESTART_SECS" --pid "$PID" >"$out/$t.restart.json"; then
        echo "[$t] serving again: $(cat "$out/$t.restart.json")"
        read -r r h < <(rss "$PID")
        kv "$t" hwm2 "$h"
    else
        echo "[$t] restart failed: $(cat "$out/$t.restart.json") (log: $out/$t.server.log)" >&2
        status=1
    fi
    stop_pid "$PID"
    ZK_JAVA_OPTS=""
    if grep -q OutOfMemoryError "$out/$t.server.log"; then
        echo "[$t] OutOfMemoryError in its log" >&2
        kv "$t" oom 1
    fi
done

"$PY" - "$out" "$znodes" <<'EOF'
import json, os, re, sys
out, znodes = sys.argv[1], int(sys.argv[2])
targets = ["zk", "zab"]
def raw(t, k):
    try:
        with open(os.path.join(out, "%s.%s" % (t, k))) as f:
            return f.read().strip()
    except OSError:
        return None
def js(t, k):
    try:
        return json.loads(raw(t, k) or "")
    except ValueError:
        return None
def gc(phase):
    try:
        text = open(os.path.join(out, "zk.gc.%s.log" % phase)).read()
    except OSError:
        return None
    pauses = [float(m) for m in re.findall(r"Pause.* ([0-9.]+)ms$", text, re.M)]
    return "%d pauses, %.1f s, max %.0f ms" % (len(pauses), sum(pauses) / 1e3, max(pauses or [0]))
rows = []
def row(label, f):
    rows.append((label, [f(t) for t in targets]))
def fmt(v, spec):
    return "-" if v is None else spec % v
row("create s", lambda t: fmt((js(t, "create.json") or {}).get("seconds"), "%.1f"))
row("create ops/s", lambda t: fmt((js(t, "create.json") or {}).get("throughput"), "%.0f"))
row("create errors", lambda t: fmt((js(t, "create.json") or {}).get("errors"), "%d"))
row("VmHWM after create MiB", lambda t: raw(t, "hwm") or "-")
row("Zxid before stop", lambda t: raw(t, "zxid") or "-")
row("stop (SIGTERM) s", lambda t: (raw(t, "stop") or "-") + (" KILLED" if raw(t, "killed") == "1" else ""))
row("dataDir MiB on disk", lambda t: fmt(int(raw(t, "kib")) / 2**10 if raw(t, "kib") else None, "%.1f"))
row("dataDir MiB apparent", lambda t: fmt(int(raw(t, "bytes")) / 2**20 if raw(t, "bytes") else None, "%.1f"))
row("dataDir files", lambda t: raw(t, "files") or "-")
row("restart: ruok s", lambda t: fmt((js(t, "restart.json") or {}).get("ruok_s"), "%.2f"))
row("restart: Zxid s", lambda t: fmt((js(t, "restart.json") or {}).get("zxid_s"), "%.2f"))
row("restart: read s", lambda t: fmt((js(t, "restart.json") or {}).get("read_s"), "%.2f"))
row("VmHWM after restart MiB", lambda t: raw(t, "hwm2") or "-")
print()
print("%-26s| %-32s| %-32s" % ("restart, %d znodes" % znodes, "zk", "zab"))
for label, vals in rows:
    print("%-26s| %-32s| %-32s" % (label, vals[0], vals[1]))
for phase in ["create", "restart"]:
    g = gc(phase)
    if g:
        print("%-26s| %-32s| %-32s" % ("zk GC during " + phase, g, ""))
for t in targets:
    if raw(t, "oom"):
        print("%s: OutOfMemoryError in its log" % t)
    r = js(t, "restart.json")
    if r and "error" in r:
        print("%s: restart failed: %s" % (t, r["error"]))
a, b = js("zk", "restart.json") or {}, js("zab", "restart.json") or {}
if "read_s" in a and "read_s" in b and b["read_s"] > 0:
    print()
    print("restart (fork to first read): zk %.2f s, zab %.2f s, zk/zab %.1fx" % (a["read_s"], b["read_s"], a["read_s"] / b["read_s"]))
EOF
noise_report
echo "results in $out"
exit $status
