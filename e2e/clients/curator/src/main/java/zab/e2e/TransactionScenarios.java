/*
 * Transactions through Curator (transaction().forOperations of CuratorOps, ZooKeeper's multi):
 * one that commits create / sequential create / setData / check / delete, and failing ones (bad
 * version, existing znode, znode with children, check of a missing znode) whose per-operation
 * results and effect (none) are printed. A client on another member reads the outcome after sync.
 */
package zab.e2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.data.Stat;

final class TransactionScenarios {
    private TransactionScenarios() {}

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String rel(String base, String p) {
        return p == null ? "-" : p.startsWith(base) ? p.substring(base.length()) : p;
    }

    private static String stat(Stat s) {
        return s == null ? "no stat" : "version=" + s.getVersion() + " dataLength=" + s.getDataLength()
                + " numChildren=" + s.getNumChildren();
    }

    static void transaction(Env env) throws Exception {
        String base = env.path("tx");
        CuratorFramework c = env.client(0);
        c.create().creatingParentsIfNeeded().forPath(base);
        c.create().forPath(base + "/gone", b("x"));
        List<CuratorOp> ops = List.of(
                c.transactionOp().create().forPath(base + "/a", b("1")),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(base + "/seq-", b("s")),
                c.transactionOp().setData().forPath(base + "/a", b("22")),
                c.transactionOp().check().withVersion(1).forPath(base + "/a"),
                c.transactionOp().setData().withVersion(1).forPath(base + "/a", b("333")),
                c.transactionOp().delete().forPath(base + "/gone"),
                c.transactionOp().create().withMode(CreateMode.EPHEMERAL).forPath(base + "/eph", b("e")));
        for (CuratorTransactionResult r : c.transaction().forOperations(ops)) {
            Env.line(r.getType() + " " + rel(base, r.getForPath()) + " -> " + rel(base, r.getResultPath())
                    + " error=" + r.getError() + " " + stat(r.getResultStat()));
        }
        CuratorFramework other = env.client(1);
        other.sync().forPath(base);
        Env.until("the other member has the transaction", () -> children(other, base).size() == 3);
        Env.line("children seen on member 2: " + children(other, base));
        Stat s = new Stat();
        byte[] data = other.getData().storingStatIn(s).forPath(base + "/a");
        Env.line("a: '" + new String(data, StandardCharsets.UTF_8) + "' " + stat(s));
        Env.check(other.checkExists().forPath(base + "/eph").getEphemeralOwner()
                == c.getZookeeperClient().getZooKeeper().getSessionId(), "eph is owned by the session that ran the transaction");
    }

    private static List<String> children(CuratorFramework c, String path) {
        try {
            List<String> l = new ArrayList<>(c.getChildren().forPath(path));
            l.sort(null);
            return l;
        } catch (Exception e) {
            return List.of();
        }
    }

    /** Runs OPS, which must fail; prints the error and each operation's result. */
    private static void failing(CuratorFramework c, String what, List<CuratorOp> ops) throws Exception {
        try {
            c.transaction().forOperations(ops);
            Env.line("!! " + what + ": the transaction committed");
        } catch (KeeperException e) {
            List<String> codes = new ArrayList<>();
            if (e.getResults() != null) {
                for (OpResult r : e.getResults()) {
                    codes.add(r instanceof OpResult.ErrorResult er
                            ? KeeperException.Code.get(er.getErr()).toString() : r.getClass().getSimpleName());
                }
            }
            Env.line(what + ": " + e.code() + " results=" + codes);
        }
    }

    static void failure(Env env) throws Exception {
        String base = env.path("tx");
        CuratorFramework c = env.client(1);
        c.create().creatingParentsIfNeeded().forPath(base + "/a", b("1"));
        c.create().creatingParentsIfNeeded().forPath(base + "/parent/child", b("c"));
        failing(c, "bad version in the middle", List.of(
                c.transactionOp().create().forPath(base + "/b", b("2")),
                c.transactionOp().setData().withVersion(99).forPath(base + "/a", b("x")),
                c.transactionOp().create().forPath(base + "/c", b("3"))));
        failing(c, "create of an existing znode last", List.of(
                c.transactionOp().setData().forPath(base + "/a", b("y")),
                c.transactionOp().create().forPath(base + "/a", b("again"))));
        failing(c, "delete of a znode with children first", List.of(
                c.transactionOp().delete().forPath(base + "/parent"),
                c.transactionOp().create().forPath(base + "/d", b("4"))));
        failing(c, "check of a missing znode", List.of(
                c.transactionOp().create().forPath(base + "/e", b("5")),
                c.transactionOp().check().forPath(base + "/missing")));
        failing(c, "create under a missing parent", List.of(
                c.transactionOp().create().forPath(base + "/f", b("6")),
                c.transactionOp().create().forPath(base + "/no/such", b("7"))));
        Stat s = new Stat();
        byte[] data = c.getData().storingStatIn(s).forPath(base + "/a");
        Env.line("nothing applied: a='" + new String(data, StandardCharsets.UTF_8) + "' " + stat(s)
                + ", children " + children(c, base));
    }
}
