/*
 * PersistentNode (an ephemeral znode that Curator keeps alive) across the loss of its session:
 * the Curator client is on member 1; a plain ZooKeeper handle attaches to the same session (same
 * id and password) through member 2 and closes it. ZooKeeper then drops member 1's connection of
 * that session, the client sees Disconnected and Expired, Curator reports SUSPENDED and LOST,
 * builds a new session (RECONNECTED) and PersistentNode creates the znode again. An observer on
 * member 3 watches the znode go and come back. Session ids are never printed, only compared.
 * The expiry variants put the client behind a Proxy to a follower (or the leader), make the proxy
 * a black hole until the leader expires the session, note whether that member closed the expired
 * session's connection (ZooKeeper's FinalRequestProcessor does, on every member), then let the
 * client reach the member again: it is told Expired and Curator rebuilds as above.
 */
package zab.e2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

final class SessionScenarios {
    private SessionScenarios() {}

    private static long sessionId(CuratorFramework c) {
        try {
            return c.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            return 0;
        }
    }

    private static long owner(CuratorFramework c, String path) {
        try {
            Stat s = c.checkExists().forPath(path);
            return s == null ? 0 : s.getEphemeralOwner();
        } catch (Exception e) {
            return -1;
        }
    }

    /** What a scenario has once the client's PersistentNode exists and the observer watches it. */
    private record Watched(CuratorFramework client, CuratorFramework observer, PersistentNode node, String path,
            long firstSession, BlockingQueue<ConnectionState> states, BlockingQueue<String> seen) {}

    /** The client on CONNECT keeps an ephemeral znode (PersistentNode); an observer on member OBSERVER watches it. */
    private static Watched watched(Env env, String connect, int sessionMs, int observerMember) throws Exception {
        String path = env.path("node");
        CuratorFramework c = env.client(connect, sessionMs);
        CuratorFramework observer = env.client(observerMember);
        observer.create().creatingParentsIfNeeded().forPath(env.path(""));
        BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
        c.getConnectionStateListenable().addListener((client, state) -> states.add(state));
        PersistentNode node = env.closeLater(new PersistentNode(c, CreateMode.EPHEMERAL, false, path,
                "payload".getBytes(StandardCharsets.UTF_8)));
        node.start();
        Env.check(node.waitForInitialCreate(Env.DEADLINE_MS, TimeUnit.MILLISECONDS), "the ephemeral znode is created");
        long first = sessionId(c);
        Env.until("the observer sees the znode", () -> owner(observer, path) != 0);
        Env.check(owner(observer, path) == first, "its owner is the client's session");
        // a persistent watch: no re-arming, so no change can slip between an event and the next
        // watch. NodeDataChanged is left out: PersistentNode sets the data of its re-created znode
        // or not, depending on whether its watch or its reconnection re-created it first.
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        observer.watchers().add().withMode(AddWatchMode.PERSISTENT).usingWatcher((Watcher) e -> {
            if (e.getType() != Watcher.Event.EventType.None && e.getType() != Watcher.Event.EventType.NodeDataChanged) {
                seen.add(e.getType().toString());
            }
        }).forPath(path);
        return new Watched(c, observer, node, path, first, states, seen);
    }

    /** After the session is gone: Curator's states up to RECONNECTED, the znode back under a new session. */
    private static void recovers(Watched x) throws Exception {
        List<ConnectionState> got = new ArrayList<>();
        for (ConnectionState s = Env.next(x.states, "the client's state changes after its session ended");
                ; s = Env.next(x.states, "the client reconnects with a new session")) {
            got.add(s);
            if (s == ConnectionState.RECONNECTED) {
                break;
            }
        }
        Env.line("client's connection states: " + got);
        Env.line("observer's watch event: " + Env.next(x.seen, "the observer sees the znode created again"));
        long second = sessionId(x.client);
        Env.check(second != x.firstSession && second != 0, "the client has a new session");
        Env.until("the observer sees the znode owned by the new session", () -> owner(x.observer, x.path) == second);
        Env.line("data: " + new String(x.observer.getData().forPath(x.path), StandardCharsets.UTF_8));
        Env.check(owner(x.observer, x.path) == sessionId(x.client), "the new session owns the re-created znode");
        x.node.close();
        Env.until("the observer sees the znode gone after close", () -> owner(x.observer, x.path) == 0);
        Env.line("observer's watch event after close: " + Env.next(x.seen, "the observer sees the znode deleted after close"));
        Env.check(x.seen.isEmpty(), "no other watch event: " + x.seen);
    }

    /** The session is closed through another member by a second handle with its id and password. */
    static void closedElsewhere(Env env) throws Exception {
        Watched x = watched(env, env.member(0), Env.SESSION_TIMEOUT_MS, 2);
        ZooKeeper zk = x.client.getZookeeperClient().getZooKeeper();
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper other = new ZooKeeper(env.member(1), Env.SESSION_TIMEOUT_MS, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        }, zk.getSessionId(), zk.getSessionPasswd());
        try {
            Env.check(connected.await(Env.DEADLINE_MS, TimeUnit.MILLISECONDS),
                    "a second handle attaches to the session through member 2");
            Env.check(other.getSessionId() == x.firstSession, "it has the same session");
        } finally {
            other.close();
        }
        Env.line("closed the session through member 2");
        Env.line("observer's watch event: " + Env.next(x.seen, "the observer sees the znode deleted"));
        recovers(x);
    }

    /**
     * A second handle attaches to the client's session through member 2 (the session moves there);
     * then the Curator client writes through its old connection to member 1. ZooKeeper closes that
     * connection without an answer (ZOOKEEPER-710); the client reconnects to member 1, the session
     * moves back and Curator's retry does the write.
     */
    static void movedSessionWrite(Env env) throws Exception {
        String path = env.path("written");
        CuratorFramework c = env.client(0);
        c.create().creatingParentsIfNeeded().forPath(env.path(""));
        BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
        c.getConnectionStateListenable().addListener((client, state) -> states.add(state));
        ZooKeeper zk = c.getZookeeperClient().getZooKeeper();
        long first = zk.getSessionId();
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper other = new ZooKeeper(env.member(1), Env.SESSION_TIMEOUT_MS, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        }, first, zk.getSessionPasswd());
        try {
            Env.check(connected.await(Env.DEADLINE_MS, TimeUnit.MILLISECONDS),
                    "a second handle attaches to the session through member 2");
            try {
                String made = c.create().forPath(path, "moved".getBytes(StandardCharsets.UTF_8));
                Env.line("create through the old connection returned " + made.substring(env.path("").length()));
            } catch (Exception e) {
                Env.line("create through the old connection failed: " + Env.describe(e));
            }
            List<ConnectionState> got = new ArrayList<>();
            for (ConnectionState s = states.poll(); s != null; s = states.poll()) {
                got.add(s);
            }
            Env.line("client's connection states: " + got);
            Env.check(sessionId(c) == first, "the client kept its session");
            Env.check(Env.exists(c, path), "the znode exists");
        } finally {
            c.close();
            other.close();
        }
    }

    static void expiredOnFollower(Env env) throws Exception {
        expired(env, "follower");
    }

    static void expiredOnLeader(Env env) throws Exception {
        expired(env, "leader");
    }

    /**
     * The client talks to the first member in MODE through a Proxy; the proxy goes silent (its
     * connections stay open), the leader expires the session, then the proxy forwards again.
     */
    private static void expired(Env env, String mode) throws Exception {
        int m = env.memberInMode(mode);
        if (m < 0) {
            throw new Env.Timeout("a member in mode " + mode);
        }
        Proxy proxy = env.closeLater(new Proxy(env.member(m)));
        Watched x = watched(env, proxy.address(), EXPIRY_SESSION_MS, (m + 1) % 3);
        proxy.freeze();
        Env.line("cut the client off from its member (a " + mode + "); the connection stays open");
        Env.line("observer's watch event: " + Env.next(x.seen, "the observer sees the znode deleted by the expiry"));
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MEMBER_CLOSE_MS);
        while (proxy.closedByMemberWhileFrozen() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        Env.line("the " + mode + " closed the expired session's connection within " + MEMBER_CLOSE_MS + " ms: "
                + (proxy.closedByMemberWhileFrozen() > 0));
        proxy.thaw();
        Env.line("the client can reach its member again");
        recovers(x);
    }

    /** The session timeout of the expiry scenarios (the ensembles' minSessionTimeout). */
    private static final int EXPIRY_SESSION_MS = 4_000;
    /** How long the expiry scenarios wait for the member to close the expired session's connection. */
    private static final long MEMBER_CLOSE_MS = 5_000;
}
