/*
 * The ZooKeeper side of the Kafka scenario, read with the ZooKeeper client Kafka 3.9 itself uses:
 * waiting until a dead broker's registration (an ephemeral znode) has gone with its session, and
 * the broker's znodes under the chroot (registrations, topics, partition state, controller),
 * printed without anything that changes from run to run (ids, zxids, times, topic ids).
 */
package zab.e2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

final class ZkSteps {
    private ZkSteps() {}

    private static ZooKeeper connect(String connect) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(connect, 10_000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                up.countDown();
            }
        });
        if (!up.await(KafkaMain.DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            zk.close();
            throw new IllegalStateException("no ZooKeeper connection to " + connect);
        }
        return zk;
    }

    static void waitGone(String connect, String path) throws Exception {
        ZooKeeper zk = connect(connect);
        try {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(KafkaMain.DEADLINE_MS);
            while (zk.exists(path, false) != null) {
                if (System.nanoTime() > deadline) {
                    KafkaMain.line("!! " + path + " is still there after " + KafkaMain.DEADLINE_MS + " ms");
                    return;
                }
                Thread.sleep(100);
            }
            KafkaMain.line(path + " is gone");
        } finally {
            zk.close();
        }
    }

    private static List<String> children(ZooKeeper zk, String path) throws Exception {
        if (zk.exists(path, false) == null) {
            return List.of();
        }
        List<String> l = new ArrayList<>(zk.getChildren(path, false));
        l.sort(null);
        return l;
    }

    private static String data(ZooKeeper zk, String path) throws Exception {
        Stat s = zk.exists(path, false);
        if (s == null) {
            return null;
        }
        byte[] d = zk.getData(path, false, null);
        return d == null ? "" : new String(d, StandardCharsets.UTF_8);
    }

    /** The value of "KEY":VALUE in a JSON text (VALUE a number, a list or an object), or "-". */
    private static String field(String json, String key) {
        if (json == null) {
            return "-";
        }
        Matcher m = Pattern.compile("\"" + key + "\":(\\[[^\\]]*\\]|\\{[^}]*\\}|-?[0-9]+)").matcher(json);
        return m.find() ? m.group(1) : "-";
    }

    static void state(String connect) throws Exception {
        ZooKeeper zk = connect(connect);
        try {
            KafkaMain.line("brokers/ids: " + children(zk, "/brokers/ids"));
            for (String id : children(zk, "/brokers/ids")) {
                Stat s = zk.exists("/brokers/ids/" + id, false);
                KafkaMain.line("brokers/ids/" + id + ": ephemeral " + (s != null && s.getEphemeralOwner() != 0)
                        + ", PLAINTEXT endpoint on 127.0.0.1 " + String.valueOf(data(zk, "/brokers/ids/" + id))
                                .contains("PLAINTEXT://127.0.0.1:"));
            }
            KafkaMain.line("controller: brokerid " + field(data(zk, "/controller"), "brokerid"));
            List<String> topics = children(zk, "/brokers/topics");
            KafkaMain.line("brokers/topics: " + topics.size() + " topics, ours "
                    + topics.stream().filter(t -> !t.startsWith("__")).toList()
                    + (topics.contains("__consumer_offsets") ? " and __consumer_offsets" : ""));
            for (String t : topics) {
                if (t.startsWith("__")) {
                    continue;
                }
                KafkaMain.line("  " + t + ": assignment " + field(data(zk, "/brokers/topics/" + t), "partitions"));
                for (String p : children(zk, "/brokers/topics/" + t + "/partitions")) {
                    String st = data(zk, "/brokers/topics/" + t + "/partitions/" + p + "/state");
                    KafkaMain.line("    partition " + p + ": leader " + field(st, "leader") + ", isr " + field(st, "isr"));
                }
            }
            KafkaMain.line("config/topics: " + children(zk, "/config/topics").stream().filter(t -> !t.startsWith("__")).toList());
            KafkaMain.line("admin/delete_topics: " + children(zk, "/admin/delete_topics"));
            KafkaMain.line("cluster/id present: " + (zk.exists("/cluster/id", false) != null));
        } finally {
            zk.close();
        }
    }
}
