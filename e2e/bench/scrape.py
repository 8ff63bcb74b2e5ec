"""Scrapes Prometheus endpoints at a fixed interval until SIGTERM, as a Prometheus server would:
one keep-alive HTTP connection per URL, every URL once per interval. Writes a JSON report
(scrapes, errors, bytes, latency) to --report when stopped.

    scrape.py --interval-ms 100 --report FILE URL [URL ...]
    scrape.py --cost PID --count N URL      # the server's CPU time per scrape (from /proc)
"""

import argparse
import http.client
import json
import os
import signal
import time
import urllib.parse


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cost(pid, count, url, members, interval_ms):
    """Scrapes `url` `count` times back to back; prints the server's CPU per scrape."""
    t = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(t.hostname, t.port, timeout=5)
    size = 0
    before = cpu_seconds(pid)
    for _ in range(count):
        c.request("GET", t.path or "/")
        r = c.getresponse()
        size += len(r.read())
    used = cpu_seconds(pid) - before
    per = used / count
    rate = members * 1000 / interval_ms
    print("scrape cost: %d scrapes of %.0f KiB, server CPU %.0f us each; at %.0f scrapes/s (%d members every %.0f ms) "
          "%.2f%% of one core, %.2f%% of this machine's %d" % (
              count, size / count / 1024, per * 1e6, rate, members, interval_ms, per * rate * 100,
              per * rate * 100 / os.cpu_count(), os.cpu_count()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval-ms", type=float, default=100)
    ap.add_argument("--report")
    ap.add_argument("--cost", type=int, metavar="PID")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("urls", nargs="+")
    a = ap.parse_args()
    if a.cost:
        return cost(a.cost, a.count, a.urls[0], a.members, a.interval_ms)
    if not a.report:
        ap.error("--report is required unless --cost")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    targets = [urllib.parse.urlsplit(u) for u in a.urls]
    conns = [None] * len(targets)
    scrapes = errors = total_bytes = 0
    total_s = 0.0
    started = time.monotonic()
    tick = started
    while not stop:
        for i, t in enumerate(targets):
            t0 = time.monotonic()
            try:
                if conns[i] is None:
                    conns[i] = http.client.HTTPConnection(t.hostname, t.port, timeout=5)
                conns[i].request("GET", t.path or "/")
                resp = conns[i].getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise OSError("HTTP %d" % resp.status)
                scrapes += 1
                total_bytes += len(body)
                total_s += time.monotonic() - t0
            except (OSError, http.client.HTTPException):
                errors += 1
                if conns[i] is not None:
                    conns[i].close()
                conns[i] = None
        tick += a.interval_ms / 1000
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            tick = time.monotonic()
    elapsed = max(time.monotonic() - started, 1e-9)
    report = {
        "scrapes": scrapes,
        "errors": errors,
        "seconds": elapsed,
        "per_member_per_s": scrapes / len(targets) / elapsed,
        "mean_bytes": total_bytes / scrapes if scrapes else 0,
        "mean_ms": total_s / scrapes * 1000 if scrapes else 0,
    }
    with open(a.report, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
