#!/usr/bin/python3
"""Scripted kazoo session against one ZooKeeper-compatible server.

Usage: /usr/bin/python3 kazoo_check.py HOST:PORT

Drives two kazoo clients (A and B) through the client API the way a real
application does: create modes, versioned get/set/exists/delete and their
errors, getChildren(2), multi (one committed, two failing), digest ACLs and
authentication, watches (DataWatch, ChildrenWatch, one-shot), sync, the
Lock and Counter recipes, four-letter words, and the removal of A's
ephemerals as seen by B when A closes its session.

Every step prints one normalised line, `ok   name: value` or
`FAIL name: value (want ...)`. Session ids and wall-clock times are masked
(times are checked for plausibility, session ids are shown as the label of
the client that owns them); zxids, versions and sequence numbers are kept,
so two runs against fresh servers print the same text and the output of
Apache ZooKeeper can be diffed against zab-node's. The last line is
`kazoo: N passed, M failed`; the exit status is 1 when anything failed.

It only reads from and writes to the server named on the command line, and
only below /kc (removed at the start if present, and at the end).
"""

import queue
import re
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.states import Callback, ZnodeStat
from kazoo.security import ACL, CREATOR_ALL_ACL, Id, Permissions, make_digest_acl

ROOT = "/kc"
WAIT = 10.0  # seconds: deadline for any single expected event
TIME_SLACK_MS = 600_000  # a server ctime/mtime within 10 min of local time is plausible


class Checker:
    """Counts, prints and normalises results."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.labels = {}  # session id -> client label

    def label(self, client, name):
        self.labels[client.client_id[0]] = name

    # -- normalisation -------------------------------------------------
    def fmt(self, value):
        if isinstance(value, BaseException):
            return type(value).__name__
        if isinstance(value, ZnodeStat):
            return self.fmt_stat(value)
        if isinstance(value, bytes):
            return repr(value) if len(value) <= 64 else "<%d bytes>" % len(value)
        if isinstance(value, ACL):
            return "%s:%s:%s" % (value.id.scheme, value.id.id, perms(value.perms))
        if isinstance(value, tuple):
            return "(" + ", ".join(self.fmt(v) for v in value) + ")"
        if isinstance(value, list):
            return "[" + ", ".join(self.fmt(v) for v in value) + "]"
        if isinstance(value, str):
            return repr(mask_uuid(value))
        return repr(value)

    def fmt_stat(self, st):
        return "{cz=%s mz=%s pz=%s v=%d cv=%d av=%d owner=%s len=%d kids=%d t=%s}" % (
            hex(st.czxid), hex(st.mzxid), hex(st.pzxid), st.version,
            st.cversion, st.aversion, self.owner(st.ephemeralOwner),
            st.dataLength, st.numChildren, times(st))

    def owner(self, sid):
        if sid == 0:
            return "0"
        if sid in self.labels:
            return self.labels[sid]
        if (sid >> 56) & 0xFF in (0xFF, 0x80):  # TTL / container encodings
            return hex(sid & 0xFFFFFFFFFFFFFFFF)
        return "session?"

    # -- results -------------------------------------------------------
    def record(self, name, value, ok, want=None):
        shown = self.fmt(value)
        if ok:
            self.passed += 1
            print("ok   %s: %s" % (name, shown), flush=True)
        else:
            self.failed += 1
            extra = "" if want is None else " (want %s)" % want
            print("FAIL %s: %s%s" % (name, shown, extra), flush=True)

    def eq(self, name, got, want):
        """Passes when the normalised value equals `want` (a normalised string)."""
        shown = self.fmt(got)
        self.record(name, got, shown == want, want)

    def err(self, name, got, exc_name):
        """Passes when `got` is an exception of class `exc_name`."""
        self.record(name, got, isinstance(got, BaseException) and type(got).__name__ == exc_name,
                    exc_name)

    def show(self, name, got, ok, want=None):
        """Prints a value; `ok` is the verdict of the caller's predicate."""
        self.record(name, got, ok, want)


def perms(p):
    if p == Permissions.ALL:
        return "cdrwa"
    return "".join(c for c, bit in (("c", Permissions.CREATE), ("d", Permissions.DELETE),
                                     ("r", Permissions.READ), ("w", Permissions.WRITE),
                                     ("a", Permissions.ADMIN)) if p & bit)


def times(st):
    now = time.time() * 1000
    if st.ctime == 0 and st.mtime == 0:
        return "0"
    if abs(st.ctime - now) > TIME_SLACK_MS or st.mtime < st.ctime or abs(st.mtime - now) > TIME_SLACK_MS:
        return "BAD(%d,%d)" % (st.ctime, st.mtime)
    return "ok"


UUID_RE = re.compile(r"[0-9a-f]{32}__lock__")  # kazoo 2.8 Lock node names


def mask_uuid(s):
    return UUID_RE.sub("<uuid>__lock__", s)


def call(fn, *args, **kwargs):
    """Runs a client call; returns its value or the exception it raised."""
    try:
        return fn(*args, **kwargs)
    except KazooException as e:
        return e


def is_stat(v):
    return isinstance(v, ZnodeStat)


class Events:
    """Collects watch events (or recipe callbacks) into a queue."""

    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, *args):
        self.q.put(args)

    def take(self, n):
        """Waits (bounded) for n items; returns the list it got."""
        got = []
        deadline = time.monotonic() + WAIT
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                got.append(self.q.get(timeout=left))
            except queue.Empty:
                break
        return got

    def rest(self, client):
        """Everything queued once `client` has answered one more request and
        run every callback dispatched before that answer (a barrier: no wait
        on the clock)."""
        client.exists("/")
        done = threading.Event()
        client.handler.dispatch_callback(Callback("watch", done.set, ()))
        done.wait(WAIT)
        got = []
        while True:
            try:
                got.append(self.q.get_nowait())
            except queue.Empty:
                return got


def ev(e):
    """Normalises a kazoo WatchedEvent."""
    if e is None:
        return "-"
    return "%s %s %s" % (e.type, e.state, e.path)


def wait_until(pred, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    print("note: timed out waiting for %s" % what, file=sys.stderr)
    return False


def connect(hosts, ck, label):
    c = KazooClient(hosts=hosts, timeout=10.0)
    c.start(timeout=15)
    ck.label(c, label)
    return c


# ---------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------

def section_session(ck, a, b):
    ck.eq("session.A.state", a.state, "'CONNECTED'")
    ck.eq("session.B.state", b.state, "'CONNECTED'")
    ck.eq("session.A.negotiated_timeout_ms", a._session_timeout, "10000")
    ck.show("session.distinct_ids", a.client_id[0] != b.client_id[0], a.client_id[0] != b.client_id[0])
    ck.show("session.password_len", len(a.client_id[1]), len(a.client_id[1]) == 16, 16)


def section_create(ck, a):
    ck.eq("create.root", call(a.create, ROOT, b"root"), repr(ROOT))
    ck.eq("create.plain", call(a.create, ROOT + "/plain", b"hello"), "'/kc/plain'")
    before = a.last_zxid
    ck.err("create.exists", call(a.create, ROOT + "/plain", b"x"), "NodeExistsError")
    ck.eq("create.failed_write_advances_zxid_by", a.last_zxid - before, "1")
    ck.err("create.no_parent", call(a.create, ROOT + "/missing/child"), "NoNodeError")
    ck.eq("create.makepath", call(a.create, ROOT + "/deep/a/b", b"d", makepath=True), "'/kc/deep/a/b'")
    st = call(a.exists, ROOT + "/deep/a")
    ck.show("create.makepath.parent", st, is_stat(st) and st.numChildren == 1 and st.dataLength == 0)
    ck.eq("create.ephemeral", call(a.create, ROOT + "/eph", b"e", ephemeral=True), "'/kc/eph'")
    st = call(a.exists, ROOT + "/eph")
    ck.show("create.ephemeral.stat", st, is_stat(st) and ck.owner(st.ephemeralOwner) == "A")
    ck.err("create.under_ephemeral", call(a.create, ROOT + "/eph/child"), "NoChildrenForEphemeralsError")
    for i in range(3):
        ck.eq("create.sequence.%d" % i,
              call(a.create, ROOT + "/seq/n-", b"", sequence=True, makepath=True),
              "'/kc/seq/n-%010d'" % i)
    ck.eq("create.sequence.delete_middle", call(a.delete, ROOT + "/seq/n-0000000001"), "True")
    st = call(a.exists, ROOT + "/seq")
    # ZooKeeper reports cversion = creates + deletes, while the sequence
    # suffix counts only creates: after 3 creates and 1 delete, cv=4 but the
    # next suffix is 3 (DataNode.copyStat: cversion*2 - numChildren).
    ck.show("create.sequence.parent_after_delete", st, is_stat(st) and st.cversion == 4)
    ck.eq("create.sequence.after_delete", call(a.create, ROOT + "/seq/n-", sequence=True),
          "'/kc/seq/n-0000000003'")
    ck.eq("create.ephemeral_sequence",
          call(a.create, ROOT + "/seq/e-", b"es", ephemeral=True, sequence=True),
          "'/kc/seq/e-0000000004'")
    r = call(a.create, ROOT + "/c2", b"two", include_data=True)
    ck.show("create2.include_data", r, isinstance(r, tuple) and r[0] == ROOT + "/c2"
            and r[1].version == 0 and r[1].dataLength == 3 and r[1].czxid == r[1].mzxid == r[1].pzxid)
    ck.err("create2.exists", call(a.create, ROOT + "/c2", include_data=True), "NodeExistsError")


def section_data(ck, a):
    p = ROOT + "/plain"
    r = call(a.get, p)
    ck.show("get.plain", r, isinstance(r, tuple) and r[0] == b"hello" and r[1].version == 0)
    st = call(a.set, p, b"v1", version=0)
    ck.show("set.version0", st, is_stat(st) and st.version == 1 and st.mzxid > st.czxid)
    ck.err("set.bad_version", call(a.set, p, b"v2", version=0), "BadVersionError")
    st = call(a.set, p, b"v2")
    ck.show("set.any_version", st, is_stat(st) and st.version == 2)
    ck.err("set.no_node", call(a.set, ROOT + "/nope", b""), "NoNodeError")
    ck.err("get.no_node", call(a.get, ROOT + "/nope"), "NoNodeError")
    st = call(a.exists, p)
    ck.show("exists.yes", st, is_stat(st) and st.dataLength == 2)
    ck.eq("exists.no", call(a.exists, ROOT + "/nope"), "None")
    ck.err("delete.bad_version", call(a.delete, p, version=0), "BadVersionError")
    ck.err("delete.not_empty", call(a.delete, ROOT + "/deep"), "NotEmptyError")
    ck.err("delete.no_node", call(a.delete, ROOT + "/nope"), "NoNodeError")
    ck.eq("delete.version2", call(a.delete, p, version=2), "True")
    ck.eq("delete.gone", call(a.exists, p), "None")
    ck.eq("delete.recursive", call(a.delete, ROOT + "/deep", recursive=True), "None")
    # payload edge cases: empty and every byte value
    ck.eq("data.empty.create", call(a.create, ROOT + "/empty"), "'/kc/empty'")
    r = call(a.get, ROOT + "/empty")
    ck.show("data.empty.get", r, isinstance(r, tuple) and r[0] == b"" and r[1].dataLength == 0)
    blob = bytes(range(256)) * 4
    st = call(a.set, ROOT + "/empty", blob)
    ck.show("data.binary.set", st, is_stat(st) and st.dataLength == len(blob))
    r = call(a.get, ROOT + "/empty")
    ck.show("data.binary.roundtrip", "%s len=%d" % (r[0] == blob, r[1].dataLength)
            if isinstance(r, tuple) else r, isinstance(r, tuple) and r[0] == blob)
    big = b"x" * 500_000
    st = call(a.set, ROOT + "/empty", big)
    ck.show("data.500k.set", st, is_stat(st) and st.dataLength == len(big))
    r = call(a.get, ROOT + "/empty")
    ck.show("data.500k.get", "len=%d" % len(r[0]) if isinstance(r, tuple) else r,
            isinstance(r, tuple) and r[0] == big)
    r = call(a.get, "/")
    ck.show("get.root", r, isinstance(r, tuple) and r[0] == b"" and r[1].czxid == 0)
    r = call(a.get, "/zookeeper")
    ck.show("get.zookeeper", r, isinstance(r, tuple) and r[0] == b"")
    r = call(a.get_children, "/zookeeper")
    ck.eq("children.zookeeper", sorted(r) if isinstance(r, list) else r, "['config', 'quota']")


def section_children(ck, a):
    k = ROOT + "/kids"
    a.create(k, b"")
    for name, data in (("c1", b"1"), ("c2", b"22"), ("c3", b"")):
        a.create(k + "/" + name, data)
    r = call(a.get_children, k)
    ck.eq("children.list", sorted(r) if isinstance(r, list) else r, "['c1', 'c2', 'c3']")
    r = call(a.get_children, k, include_data=True)
    ok = isinstance(r, tuple) and sorted(r[0]) == ["c1", "c2", "c3"] and r[1].numChildren == 3 \
        and r[1].cversion == 3
    ck.show("children.include_data", (sorted(r[0]), r[1]) if isinstance(r, tuple) else r, ok)
    ck.eq("children.empty", call(a.get_children, k + "/c1"), "[]")
    ck.err("children.no_node", call(a.get_children, ROOT + "/nope"), "NoNodeError")
    ck.err("children.no_node.include_data", call(a.get_children, ROOT + "/nope", include_data=True),
           "NoNodeError")


def section_multi(ck, a):
    t = a.transaction()
    t.create(ROOT + "/tx", b"t")
    t.set_data(ROOT + "/tx", b"t2")
    t.check(ROOT + "/tx", 1)
    t.create(ROOT + "/tx/child")
    t.delete(ROOT + "/tx/child")
    r = call(t.commit)
    ok = isinstance(r, list) and len(r) == 5 and r[0] == ROOT + "/tx" and is_stat(r[1]) \
        and r[1].version == 1 and r[2] is True and r[3] == ROOT + "/tx/child" and r[4] is True
    ck.show("multi.commit", r, ok)
    # all ops in one multi share one zxid
    ck.show("multi.one_zxid", is_stat(r[1]) and r[1].czxid == r[1].mzxid if isinstance(r, list) else r,
            isinstance(r, list) and is_stat(r[1]) and r[1].czxid == r[1].mzxid)
    r = call(a.get, ROOT + "/tx")
    ck.show("multi.commit.effect", r, isinstance(r, tuple) and r[0] == b"t2" and r[1].version == 1
            and r[1].numChildren == 0 and r[1].cversion == 2)

    before = a.last_zxid
    t = a.transaction()
    t.create(ROOT + "/tx2")
    t.set_data(ROOT + "/tx", b"t3")
    t.check(ROOT + "/tx", 99)
    t.delete(ROOT + "/tx")
    ck.eq("multi.fail_check", call(t.commit),
          "[RolledBackError, RolledBackError, BadVersionError, RuntimeInconsistency]")
    ck.eq("multi.fail_check.zxid_advance", a.last_zxid - before, "1")
    ck.eq("multi.fail_check.no_create", call(a.exists, ROOT + "/tx2"), "None")
    r = call(a.get, ROOT + "/tx")
    ck.show("multi.fail_check.no_set", r, isinstance(r, tuple) and r[0] == b"t2" and r[1].version == 1)

    t = a.transaction()
    t.create(ROOT + "/tx")
    t.set_data(ROOT + "/tx", b"t4")
    ck.eq("multi.fail_first", call(t.commit), "[NodeExistsError, RuntimeInconsistency]")
    t = a.transaction()
    t.delete(ROOT + "/tx", version=1)
    t.delete(ROOT + "/nope")
    ck.eq("multi.fail_last", call(t.commit), "[RolledBackError, NoNodeError]")
    ck.eq("multi.empty", call(a.transaction().commit), "[]")


def section_acl(ck, hosts, a, b):
    acl = make_digest_acl("alice", "secret", all=True)
    ck.eq("acl.digest_id", acl, "digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa")
    s = ROOT + "/secure"
    ck.eq("acl.create_digest", call(a.create, s, b"s", acl=[acl]), "'/kc/secure'")
    ck.err("acl.creator_noauth_read", call(a.get, s), "NoAuthError")
    ck.err("acl.getacl_noauth", call(a.get_acls, s), "NoAuthError")
    ck.err("acl.B_noauth_read", call(b.get, s), "NoAuthError")
    st = call(b.exists, s)
    ck.show("acl.B_exists_needs_no_perm", st, is_stat(st))
    ck.err("acl.B_noauth_set", call(b.set, s, b"x"), "NoAuthError")
    ck.err("acl.B_noauth_create_child", call(b.create, s + "/c"), "NoAuthError")
    ck.eq("acl.B_add_auth", call(b.add_auth, "digest", "alice:secret"), "True")
    r = call(b.get, s)
    ck.show("acl.B_auth_read", r, isinstance(r, tuple) and r[0] == b"s")
    r = call(b.get_acls, s)
    ck.show("acl.getacl", r, isinstance(r, tuple) and r[0] == [acl] and r[1].aversion == 0)
    world_r = ACL(Permissions.READ, Id("world", "anyone"))
    st = call(b.set_acls, s, [acl, world_r], version=0)
    ck.show("acl.setacl", st, is_stat(st) and st.aversion == 1 and st.version == 0)
    ck.err("acl.setacl.bad_version", call(b.set_acls, s, [acl], version=0), "BadVersionError")
    r = call(a.get, s)
    ck.show("acl.world_read_now", r, isinstance(r, tuple) and r[0] == b"s")
    ck.err("acl.world_no_write", call(a.set, s, b"x"), "NoAuthError")
    ck.err("acl.world_no_setacl", call(a.set_acls, s, [world_r]), "NoAuthError")
    ck.err("acl.creator_all_without_auth", call(a.create, ROOT + "/ca", acl=CREATOR_ALL_ACL),
           "InvalidACLError")
    ck.eq("acl.creator_all_with_auth", call(b.create, ROOT + "/ca", b"", acl=CREATOR_ALL_ACL),
          "'/kc/ca'")
    r = call(b.get_acls, ROOT + "/ca")
    ck.eq("acl.creator_all_resolved", r[0] if isinstance(r, tuple) else r,
          "[digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa]")
    ck.err("acl.unknown_scheme_in_acl", call(a.create, ROOT + "/noacl", acl=[ACL(0, Id("bogus", "x"))]),
           "InvalidACLError")
    r = call(b.get_acls, "/")
    ck.eq("acl.root", r[0] if isinstance(r, tuple) else r, "[world:anyone:cdrwa]")
    # An unknown scheme fails and the server closes the connection: use a
    # throwaway client so A and B keep their sessions.
    c = KazooClient(hosts=hosts, timeout=10.0)
    c.start(timeout=15)
    ck.err("auth.unknown_scheme", call(c.add_auth, "nosuchscheme", "x"), "AuthFailedError")
    ck.show("auth.unknown_scheme.client_lost", c.state,
            wait_until(lambda: c.state == "LOST", "AUTH_FAILED close"), "LOST")
    c.stop()
    c.close()


def section_watches(ck, a, b):
    w = ROOT + "/w"
    # DataWatch: initial call, create, change, delete
    dw = Events()
    a.DataWatch(w, lambda data, stat, event: dw(data, stat.version if stat else None, ev(event)))
    ck.eq("watch.data.initial", dw.take(1), "[(None, None, '-')]")
    b.create(w, b"d0")
    ck.eq("watch.data.created", dw.take(1), "[(b'd0', 0, 'CREATED CONNECTED /kc/w')]")
    b.set(w, b"d1")
    ck.eq("watch.data.changed", dw.take(1), "[(b'd1', 1, 'CHANGED CONNECTED /kc/w')]")
    # ChildrenWatch
    cw = Events()
    a.ChildrenWatch(w, lambda kids, event: cw(sorted(kids), ev(event)), send_event=True)
    ck.eq("watch.children.initial", cw.take(1), "[([], '-')]")
    b.create(w + "/k1")
    ck.eq("watch.children.added", cw.take(1), "[(['k1'], 'CHILD CONNECTED /kc/w')]")
    b.create(w + "/k2")
    ck.eq("watch.children.added2", cw.take(1), "[(['k1', 'k2'], 'CHILD CONNECTED /kc/w')]")
    b.delete(w + "/k1")
    ck.eq("watch.children.removed", cw.take(1), "[(['k2'], 'CHILD CONNECTED /kc/w')]")
    ck.eq("watch.data.no_event_for_children", dw.rest(a), "[]")

    # one-shot get(watch=): fires once for two changes
    one = Events()
    r = a.get(w, watch=lambda e: one(ev(e)))
    ck.show("watch.oneshot.get", r[0], r[0] == b"d1")
    b.set(w, b"d2")
    ck.eq("watch.oneshot.first", one.take(1), "[('CHANGED CONNECTED /kc/w')]")
    ck.eq("watch.data.changed2", dw.take(1), "[(b'd2', 2, 'CHANGED CONNECTED /kc/w')]")
    b.set(w, b"d3")
    ck.eq("watch.data.changed3", dw.take(1), "[(b'd3', 3, 'CHANGED CONNECTED /kc/w')]")
    ck.eq("watch.oneshot.no_second", one.rest(a), "[]")

    # exists watch on a missing node fires NodeCreated
    ex = Events()
    ck.eq("watch.exists.missing", call(a.exists, ROOT + "/w2", watch=lambda e: ex(ev(e))), "None")
    b.create(ROOT + "/w2", b"")
    ck.eq("watch.exists.created", ex.take(1), "[('CREATED CONNECTED /kc/w2')]")

    # the order of events on one connection when a node is deleted: a data
    # watch and a child watch on the node itself, plus a child watch on
    # the parent; the server sends one NodeDeleted for the node per
    # connection, then NodeChildrenChanged for the parent
    seq = Events()
    a.get(ROOT + "/w2", watch=lambda e: seq("data", ev(e)))
    a.get_children(ROOT + "/w2", watch=lambda e: seq("child", ev(e)))
    a.get_children(ROOT, watch=lambda e: seq("parent", ev(e)))
    b.delete(ROOT + "/w2")
    ck.eq("watch.delete.order", seq.take(3),
          "[('data', 'DELETED CONNECTED /kc/w2'), ('child', 'DELETED CONNECTED /kc/w2'), "
          "('parent', 'CHILD CONNECTED /kc')]")
    ck.eq("watch.delete.nothing_more", seq.rest(a), "[]")

    # deleting the watched node ends the DataWatch/ChildrenWatch cycle (the
    # last child goes first, and is waited for, so that the ChildrenWatch
    # re-read cannot race the parent's deletion)
    b.delete(w + "/k2")
    ck.eq("watch.children.last_removed", cw.take(1), "[([], 'CHILD CONNECTED /kc/w')]")
    b.delete(w)
    ck.eq("watch.data.deleted", dw.take(1), "[(None, None, 'DELETED CONNECTED /kc/w')]")
    ck.eq("watch.children.after_delete", cw.rest(a), "[]")


def section_sync_4lw(ck, a):
    ck.eq("sync.path", call(a.sync, ROOT), repr(ROOT))
    ck.eq("sync.missing_path", call(a.sync, ROOT + "/nope"), "'/kc/nope'")
    ck.eq("4lw.ruok", call(a.command, b"ruok"), "'imok'")
    ck.eq("4lw.isro", call(a.command, b"isro"), "'rw'")
    ck.eq("4lw.server_version", call(a.server_version), "(3, 8, 0)")


def section_recipes(ck, a, b):
    la = a.Lock(ROOT + "/lock", "A")
    lb = b.Lock(ROOT + "/lock", "B")
    ck.eq("lock.A.acquire", call(la.acquire, timeout=WAIT), "True")
    ck.eq("lock.contenders.A", call(la.contenders), "['A']")
    ck.eq("lock.B.nonblocking", call(lb.acquire, blocking=False), "False")
    ck.eq("lock.contenders.still_A", call(la.contenders), "['A']")
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("r", call(lb.acquire, timeout=WAIT)))
    th.start()
    ck.show("lock.B.queued", "waiting",
            wait_until(lambda: la.contenders() == ["A", "B"], "B to queue behind A"))
    ck.eq("lock.A.release", call(la.release), "True")
    th.join(WAIT)
    ck.eq("lock.B.acquired", result.get("r"), "True")
    r = call(a.get_children, ROOT + "/lock")
    ck.eq("lock.nodes", r, "['<uuid>__lock__0000000002']")
    ck.eq("lock.B.release", call(lb.release), "True")
    ck.eq("lock.empty", call(a.get_children, ROOT + "/lock"), "[]")

    ca = a.Counter(ROOT + "/counter")
    cb = b.Counter(ROOT + "/counter")
    ca += 5
    cb -= 2
    ca += 10
    ck.eq("counter.value", ca.value, "13")
    r = call(a.get, ROOT + "/counter")
    ck.show("counter.node", r, isinstance(r, tuple) and r[0] == b"13" and r[1].version == 3)


def section_ephemeral_removal(ck, a, b):
    st = call(b.exists, ROOT + "/eph", watch=None)
    ck.show("ephemeral.B_sees_owner", st, is_stat(st) and ck.owner(st.ephemeralOwner) == "A")
    seen = Events()
    b.exists(ROOT + "/eph", watch=lambda e: seen("eph", ev(e)))
    b.get_children(ROOT + "/seq", watch=lambda e: seen("seq", ev(e)))
    a.stop()
    a.close()
    ck.eq("ephemeral.removed_events", seen.take(2),
          "[('eph', 'DELETED CONNECTED /kc/eph'), ('seq', 'CHILD CONNECTED /kc/seq')]")
    ck.eq("ephemeral.gone", call(b.exists, ROOT + "/eph"), "None")
    r = call(b.get_children, ROOT + "/seq")
    ck.eq("ephemeral.seq_left", sorted(r) if isinstance(r, list) else r,
          "['n-0000000000', 'n-0000000002', 'n-0000000003']")


def dump_tree(ck, b):
    """Prints every node below ROOT with its stat: the final state to diff."""
    def walk(path):
        r = call(b.get, path)
        if isinstance(r, tuple):
            data = r[0] if len(r[0]) <= 32 else ("<%d bytes>" % len(r[0])).encode()
            ck.show("tree %s" % mask_uuid(path), (data, r[1]), True)
        else:
            ck.show("tree %s" % path, r, False)
            return
        kids = call(b.get_children, path)
        if isinstance(kids, list):
            for k in sorted(kids):
                walk(path + "/" + k)
    walk(ROOT)


def main():
    if len(sys.argv) != 2 or ":" not in sys.argv[1]:
        print("usage: kazoo_check.py HOST:PORT", file=sys.stderr)
        return 2
    hosts = sys.argv[1]
    ck = Checker()
    try:
        a = connect(hosts, ck, "A")
        b = connect(hosts, ck, "B")
    except Exception as e:  # no session: nothing else can run
        ck.record("session.connect", "%s: %s" % (type(e).__name__, e), False)
        print("kazoo: %d passed, %d failed" % (ck.passed, ck.failed), flush=True)
        return 1
    if a.exists(ROOT):
        print("note: removing leftover %s" % ROOT, file=sys.stderr)
        a.delete(ROOT, recursive=True)
    sections = [
        ("session", lambda: section_session(ck, a, b)),
        ("create", lambda: section_create(ck, a)),
        ("data", lambda: section_data(ck, a)),
        ("children", lambda: section_children(ck, a)),
        ("multi", lambda: section_multi(ck, a)),
        ("acl", lambda: section_acl(ck, hosts, a, b)),
        ("watches", lambda: section_watches(ck, a, b)),
        ("sync_4lw", lambda: section_sync_4lw(ck, a)),
        ("recipes", lambda: section_recipes(ck, a, b)),
        ("ephemeral_removal", lambda: section_ephemeral_removal(ck, a, b)),
        ("tree", lambda: dump_tree(ck, b)),
    ]
    for name, run in sections:
        print("== %s" % name, flush=True)
        try:
            run()
        except Exception as e:  # an unexpected raise fails the section, not the run
            ck.record("%s.unexpected" % name, "%s: %s" % (type(e).__name__, e), False)
    print("== cleanup", flush=True)
    ck.eq("cleanup.delete_root", call(b.delete, ROOT, recursive=True), "None")
    b.stop()
    b.close()
    if a.connected:
        a.stop()
        a.close()
    print("kazoo: %d passed, %d failed" % (ck.passed, ck.failed), flush=True)
    return 1 if ck.failed else 0


if __name__ == "__main__":
    sys.exit(main())
