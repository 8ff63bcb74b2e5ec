"""Scrapes Prometheus endpoints at a fixed interval until SIGTERM, as a Prometheus server would:
one keep-alive HTTP connection per URL, every URL once per interval. Writes a JSON report
(scrapes, errors, bytes, latency) to --report when stopped.

    scrape.py --interval-ms 100 --report FILE URL [URL ...]
"""

import argparse
import http.client
import json
import signal
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval-ms", type=float, default=100)
    ap.add_argument("--report", required=True)
    ap.add_argument("urls", nargs="+")
    a = ap.parse_args()
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
