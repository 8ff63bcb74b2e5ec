#!/usr/bin/python3
"""Creates a small, fixed ZooKeeper state and holds its session open.

Usage: /usr/bin/python3 session.py HOST:PORT

run.sh starts this against a fresh server before it fetches the AdminServer
commands, so that dump, cons, stat, wchc, wchp, wchs and hash have something
to show. With one kazoo session (python3-kazoo, Debian's /usr/bin/python3) it

  * creates /admin (data "root") with the children a, b (persistent) and
    eph (ephemeral, owned by this session);
  * writes /admin/a with setData until the counter half of the last
    write's zxid is 0x80 or more (in epoch 0 standalone, in epoch 1 in a
    fresh ensemble), so that ZooKeeper's digest log (one entry at every zxid
    divisible by 128, DataTree.DIGEST_LOG_INTERVAL) has an entry and `hash`
    a non-empty list;
  * leaves four watches: a data watch (getData /admin/a), an exists watch
    on /admin/b, an exists watch on the absent /admin/missing, and a child
    watch (getChildren /admin). No watch fires while it runs: nothing
    writes below /admin after they are set.

Then it prints one line `ready session=0x... last_zxid=0x...` and waits
until SIGTERM or SIGINT, then closes the session and exits 0 (stdin is not
read: a background job's stdin is /dev/null). Errors go to stderr with
exit status 1. It only touches /admin (which must not exist yet) on the
server it is given.
"""

import signal
import sys
import threading

from kazoo.client import KazooClient

ROOT = "/admin"
DIGEST_LOG_INTERVAL = 0x80
CONNECT_SECS = 30


def build_state(zk):
    zk.create(ROOT, b"root")
    zk.create(ROOT + "/a", b"a")
    zk.create(ROOT + "/b", b"b")
    zk.create(ROOT + "/eph", b"eph", ephemeral=True)
    n = 0
    while True:
        stat = zk.set(ROOT + "/a", b"a%d" % n)
        n += 1
        if stat.mzxid & 0xFFFFFFFF >= DIGEST_LOG_INTERVAL:
            return stat.mzxid
        if n > 10 * DIGEST_LOG_INTERVAL:
            raise RuntimeError("zxid counter did not reach 0x80 after %d writes" % n)


def set_watches(zk):
    ignore = lambda event: None  # noqa: E731 - the watches only need to exist
    zk.get(ROOT + "/a", watch=ignore)
    zk.exists(ROOT + "/b", watch=ignore)
    zk.exists(ROOT + "/missing", watch=ignore)
    zk.get_children(ROOT, watch=ignore)


def main():
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    zk = KazooClient(hosts=sys.argv[1], timeout=20.0)
    try:
        zk.start(timeout=CONNECT_SECS)
        last = build_state(zk)
        set_watches(zk)
    except Exception as e:  # anything: report it and leave
        print("session.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        try:
            zk.stop()
            zk.close()
        except Exception:
            pass
        return 1
    print("ready session=0x%x last_zxid=0x%x" % (zk.client_id[0], last), flush=True)

    while not stop.wait(1.0):
        pass
    zk.stop()
    zk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
