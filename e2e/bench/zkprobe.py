#!/usr/bin/env python3
"""zkprobe.py — small probes for the e2e/bench scripts (standard library only).

  zkprobe.py fsync DIR [--seconds S] [--size B] [--mode prealloc|append]
      write+fdatasync loop on a scratch file in DIR; prints one JSON line:
      {"mode", "size", "syncs", "seconds", "syncs_per_s", "us_mean", "us_p50", "us_p99"}
      prealloc: the file is filled first and the writes overwrite it in order
      (like ZooKeeper's txn log, which grows in 64 MB preallocated blocks);
      append: every write grows the file, so each fdatasync also flushes its size.

  zkprobe.py fourlw PORT CMD
      one four-letter word on 127.0.0.1:PORT; prints the answer

  zkprobe.py get PORT PATH
      opens a session, getData PATH, closes the session; prints the data length

  zkprobe.py wait-serving PORT --zxid Z --path PATH --start-ns T [--deadline S] [--pid PID]
      polls until ruok answers imok AND srvr reports Zxid Z AND getData PATH
      succeeds (in that order, so the probe's own session, a txn, comes last);
      prints one JSON line with the seconds since T (time.time_ns() clock, i.e.
      `date +%s%N`) at which each condition first held. Exit 1 on deadline or
      when PID is gone.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


# ---- four-letter words ---------------------------------------------------

def fourlw(port, cmd, timeout=2.0):
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def srvr_zxid(text):
    for line in text.splitlines():
        if line.startswith("Zxid:"):
            return int(line.split(":", 1)[1].strip(), 16)
    return None


# ---- a minimal ZooKeeper client: connect, getData, close -----------------

def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += b
    return buf


def _frame(s):
    (n,) = struct.unpack(">i", _recv_exact(s, 4))
    return _recv_exact(s, n)


def _send(s, payload):
    s.sendall(struct.pack(">i", len(payload)) + payload)


def get_data(port, path, timeout=5.0):
    """Returns the data of PATH (bytes, or None for null data); raises on failure."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        # ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly
        _send(s, struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0")
        resp = _frame(s)
        _proto, _to, session = struct.unpack(">iiq", resp[:16])
        if session == 0:
            raise ConnectionError("server refused the session")
        p = path.encode()
        # RequestHeader(xid=1, type=getData=4), GetDataRequest(path, watch=false)
        _send(s, struct.pack(">iii", 1, 4, len(p)) + p + b"\0")
        while True:
            r = _frame(s)
            xid, _zxid, err = struct.unpack(">iqi", r[:16])
            if xid == 1:
                break  # skip pings / notifications (xid < 0)
        if err != 0:
            raise RuntimeError("getData %s: error %d" % (path, err))
        (dlen,) = struct.unpack(">i", r[16:20])
        data = None if dlen < 0 else r[20:20 + dlen]
        # closeSession (type -11), best effort
        try:
            _send(s, struct.pack(">ii", 2, -11))
            _frame(s)
        except OSError:
            pass
        return data


# ---- fdatasync loop --------------------------------------------------------

def fsync_loop(d, seconds, size, mode):
    path = os.path.join(d, "zkprobe-fsync.%d" % os.getpid())
    block = b"x" * size
    prealloc = 64 << 20
    lat = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if mode == "prealloc":
            zero = b"\0" * (1 << 20)
            for _ in range(prealloc >> 20):
                os.write(fd, zero)
            os.fsync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
        start = time.perf_counter()
        end = start + seconds
        off = 0
        while True:
            if mode == "prealloc" and off + size > prealloc:
                os.lseek(fd, 0, os.SEEK_SET)
                off = 0
            os.write(fd, block)
            off += size
            t = time.perf_counter()
            os.fdatasync(fd)
            t2 = time.perf_counter()
            lat.append(t2 - t)
            if t2 >= end:
                break
        total = time.perf_counter() - start
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    n = len(lat)
    pct = lambda q: lat[min(n - 1, int(q * n))] * 1e6
    return {
        "mode": mode, "size": size, "dir": d, "syncs": n, "seconds": round(total, 3),
        "syncs_per_s": round(n / total, 1), "us_mean": round(sum(lat) / n * 1e6, 1),
        "us_p50": round(pct(0.50), 1), "us_p99": round(pct(0.99), 1),
    }


# ---- readiness after a restart ----------------------------------------------

def alive(pid):
    """False once PID is gone or a zombie (its parent, the script, waits on us)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def wait_serving(port, zxid, path, start_ns, deadline, pid):
    since = lambda: (time.time_ns() - start_ns) / 1e9
    stop_at = time.monotonic() + deadline
    got = {}
    last_srvr = None
    while True:
        if pid and not alive(pid):
            got["error"] = "server process %d exited" % pid
            break
        if time.monotonic() > stop_at:
            got["error"] = "deadline %ss passed (last srvr zxid %s)" % (
                deadline, hex(last_srvr) if last_srvr is not None else None)
            break
        try:
            if "ruok_s" not in got:
                if fourlw(port, "ruok").strip() == "imok":
                    got["ruok_s"] = since()
            if "ruok_s" in got and "zxid_s" not in got:
                z = srvr_zxid(fourlw(port, "srvr"))
                if z is not None:
                    last_srvr = z
                if z == zxid:
                    got["zxid_s"] = since()
                elif z is not None and z > zxid:
                    got["error"] = "srvr reports zxid %#x, past the expected %#x" % (z, zxid)
                    break
            if "zxid_s" in got:
                data = get_data(port, path)
                got["read_s"] = since()
                got["read_bytes"] = -1 if data is None else len(data)
                break
        except (OSError, RuntimeError, struct.error):
            pass
        time.sleep(0.02)
    got["zxid"] = hex(zxid)
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fsync")
    f.add_argument("dir")
    f.add_argument("--seconds", type=float, default=3.0)
    f.add_argument("--size", type=int, default=128)
    f.add_argument("--mode", choices=["prealloc", "append"], default="prealloc")
    w = sub.add_parser("fourlw")
    w.add_argument("port", type=int)
    w.add_argument("word")
    g = sub.add_parser("get")
    g.add_argument("port", type=int)
    g.add_argument("path")
    ws = sub.add_parser("wait-serving")
    ws.add_argument("port", type=int)
    ws.add_argument("--zxid", required=True, type=lambda v: int(v, 0))
    ws.add_argument("--path", required=True)
    ws.add_argument("--start-ns", required=True, type=int)
    ws.add_argument("--deadline", type=float, default=600.0)
    ws.add_argument("--pid", type=int, default=0)
    a = ap.parse_args()

    if a.cmd == "fsync":
        print(json.dumps(fsync_loop(a.dir, a.seconds, a.size, a.mode)))
    elif a.cmd == "fourlw":
        sys.stdout.write(fourlw(a.port, a.word))
    elif a.cmd == "get":
        data = get_data(a.port, a.path)
        print(-1 if data is None else len(data))
    else:
        r = wait_serving(a.port, a.zxid, a.path, a.start_ns, a.deadline, a.pid)
        print(json.dumps(r))
        return 1 if "error" in r else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
