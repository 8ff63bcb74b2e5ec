/*
 * Curator's older caches, deprecated in 5.x but still in wide use, which run on one-time
 * watches (getChildren and getData watches re-set after each event) instead of addWatch:
 * PathChildrenCache, NodeCache and TreeCache on member 1 while a client on member 2 changes the
 * znodes one step at a time (each step waits for the events it must cause). Initial loads are
 * printed sorted (their order comes from a getChildren listing).
 */
package zab.e2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.NodeCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCache;
import org.apache.curator.framework.recipes.cache.TreeCache;

@SuppressWarnings("deprecation")
final class LegacyCacheScenarios {
    private LegacyCacheScenarios() {}

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String show(String base, ChildData d) {
        if (d == null) {
            return "-";
        }
        String p = d.getPath().equals(base) ? "." : d.getPath().substring(base.length() + 1);
        return p + (d.getData() == null ? "" : " '" + new String(d.getData(), StandardCharsets.UTF_8) + "'");
    }

    /** Prints queued events up to and including INITIALIZED, the ones before it sorted. */
    private static void initial(BlockingQueue<String> q, String what) throws InterruptedException {
        List<String> got = new ArrayList<>();
        for (String e = Env.next(q, what); !e.equals("INITIALIZED"); e = Env.next(q, what)) {
            got.add(e);
        }
        Collections.sort(got);
        got.forEach(e -> Env.line("  " + e));
        Env.line("  INITIALIZED");
    }

    private static void step(BlockingQueue<String> q, int n, String what) throws InterruptedException {
        for (int i = 0; i < n; i++) {
            Env.line("  " + Env.next(q, what));
        }
    }

    static void legacyCaches(Env env) throws Exception {
        String base = env.path("legacy");
        CuratorFramework w = env.client(1);
        CuratorFramework r = env.client(0);
        w.create().creatingParentsIfNeeded().forPath(base + "/a", b("1"));
        w.create().forPath(base + "/b", b("2"));
        w.create().forPath(base + "/b/deep", b("3"));
        Env.until("member 1 has b/deep", () -> Env.exists(r, base + "/b/deep"));

        BlockingQueue<String> pc = new LinkedBlockingQueue<>();
        PathChildrenCache children = env.closeLater(new PathChildrenCache(r, base, true));
        children.getListenable().addListener((c, e) -> pc.add(e.getType() + (e.getData() == null ? "" : " " + show(base, e.getData()))));
        children.start(PathChildrenCache.StartMode.POST_INITIALIZED_EVENT);
        BlockingQueue<String> tc = new LinkedBlockingQueue<>();
        TreeCache tree = env.closeLater(TreeCache.newBuilder(r, base).setCacheData(true).build());
        tree.getListenable().addListener((c, e) -> {
            if (e.getType() != org.apache.curator.framework.recipes.cache.TreeCacheEvent.Type.CONNECTION_RECONNECTED) {
                tc.add(e.getType() + (e.getData() == null ? "" : " " + show(base, e.getData())));
            }
        });
        tree.start();
        BlockingQueue<String> nc = new LinkedBlockingQueue<>();
        NodeCache node = env.closeLater(new NodeCache(r, base + "/a"));
        node.getListenable().addListener(() -> nc.add("nodeChanged " + show(base, node.getCurrentData())));
        node.start(true);
        Env.line("PathChildrenCache initial:");
        initial(pc, "the PathChildrenCache's initial load");
        Env.line("TreeCache initial:");
        initial(tc, "the TreeCache's initial load");
        Env.line("NodeCache of a: " + show(base, node.getCurrentData()));

        Env.line("create c:");
        w.create().forPath(base + "/c", b("4"));
        step(pc, 1, "PathChildrenCache: create c");
        step(tc, 1, "TreeCache: create c");
        Env.line("set a:");
        w.setData().forPath(base + "/a", b("1b"));
        step(pc, 1, "PathChildrenCache: set a");
        step(tc, 1, "TreeCache: set a");
        step(nc, 1, "NodeCache: set a");
        Env.line("set b/deep (below the children cache's level):");
        w.setData().forPath(base + "/b/deep", b("3b"));
        step(tc, 1, "TreeCache: set b/deep");
        Env.line("delete a:");
        w.delete().forPath(base + "/a");
        step(pc, 1, "PathChildrenCache: delete a");
        step(tc, 1, "TreeCache: delete a");
        step(nc, 1, "NodeCache: delete a");
        Env.line("create a again:");
        w.create().forPath(base + "/a", b("1c"));
        step(pc, 1, "PathChildrenCache: create a");
        step(tc, 1, "TreeCache: create a");
        step(nc, 1, "NodeCache: create a");
        List<String> current = new ArrayList<>();
        children.getCurrentData().forEach(d -> current.add(show(base, d)));
        Collections.sort(current);
        Env.line("PathChildrenCache holds: " + current);
        Env.line("TreeCache children of b: " + tree.getCurrentChildren(base + "/b").keySet());
        Env.check(pc.isEmpty() && tc.isEmpty() && nc.isEmpty(), "no other events");
    }
}
