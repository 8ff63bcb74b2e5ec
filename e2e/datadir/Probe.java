/*
 * Checks, by behaviour, the node types a client cannot see, for the zab-node durability tests
 * (e2e/datadir). Runs after Dump, because it changes the tree.
 *
 * Usage: java Probe <host:port> [deadlineMs]
 *
 * A client's Stat shows ephemeralOwner 0 for containers and TTL nodes (DataNode.copyStat hides
 * the marker that the disk records carry), so Dump cannot tell whether a server that opened a
 * data directory still knows which nodes are containers or TTL nodes, nor a TTL's value. This
 * program removes the last children of some of them and waits, through an exists watch and a
 * deadline, for the server's container manager to delete them (the server must run with
 * znode.container.checkIntervalMs small, e.g. 100):
 *   - the containers /dd/containers/c05, /dd/multi/c and /dd/containers/c03/inner;
 *   - the 1 s TTL node /dd/ttl/short, created long enough ago that it expires once childless.
 * Then it checks that the nodes that must stay are still there: the never-used container, a
 * childless TTL node with a 7-day TTL, and c03 (a container that still has children).
 *
 * Prints one line per node ("probe <kind> <path>: deleted" / "still present" / "NOT deleted
 * within <n> ms"); exits 0 even when a line shows a failure, since run.sh compares the output of
 * two servers. Exit status 1 only when the program itself could not run (no connection, an
 * unexpected error).
 */

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

public final class Probe {

    static final long CONNECT_DEADLINE_MS = 30_000;

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: java Probe <host:port> [deadlineMs]");
            System.exit(2);
        }
        long deadline = args.length > 1 ? Long.parseLong(args[1]) : 30_000;
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 30_000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(CONNECT_DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            System.err.println("Probe: no connection to " + args[0]);
            System.exit(1);
        }
        zk.addAuthInfo("digest", "super:test".getBytes(StandardCharsets.UTF_8));

        // node -> {kind, children to delete}
        Map<String, String[]> expire = new LinkedHashMap<>();
        expire.put("/dd/containers/c05", new String[] {"container", "k0", "k2"});
        expire.put("/dd/multi/c", new String[] {"container", "x"});
        expire.put("/dd/containers/c03/inner", new String[] {"container", "leaf"});
        expire.put("/dd/ttl/short", new String[] {"ttl", "keep"});

        Map<String, CountDownLatch> gone = new LinkedHashMap<>();
        for (String path : expire.keySet()) {
            CountDownLatch deleted = new CountDownLatch(1);
            gone.put(path, deleted);
            if (zk.exists(path, event -> {
                if (event.getType() == Watcher.Event.EventType.NodeDeleted) {
                    deleted.countDown();
                }
            }) == null) {
                System.out.println("probe " + expire.get(path)[0] + " " + path + ": MISSING before the probe");
                deleted.countDown();
            }
        }
        for (Map.Entry<String, String[]> e : expire.entrySet()) {
            String[] spec = e.getValue();
            for (int i = 1; i < spec.length; i++) {
                try {
                    zk.delete(e.getKey() + "/" + spec[i], -1);
                } catch (Exception ex) {
                    System.out.println("probe " + spec[0] + " " + e.getKey() + ": deleting child " + spec[i]
                        + " failed: " + ex);
                }
            }
        }
        long until = System.currentTimeMillis() + deadline;
        for (Map.Entry<String, CountDownLatch> e : gone.entrySet()) {
            long left = Math.max(0, until - System.currentTimeMillis());
            boolean deleted = e.getValue().await(left, TimeUnit.MILLISECONDS);
            System.out.println("probe " + expire.get(e.getKey())[0] + " " + e.getKey() + ": "
                + (deleted ? "deleted once childless" : "NOT deleted within " + deadline + " ms"));
        }

        List<String> stay = new ArrayList<>();
        stay.add("/dd/containers/never-used");
        stay.add("/dd/ttl/t05");
        stay.add("/dd/containers/c03");
        for (String path : stay) {
            System.out.println("probe keeps " + path + ": "
                + (zk.exists(path, false) != null ? "still present" : "DELETED"));
        }
        zk.close();
    }
}
