#!/usr/bin/python3
"""HTTP side of the AdminServer check: waits for the server, fetches every request.

  fetch.py wait BASE_URL [--deadline S] [--pid PID]
      polls GET BASE_URL/commands/ruok (every 0.2 s) until it answers 200;
      exit 1 when S seconds pass (default 60) or process PID is gone.

  fetch.py roles BASE_URL... [--deadline S]
      polls GET /commands/leader on every server until exactly one says
      "is_leader": true and all others false, then prints one role per
      server, in order: leader or follower; exit 1 after S seconds (60).

  fetch.py fetch BASE_URL OUTDIR
      sends every request of the list below, in order, and writes, in OUTDIR,
      one body file per request, LABEL.json when the body is JSON and
      LABEL.txt otherwise, and responses.tsv with one row per request:
      label, method, path, check, status, content_type, file
      (status 0 and content_type "-" when there was no HTTP answer).

BASE_URL is http://127.0.0.1:PORT. Requests go one at a time, each with a
10 s timeout, no redirects followed. Python 3 standard library only.

The request list: every name and alias of ZooKeeper 3.8.0 (structure.py
COMMANDS) as GET /commands/NAME, read-only ones first; set_trace_mask and
stmk once without and once with ?traceMask=306 (ZooKeeper's default mask,
so nothing changes); an unknown name; the command index (/commands and
/commands/); a POST; then the commands that reset statistics, last, so the
others show the counters of the run. The `info` requests are paths
ZooKeeper 3.8 does not serve (zab-node's own /status, /healthz, /readyz,
/metrics): recorded and printed, never compared.
"""

import http.client
import json
import os
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from structure import COMMANDS  # noqa: E402

RESETS = {"connection_stat_reset", "observer_connection_stat_reset", "stat_reset"}
UNKNOWN = "no_such_command"
TRACE_MASK = 306  # ZooTrace's default text trace level


def requests():
    """[(label, method, path, check)] in the order they are sent."""
    out = []
    for primary, aliases in COMMANDS:
        if primary not in RESETS and primary != "set_trace_mask":
            out += [(n, "GET", "/commands/" + n, "json") for n in [primary] + aliases]
    for n in ["set_trace_mask", "stmk"]:
        out.append((n, "GET", "/commands/" + n, "json"))
        out.append((n + "+arg", "GET", "/commands/%s?traceMask=%d" % (n, TRACE_MASK), "json"))
    out.append((UNKNOWN, "GET", "/commands/" + UNKNOWN, "json"))
    out.append(("_index", "GET", "/commands", "text"))
    out.append(("_index_slash", "GET", "/commands/", "text"))
    out.append(("_post_ruok", "POST", "/commands/ruok", "status"))
    for primary, aliases in COMMANDS:
        if primary in RESETS:
            out += [(n, "GET", "/commands/" + n, "json") for n in [primary] + aliases]
    for p in ["/", "/status", "/healthz", "/readyz", "/metrics"]:
        out.append(("_" + (p.strip("/") or "root"), "GET", p, "info"))
    return out


def request(base, method, path, timeout=10.0):
    """(status, content_type, body bytes); status 0 and the error text when no answer."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", "-"), r.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, "-", ("%s: %s" % (type(e).__name__, e)).encode()
    finally:
        conn.close()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def wait(base, deadline_s, pid):
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        if pid is not None and not pid_alive(pid):
            print("fetch.py: process %d is gone" % pid, file=sys.stderr)
            return 1
        status, _, body = request(base, "GET", "/commands/ruok", timeout=2.0)
        if status == 200:
            return 0
        last = (status, body[:200])
        time.sleep(0.2)
    print("fetch.py: %s/commands/ruok did not answer 200 within %gs (last: %r)"
          % (base, deadline_s, last), file=sys.stderr)
    return 1


def roles(bases, deadline_s):
    end = time.monotonic() + deadline_s
    seen = None
    while time.monotonic() < end:
        seen = []
        for base in bases:
            status, _, body = request(base, "GET", "/commands/leader", timeout=2.0)
            try:
                seen.append(json.loads(body).get("is_leader") if status == 200 else None)
            except (ValueError, AttributeError):
                seen.append(None)
        if seen.count(True) == 1 and seen.count(False) == len(bases) - 1:
            print("\n".join("leader" if r else "follower" for r in seen))
            return 0
        time.sleep(0.2)
    print("fetch.py: no single leader within %gs (is_leader: %r)" % (deadline_s, seen),
          file=sys.stderr)
    return 1


def fetch(base, outdir):
    os.makedirs(outdir, exist_ok=True)
    rows = []
    for label, method, path, check in requests():
        status, ctype, body = request(base, method, path)
        text = body.decode("utf-8", errors="replace")
        try:
            json.loads(text)
            name = label + ".json"
        except ValueError:
            name = label + ".txt"
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(body)
        rows.append([label, method, path, check, str(status), ctype.replace("\t", " "), name])
    with open(os.path.join(outdir, "responses.tsv"), "w", encoding="utf-8") as f:
        f.write("label\tmethod\tpath\tcheck\tstatus\tcontent_type\tfile\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "wait":
        deadline, pid = 60.0, None
        rest = argv[2:]
        while rest:
            if rest[0] == "--deadline" and len(rest) > 1:
                deadline = float(rest[1])
            elif rest[0] == "--pid" and len(rest) > 1:
                pid = int(rest[1])
            else:
                break
            rest = rest[2:]
        if not rest:
            return wait(argv[1].rstrip("/"), deadline, pid)
    if len(argv) >= 2 and argv[0] == "roles":
        bases, deadline = [], 60.0
        rest = argv[1:]
        while rest:
            if rest[0] == "--deadline" and len(rest) > 1:
                deadline = float(rest[1])
                rest = rest[2:]
            else:
                bases.append(rest[0].rstrip("/"))
                rest = rest[1:]
        if bases:
            return roles(bases, deadline)
    if len(argv) == 3 and argv[0] == "fetch":
        return fetch(argv[1].rstrip("/"), argv[2])
    print("\n\n".join(__doc__.split("\n\n")[1:4]), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
