#!/usr/bin/env python3
"""membership.py — the kazoo side of reconfig_membership.sh.

    membership.py reconfig PORT PASSWORD JOINING LEAVING    (as super; "-" for none)
    membership.py config PORT                                (/zookeeper/config after a sync)
    membership.py pauses WRITER_LOG STEP_FILE                (the longest write pause per step)

`reconfig` and `config` print the configuration's server lines (sorted) and its version as
`version=<hex>`; a refused reconfig prints the exception's class and code. `pauses` reads the
writer's lines (failover_writer.py: ISSUE_NS DONE_NS ok|err ...) and the step file (NAME
START_NS END_NS per line) and prints, per step, the longest time between two consecutive
acknowledgements that spans any part of the step, in ms, and the writes that failed in it.
"""

import sys


def client(port, password=None):
    from kazoo.client import KazooClient
    auth = [("digest", "super:" + password)] if password else None
    zk = KazooClient(hosts="127.0.0.1:" + port, timeout=10, auth_data=auth)
    zk.start(timeout=30)
    return zk


def show(data):
    lines = data.decode().splitlines()
    for line in sorted(l for l in lines if l.startswith("server.")):
        print(line)
    for line in lines:
        if line.startswith("version="):
            print(line)


def reconfig(port, password, joining, leaving):
    from kazoo.exceptions import KazooException
    zk = client(port, password)
    try:
        data, _ = zk.reconfig(joining if joining != "-" else None, leaving if leaving != "-" else None, None)
        print("ok")
        show(data)
    except KazooException as e:
        print("%s %s" % (type(e).__name__, getattr(e, "code", "")))
    finally:
        zk.stop()
        zk.close()


def config(port):
    zk = client(port)
    try:
        zk.sync("/")
        data, _ = zk.get("/zookeeper/config")
        show(data)
    finally:
        zk.stop()
        zk.close()


def pauses(writer_log, step_file):
    acks, errs = [], []
    for line in open(writer_log):
        f = line.split()
        if len(f) >= 3 and f[0].isdigit() and f[1].isdigit():
            (acks if f[2] == "ok" else errs).append((int(f[0]), int(f[1])))
    acks.sort(key=lambda a: a[1])
    for line in open(step_file):
        name, start, end = line.rsplit(None, 2)
        start, end = int(start), int(end)
        longest = 0
        for (_, a), (_, b) in zip(acks, acks[1:]):
            if b >= start and a <= end:
                longest = max(longest, b - a)
        failed = sum(1 for i, _ in errs if start <= i <= end)
        print("%s\t%d\t%d" % (name, round(longest / 1e6), failed))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"reconfig": reconfig, "config": config, "pauses": pauses}[cmd](*args)


if __name__ == "__main__":
    main()
