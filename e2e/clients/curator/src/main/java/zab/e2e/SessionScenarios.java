/*
 * PersistentNode (an ephemeral znode that Curator keeps alive) across the loss of its session:
 * the Curator client is on member 1; a plain ZooKeeper handle attaches to the same session (same
 * id and password) through member 2 and closes it. ZooKeeper then drops member 1's connection of
 * that session, the client sees Disconnected and Expired, Curator reports SUSPENDED and LOST,
 * builds a new session (RECONNECTED) and PersistentNode creates the znode again. An observer on
 * member 3 watches the znode go and come back. Session ids are never printed, only compared.
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
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
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

    static void closedElsewhere(Env env) throws Exception {
        String path = env.path("node");
        CuratorFramework c = env.client(0);
        CuratorFramework observer = env.client(2);
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

        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        Watcher w = new Watcher() {
            @Override
            public void process(WatchedEvent e) {
                if (e.getType() == Event.EventType.None) {
                    return;
                }
                seen.add(e.getType().toString());
                try {
                    observer.checkExists().usingWatcher(this).forPath(path);
                } catch (Exception ex) {
                    seen.add("rewatch failed: " + Env.describe(ex));
                }
            }
        };
        observer.checkExists().usingWatcher(w).forPath(path);

        ZooKeeper zk = c.getZookeeperClient().getZooKeeper();
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper other = new ZooKeeper(env.member(1), Env.SESSION_TIMEOUT_MS, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        }, zk.getSessionId(), zk.getSessionPasswd());
        try {
            Env.check(connected.await(Env.DEADLINE_MS, TimeUnit.MILLISECONDS),
                    "a second handle attaches to the session through member 2");
            Env.check(other.getSessionId() == first, "it has the same session");
        } finally {
            other.close();
        }
        Env.line("closed the session through member 2");

        List<ConnectionState> got = new ArrayList<>();
        for (ConnectionState s = Env.next(states, "the client's state changes after its session was closed");
                ; s = Env.next(states, "the client reconnects with a new session")) {
            got.add(s);
            if (s == ConnectionState.RECONNECTED) {
                break;
            }
        }
        Env.line("client's connection states: " + got);
        Env.line("observer's watch events: " + Env.next(seen, "the observer sees the znode deleted") + ", "
                + Env.next(seen, "the observer sees the znode created again"));
        long second = sessionId(c);
        Env.check(second != first && second != 0, "the client has a new session");
        Env.until("the observer sees the znode owned by the new session", () -> owner(observer, path) == second);
        Env.line("data: " + new String(observer.getData().forPath(path), StandardCharsets.UTF_8));
        Env.check(owner(observer, path) == sessionId(c), "the new session owns the re-created znode");
        node.close();
        Env.until("the observer sees the znode gone after close", () -> owner(observer, path) == 0);
        // PersistentNode may also set the data of its re-created znode (when its watch and its
        // reconnection both re-create it), so only the delete is looked for here
        while (!Env.next(seen, "the observer sees the znode deleted after close").equals("NodeDeleted")) {
            continue;
        }
        Env.line("observer saw the znode deleted after close");
    }
}
