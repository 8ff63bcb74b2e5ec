/*
 * Data-directory workload for the zab-node durability tests (e2e/datadir).
 *
 * Writes one fixed, varied data set through the official Java client (3.8), so that the server's
 * data directory afterwards holds every kind of record ZooKeeper puts on disk:
 *  - creates of every CreateMode: persistent, sequential, container, TTL, ephemeral;
 *  - null, empty, binary, UTF-8 and ~500 KB values;
 *  - seven distinct ACL lists: world (all; read-only), digest, ip, auth-expanded, mixed permissions;
 *  - setData and setACL with exact versions;
 *  - deletes, which move a parent's pzxid but not its cversion;
 *  - failed writes (error txns), a successful multi and a failed one;
 *  - a quota: /zookeeper/quota nodes and their in-memory stats;
 *  - a second session that creates ephemerals and closes (closeSession txn);
 *  - finally, ephemerals of the main session.
 *
 * Usage: java Workload <host:port> [sessionTimeoutMs]
 *
 * Prints "SESSION 0x<id>" once connected and, when everything is written and synced,
 * "READY 0x<id> ephemerals=<n>" and then blocks until killed: the session stays open, so the data
 * directory holds the ephemerals of a live session when the test kills the server. Any unexpected
 * result aborts with exit status 1 and a message on stderr; nothing is printed as READY then.
 *
 * Determinism: the data comes from java.util.Random with a fixed seed (its algorithm is specified
 * by the JDK), and the main session issues its requests in one fixed order (ZooKeeper keeps a
 * session's requests in order, so asynchronous pipelining does not reorder txns). Only the times,
 * session ids and, with them, TTL/ephemeral owners differ between runs; the test compares two
 * servers opening copies of the same directory, so those agree too.
 */

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.StatsTrack;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.cli.SetQuotaCommand;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public final class Workload {

    static final long DAY_MS = 24L * 3600 * 1000;
    static final int FLAT = 2000;
    static final int DEEP = 30;
    static final int DEEP_CHILDREN = 20;
    static final long CONNECT_DEADLINE_MS = 30_000;
    static final long DRAIN_DEADLINE_MS = 300_000;

    static final Random RNG = new Random(20240601L);

    /** ACL lists. All but READ_ONLY give the workload (ip 127.0.0.1, digest alice and bob) every
     *  permission, so nodes that get modified later always use one of the first six. */
    static List<List<ACL>> acls;
    static final int READ_ONLY = 6;

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: java Workload <host:port> [sessionTimeoutMs]");
            System.exit(2);
        }
        int timeout = args.length > 1 ? Integer.parseInt(args[1]) : 180_000;
        acls = aclLists();

        ZooKeeper zk = connect(args[0], timeout);
        String sid = "0x" + Long.toHexString(zk.getSessionId());
        System.out.println("SESSION " + sid);
        System.out.flush();
        zk.addAuthInfo("digest", bytes("alice:secret"));
        zk.addAuthInfo("digest", bytes("bob:builder"));
        Pipe p = new Pipe(zk);

        p.create("/dd", bytes("datadir workload"), acls.get(0), CreateMode.PERSISTENT);
        flat(p);
        deep(p);
        sequential(p);
        containers(p);
        ttl(p);
        big(p);
        p.drain();
        quota(zk, p);
        failedWrites(p);
        p.drain();
        multis(zk);
        secondSession(args[0], timeout, p);
        int ephemerals = ephemerals(p);
        p.drain();

        CountDownLatch synced = new CountDownLatch(1);
        zk.sync("/", (rc, path, ctx) -> synced.countDown(), null);
        if (!synced.await(DRAIN_DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            fail("sync did not complete");
        }
        System.out.println("READY " + sid + " ephemerals=" + ephemerals);
        System.out.flush();
        new CountDownLatch(1).await(); // keep the session (and its ephemerals) alive until killed
    }

    // ---- the data set

    /** /dd/flat/nNNNN: every data kind and ACL list; then setData, setACL and deletes. */
    static void flat(Pipe p) {
        p.create("/dd/flat", null, acls.get(0), CreateMode.PERSISTENT);
        for (int i = 0; i < FLAT; i++) {
            p.create(flatPath(i), data(i), acls.get(i % 7), CreateMode.PERSISTENT);
        }
        for (int i = 0; i < FLAT; i++) {
            if (i % 7 == READ_ONLY || protectedFlat(i)) {
                continue;
            }
            if (i % 4 == 1) {
                int bumps = 1 + (i / 4) % 4;
                for (int v = 0; v < bumps; v++) {
                    p.setData(flatPath(i), data(i + v + 1), v);
                }
            }
            if (i % 13 == 2) {
                p.setAcl(flatPath(i), acls.get((i + 1) % 6), 0);
                if (i % 26 == 2) {
                    p.setAcl(flatPath(i), acls.get((i + 3) % 6), 1);
                }
            }
        }
        for (int i = 0; i < FLAT; i++) {
            if (i % 5 == 4 && !protectedFlat(i)) {
                // exact version when we know it, -1 otherwise
                int version = (i % 7 != READ_ONLY && i % 4 == 1) ? 1 + (i / 4) % 4 : -1;
                p.delete(flatPath(i), version);
            }
        }
    }

    /** Flat nodes used later by the failed writes, the multi and the second session. */
    static boolean protectedFlat(int i) {
        return i == 0 || i == 3 || i == 6 || i == 7 || i == 8;
    }

    static String flatPath(int i) {
        return String.format("/dd/flat/n%04d", i);
    }

    /** /dd/deep/dNN/eNN[/fN]: three levels, some subtrees deleted bottom-up. */
    static void deep(Pipe p) {
        p.create("/dd/deep", bytes("deep"), acls.get(1), CreateMode.PERSISTENT);
        for (int d = 0; d < DEEP; d++) {
            String dp = String.format("/dd/deep/d%02d", d);
            p.create(dp, data(d * 7), acls.get(d % 6), CreateMode.PERSISTENT);
            for (int e = 0; e < DEEP_CHILDREN; e++) {
                String ep = String.format("%s/e%02d", dp, e);
                p.create(ep, data(d * 31 + e), acls.get((d + e) % 7 == READ_ONLY ? 0 : (d + e) % 7),
                    CreateMode.PERSISTENT);
                if ((d + e) % 3 == 0) {
                    for (int f = 0; f < 2; f++) {
                        p.create(ep + "/f" + f, data(d + e + f), acls.get(f), CreateMode.PERSISTENT);
                    }
                }
            }
            p.setData(dp, data(d * 7 + 3), 0);
        }
        for (int d = 1; d < DEEP; d += 4) {
            for (int e = 5; e < 10; e++) {
                String ep = String.format("/dd/deep/d%02d/e%02d", d, e);
                if ((d + e) % 3 == 0) {
                    p.delete(ep + "/f1", 0);
                    p.delete(ep + "/f0", -1);
                }
                p.delete(ep, 0);
            }
        }
    }

    /** Sequential nodes with deletes in between. The sequence number is the parent's cversion,
     *  which counts creates only: in 3.8 a delete moves the parent's pzxid, not its cversion
     *  (DataTree.deleteNode), so "late-" continues at 40. */
    static void sequential(Pipe p) {
        p.create("/dd/seq", null, acls.get(0), CreateMode.PERSISTENT);
        for (int i = 0; i < 40; i++) {
            p.create("/dd/seq/item-", data(i + 100), acls.get(i % 6), CreateMode.PERSISTENT_SEQUENTIAL,
                String.format("/dd/seq/item-%010d", i));
        }
        for (int i = 0; i < 40; i += 3) {
            p.delete(String.format("/dd/seq/item-%010d", i), 0);
        }
        for (int i = 0; i < 10; i++) {
            p.create("/dd/seq/late-", data(i + 200), acls.get(0), CreateMode.PERSISTENT_SEQUENTIAL,
                String.format("/dd/seq/late-%010d", 40 + i));
        }
    }

    /** Containers that keep at least one child (so none becomes a deletion candidate while the
     *  test runs), one that never had children (never a candidate), and a nested container. */
    static void containers(Pipe p) {
        p.create("/dd/containers", null, acls.get(0), CreateMode.PERSISTENT);
        for (int c = 0; c < 10; c++) {
            String cp = String.format("/dd/containers/c%02d", c);
            p.create(cp, data(c + 300), acls.get(c % 6), CreateMode.CONTAINER);
            for (int k = 0; k < 3; k++) {
                p.create(cp + "/k" + k, data(c + k), acls.get(0), CreateMode.PERSISTENT);
            }
        }
        p.delete("/dd/containers/c05/k1", 0);
        p.create("/dd/containers/c03/inner", bytes("inner"), acls.get(0), CreateMode.CONTAINER);
        p.create("/dd/containers/c03/inner/leaf", null, acls.get(0), CreateMode.PERSISTENT);
        p.create("/dd/containers/never-used", new byte[0], acls.get(0), CreateMode.CONTAINER);
    }

    /** TTL nodes with long TTLs (nothing expires while the test runs; the ephemeralOwner stored on
     *  disk carries the TTL, although clients are shown 0), and one short TTL kept by a child. */
    static void ttl(Pipe p) {
        long[] ttls = {DAY_MS, 7 * DAY_MS, 30 * DAY_MS, 365 * DAY_MS};
        p.create("/dd/ttl", null, acls.get(0), CreateMode.PERSISTENT);
        for (int t = 0; t < 20; t++) {
            p.createTtl(String.format("/dd/ttl/t%02d", t), data(t + 400), acls.get(t % 6),
                CreateMode.PERSISTENT_WITH_TTL, ttls[t % 4], null);
        }
        for (int t = 0; t < 5; t++) {
            p.createTtl("/dd/ttl/s-", data(t + 450), acls.get(0), CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL,
                ttls[(t + 1) % 4], String.format("/dd/ttl/s-%010d", 20 + t));
        }
        p.create("/dd/ttl/t00/child", bytes("under a TTL node"), acls.get(0), CreateMode.PERSISTENT);
        // A short TTL that never expires while its child exists; Probe removes the child.
        p.createTtl("/dd/ttl/short", bytes("1 s TTL, kept alive by its child"), acls.get(0),
            CreateMode.PERSISTENT_WITH_TTL, 1000, null);
        p.create("/dd/ttl/short/keep", null, acls.get(0), CreateMode.PERSISTENT);
        p.setData("/dd/ttl/t01", bytes("ttl node, data set once"), 0);
        p.delete("/dd/ttl/t02", 0);
    }

    /** ~500 KB values: two creates, one setData. */
    static void big(Pipe p) {
        p.create("/dd/big", random(500 * 1024), acls.get(2), CreateMode.PERSISTENT);
        p.create("/dd/big2", random(480 * 1024), acls.get(0), CreateMode.PERSISTENT);
        p.setData("/dd/big", random(510 * 1024), 0);
    }

    /** A quota on /dd/quota (creates /zookeeper/quota/dd/quota/zookeeper_{limits,stats}), then
     *  writes below it, which the server counts in the stats node's in-memory data. */
    static void quota(ZooKeeper zk, Pipe p) throws Exception {
        p.create("/dd/quota", bytes("quota root"), acls.get(0), CreateMode.PERSISTENT);
        p.drain();
        StatsTrack limit = new StatsTrack();
        limit.setCount(100);
        limit.setBytes(100_000L);
        SetQuotaCommand.createQuota(zk, "/dd/quota", limit);
        for (int i = 0; i < 20; i++) {
            p.create(String.format("/dd/quota/q%02d", i), data(i + 500), acls.get(0), CreateMode.PERSISTENT);
        }
        p.setData("/dd/quota/q03", new byte[2000], 0);
        p.delete("/dd/quota/q04", 0);
    }

    /** Writes that fail: each still becomes an error txn with its own zxid in ZooKeeper's log. */
    static void failedWrites(Pipe p) {
        p.expect(Code.NODEEXISTS).create("/dd/flat/n0000", bytes("again"), acls.get(0), CreateMode.PERSISTENT);
        p.expect(Code.BADVERSION).delete("/dd/flat/n0003", 99);
        p.expect(Code.NONODE).setData("/dd/nonexistent", bytes("x"), -1);
        p.expect(Code.NOTEMPTY).delete("/dd/deep/d00", -1);
        p.expect(Code.NONODE).create("/dd/missing/child", null, acls.get(0), CreateMode.PERSISTENT);
        p.expect(Code.NOAUTH).setData("/dd/flat/n0006", bytes("read-only node"), -1);
        p.expect(Code.BADVERSION).setAcl("/dd/flat/n0000", acls.get(1), 5);
    }

    /** A successful multi and a failed multi (rolled back; still logged: a multi txn whose parts
     *  are error txns). No empty multi: the Java client answers that itself, nothing is sent. */
    static void multis(ZooKeeper zk) throws Exception {
        List<OpResult> ok = zk.multi(Arrays.asList(
            Op.create("/dd/multi", bytes("multi"), acls.get(1), CreateMode.PERSISTENT),
            Op.create("/dd/multi/a", null, acls.get(0), CreateMode.PERSISTENT),
            Op.create("/dd/multi/seq-", bytes("s"), acls.get(0), CreateMode.PERSISTENT_SEQUENTIAL),
            Op.setData("/dd/multi", bytes("multi, updated"), 0),
            Op.check("/dd/multi/a", 0),
            Op.delete("/dd/flat/n0007", 0),
            Op.create("/dd/multi/c", null, acls.get(0), CreateMode.CONTAINER),
            Op.create("/dd/multi/c/x", new byte[0], acls.get(3), CreateMode.PERSISTENT),
            Op.create("/dd/multi/ttl", bytes("ttl in multi"), acls.get(0), CreateMode.PERSISTENT_WITH_TTL,
                30 * DAY_MS),
            Op.setData("/dd/flat/n0003", null, 0)));
        if (ok.size() != 10) {
            fail("multi: " + ok.size() + " results");
        }
        try {
            zk.multi(Arrays.asList(
                Op.create("/dd/multi/never", null, acls.get(0), CreateMode.PERSISTENT),
                Op.check("/dd/multi", 99)));
            fail("failed multi succeeded");
        } catch (KeeperException.BadVersionException expected) {
            // the whole multi is rolled back
        }
    }

    /** A second session that creates ephemerals and closes: a closeSession txn deletes them. */
    static void secondSession(String hostPort, int timeout, Pipe main) throws Exception {
        main.create("/dd/eph", bytes("ephemerals"), acls.get(0), CreateMode.PERSISTENT);
        main.drain();
        ZooKeeper zk2 = connect(hostPort, timeout);
        zk2.addAuthInfo("digest", bytes("alice:secret"));
        Pipe p = new Pipe(zk2);
        p.create("/dd/eph/s2-a", bytes("gone at close"), acls.get(0), CreateMode.EPHEMERAL);
        p.create("/dd/eph/s2-", null, acls.get(0), CreateMode.EPHEMERAL_SEQUENTIAL, "/dd/eph/s2-0000000001");
        p.create("/dd/flat/n0008/s2-child", null, acls.get(0), CreateMode.EPHEMERAL);
        p.create("/dd/eph/s2-kept", bytes("persistent node made by session 2"), acls.get(0),
            CreateMode.PERSISTENT);
        p.drain();
        zk2.close();
    }

    /** Ephemerals of the main session, which stays open. Returns how many exist at the end. */
    static int ephemerals(Pipe p) {
        int n = 0;
        for (int e = 0; e < 20; e++) {
            p.create(String.format("/dd/eph/e%02d", e), data(e + 600), acls.get(e % 6), CreateMode.EPHEMERAL);
            n++;
        }
        for (int e = 0; e < 5; e++) {
            p.create("/dd/eph/es-", data(e + 650), acls.get(0), CreateMode.EPHEMERAL_SEQUENTIAL,
                String.format("/dd/eph/es-%010d", 23 + e));
            n++;
        }
        p.create("/dd/deep/d02/eph", bytes("ephemeral in the deep tree"), acls.get(0), CreateMode.EPHEMERAL);
        p.create("/dd/ttl/t03/eph", null, acls.get(0), CreateMode.EPHEMERAL);
        p.create("/dd/containers/c01/eph", new byte[0], acls.get(4), CreateMode.EPHEMERAL);
        n += 3;
        p.setData("/dd/eph/e00", bytes("ephemeral, updated"), 0);
        p.setData("/dd/eph/e00", null, 1);
        p.delete("/dd/eph/e19", 0);
        n--;
        return n;
    }

    // ---- data and ACLs

    /** Data of kind i % 10: null, empty, ASCII, short binary, all 256 byte values, UTF-8,
     *  larger random, ASCII with control characters and quotes, "0", random printable. */
    static byte[] data(int i) {
        switch (Math.floorMod(i, 10)) {
            case 0: return null;
            case 1: return new byte[0];
            case 2: return bytes("value-" + i);
            case 3: return random(1 + RNG.nextInt(64));
            case 4: {
                byte[] all = new byte[256];
                for (int b = 0; b < 256; b++) {
                    all[b] = (byte) (b + i);
                }
                return all;
            }
            case 5: return bytes("zn\u00f6de-\u2713-\u4e2d\u6587-" + i);
            case 6: return random(200 + RNG.nextInt(3800));
            case 7: return bytes("line1\nline2\t\"quoted\" \\ back-slash " + i);
            case 8: return bytes("0");
            default: {
                byte[] b = new byte[100];
                for (int k = 0; k < b.length; k++) {
                    b[k] = (byte) (0x20 + RNG.nextInt(0x5f));
                }
                return b;
            }
        }
    }

    static byte[] random(int n) {
        byte[] b = new byte[n];
        RNG.nextBytes(b);
        return b;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static List<List<ACL>> aclLists() throws Exception {
        Id alice = new Id("digest", DigestAuthenticationProvider.generateDigest("alice:secret"));
        Id bob = new Id("digest", DigestAuthenticationProvider.generateDigest("bob:builder"));
        List<List<ACL>> l = new ArrayList<>();
        l.add(Ids.OPEN_ACL_UNSAFE);
        l.add(Arrays.asList(new ACL(Perms.ALL, alice), new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE)));
        l.add(Arrays.asList(new ACL(Perms.ALL, new Id("ip", "127.0.0.1"))));
        l.add(Arrays.asList(new ACL(Perms.READ | Perms.WRITE, new Id("ip", "10.0.0.0/8")),
            new ACL(Perms.ALL, bob)));
        l.add(Ids.CREATOR_ALL_ACL); // the server expands it to the session's digest identities
        l.add(Arrays.asList(new ACL(Perms.READ | Perms.CREATE | Perms.DELETE, Ids.ANYONE_ID_UNSAFE),
            new ACL(Perms.WRITE | Perms.ADMIN, alice)));
        l.add(Ids.READ_ACL_UNSAFE);
        return l;
    }

    // ---- plumbing

    static ZooKeeper connect(String hostPort, int timeout) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hostPort, timeout, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(CONNECT_DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            fail("no connection to " + hostPort + " within " + CONNECT_DEADLINE_MS + " ms");
        }
        return zk;
    }

    static void fail(String why) {
        System.err.println("Workload: " + why);
        System.err.flush();
        Runtime.getRuntime().halt(1);
    }

    /**
     * Asynchronous requests of one session with a bounded window. Every request states the result
     * it expects (OK unless expect() was called just before); a different result aborts the run.
     */
    static final class Pipe {
        static final int WINDOW = 200;
        final ZooKeeper zk;
        final Semaphore window = new Semaphore(WINDOW);
        Code next = Code.OK;

        Pipe(ZooKeeper zk) {
            this.zk = zk;
        }

        Pipe expect(Code code) {
            next = code;
            return this;
        }

        private Code take() {
            Code c = next;
            next = Code.OK;
            try {
                if (!window.tryAcquire(DRAIN_DEADLINE_MS, TimeUnit.MILLISECONDS)) {
                    fail("no reply from the server within " + DRAIN_DEADLINE_MS + " ms");
                }
            } catch (InterruptedException e) {
                fail("interrupted");
            }
            return c;
        }

        private void done(String what, int rc, Code expected) {
            if (rc != expected.intValue()) {
                fail(what + ": " + Code.get(rc) + ", expected " + expected);
            }
            window.release();
        }

        void create(String path, byte[] data, List<ACL> acl, CreateMode mode) {
            create(path, data, acl, mode, path);
        }

        /** Creates and checks the name the server chose (sequential nodes). */
        void create(String path, byte[] data, List<ACL> acl, CreateMode mode, String expectName) {
            Code c = take();
            zk.create(path, data, acl, mode, (AsyncCallback.StringCallback) (rc, p, ctx, name) -> {
                if (rc == 0 && !name.equals(expectName)) {
                    fail("create " + path + ": got " + name + ", expected " + expectName);
                }
                done("create " + path, rc, c);
            }, null);
        }

        void createTtl(String path, byte[] data, List<ACL> acl, CreateMode mode, long ttl, String expectName) {
            Code c = take();
            String want = expectName == null ? path : expectName;
            zk.create(path, data, acl, mode, (AsyncCallback.Create2Callback) (rc, p, ctx, name, stat) -> {
                if (rc == 0 && !name.equals(want)) {
                    fail("create " + path + ": got " + name + ", expected " + want);
                }
                done("create ttl " + path, rc, c);
            }, null, ttl);
        }

        void setData(String path, byte[] data, int version) {
            Code c = take();
            zk.setData(path, data, version, (rc, p, ctx, stat) -> done("setData " + path, rc, c), null);
        }

        void setAcl(String path, List<ACL> acl, int version) {
            Code c = take();
            zk.setACL(path, acl, version, (rc, p, ctx, stat) -> done("setACL " + path, rc, c), null);
        }

        void delete(String path, int version) {
            Code c = take();
            zk.delete(path, version, (rc, p, ctx) -> done("delete " + path, rc, c), null);
        }

        /** Waits until every request sent so far has been answered. */
        void drain() {
            try {
                if (!window.tryAcquire(WINDOW, DRAIN_DEADLINE_MS, TimeUnit.MILLISECONDS)) {
                    fail("requests still unanswered after " + DRAIN_DEADLINE_MS + " ms");
                }
            } catch (InterruptedException e) {
                fail("interrupted");
            }
            window.release(WINDOW);
        }
    }
}
