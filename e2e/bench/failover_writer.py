#!/usr/bin/env python3
"""failover_writer.py — the writer of failover.sh: one kazoo session on a connect string of all
members, one write at a time in a loop, one line per write on stdout.

    failover_writer.py HOST:PORT,HOST:PORT,... [--prefix /failover] [--session-timeout S]
                       [--op-timeout S]

The writes cycle through create (a sequential znode below PREFIX), setData of PREFIX/x and
delete of the znode just created, so the tree stays small. Each line is

    ISSUE_NS DONE_NS ok OP ZXID
    ISSUE_NS DONE_NS err OP EXCEPTION

with time.time_ns() (CLOCK_REALTIME, the clock of `date +%s%N` in failover.sh) when the request
was handed to the client and when its answer (or failure) came back, and the zxid of the write
(hex; czxid of a create, which goes out as create2, mzxid of a setData; "-" for a delete);
flushed per line. A failed
write is not retried: the next one is a new write. While the client is disconnected kazoo queues a
request and sends it once a member takes the session again, so "issued" is the caller's moment.

Reconnection is kazoo's own: the hosts in random order, a full cycle, then a fixed 50 ms pause
(no exponential back-off, which would add seconds to the measurement). Session timeout 10 s by
default (kazoo's); kazoo gives each connection attempt timeout/hosts to complete. An expired
session is replaced by a new one, as kazoo does. Runs until SIGTERM or SIGINT.
"""

import argparse
import logging
import signal
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
from kazoo.retry import KazooRetry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("hosts")
    ap.add_argument("--prefix", default="/failover")
    ap.add_argument("--session-timeout", type=float, default=10.0)
    ap.add_argument("--op-timeout", type=float, default=60.0)
    args = ap.parse_args()

    # kazoo's connection warnings on stderr, with the time, to line up with the members' logs
    logging.basicConfig(level=logging.WARNING, datefmt="%H:%M:%S",
                        format="%(asctime)s.%(msecs)03d %(levelname)s %(message)s")

    def leave(*_):
        raise SystemExit(0)  # at once, even while waiting for an answer

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)

    retry = KazooRetry(max_tries=-1, delay=0.05, backoff=1, max_jitter=0, max_delay=0.05)
    zk = KazooClient(hosts=args.hosts, timeout=args.session_timeout, connection_retry=retry)
    zk.start(timeout=60)
    zk.ensure_path(args.prefix)
    try:
        zk.create(args.prefix + "/x", b"")
    except NodeExistsError:
        pass

    data = b"w" * 100
    last_created = None
    n = 0
    out = sys.stdout
    while True:
        step = n % 3
        n += 1
        if step == 0:
            op, call = "create", lambda: zk.create_async(args.prefix + "/w-", data, sequence=True,
                                                         include_data=True)
        elif step == 1:
            op, call = "set", lambda: zk.set_async(args.prefix + "/x", data)
        elif last_created is not None:
            op, call = "delete", lambda p=last_created: zk.delete_async(p)
        else:
            continue
        issue = time.time_ns()
        try:
            result = call().get(timeout=args.op_timeout)
            done = time.time_ns()
            zxid = "-"
            if op == "create":
                last_created, stat = result
                zxid = "0x%x" % stat.czxid
            elif op == "set":
                zxid = "0x%x" % result.mzxid
            else:
                last_created = None
            out.write("%d %d ok %s %s\n" % (issue, done, op, zxid))
        except Exception as e:  # every failure is one line; the loop goes on
            done = time.time_ns()
            out.write("%d %d err %s %s\n" % (issue, done, op, type(e).__name__))
            if op == "delete":
                last_created = None
            time.sleep(0.005)
        out.flush()


if __name__ == "__main__":
    main()
