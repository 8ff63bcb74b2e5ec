/*
 * CuratorCache (Curator 5's cache, built on persistent and persistent-recursive watches, addWatch):
 * a tree cache and a single-node cache on member 1 while a client on member 2 changes the znodes.
 * After each change the scenario waits for the events that change must cause and prints them in
 * the order they came. Where the order comes from a getChildren listing (the initial load, a
 * recursive delete), which ZooKeeper does not promise, the events are printed sorted.
 */
package zab.e2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.stream.Collectors;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.zookeeper.CreateMode;

final class CacheScenarios {
    private CacheScenarios() {}

    private static final String INITIALIZED = "initialized";

    private static String data(ChildData d) {
        return d == null || d.getData() == null ? "-" : "'" + new String(d.getData(), StandardCharsets.UTF_8) + "'";
    }

    /** A started cache whose events (relative to BASE) go to EVENTS. */
    private static CuratorCache start(Env env, CuratorFramework c, String base, BlockingQueue<String> events,
            CuratorCache.Options... options) {
        CuratorCache cache = env.closeLater(CuratorCache.build(c, base, options));
        CuratorCacheListener l = CuratorCacheListener.builder()
                .forAll((type, old, now) -> {
                    switch (type) {
                        case NODE_CREATED -> events.add("created " + rel(base, now) + " " + data(now));
                        case NODE_CHANGED -> events.add("changed " + rel(base, now) + " " + data(old) + " -> " + data(now));
                        case NODE_DELETED -> events.add("deleted " + rel(base, old) + " " + data(old));
                    }
                })
                .forInitialized(() -> events.add(INITIALIZED))
                .build();
        cache.listenable().addListener(l);
        cache.start();
        return cache;
    }

    private static String rel(String base, ChildData d) {
        String p = d.getPath();
        return p.equals(base) ? "." : p.substring(base.length() + 1);
    }

    /** Prints the next N events in arrival order. */
    private static void expect(BlockingQueue<String> events, int n, String after) throws InterruptedException {
        for (int i = 0; i < n; i++) {
            Env.line("  " + Env.next(events, "event " + (i + 1) + " of " + n + " after " + after));
        }
    }

    /** Prints the next N events sorted. */
    private static void expectSorted(BlockingQueue<String> events, int n, String after) throws InterruptedException {
        List<String> got = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            got.add(Env.next(events, "event " + (i + 1) + " of " + n + " after " + after));
        }
        Collections.sort(got);
        for (String g : got) {
            Env.line("  " + g);
        }
    }

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void tree(Env env) throws Exception {
        String base = env.path("tree");
        CuratorFramework w = env.client(1);
        w.create().creatingParentsIfNeeded().forPath(base, b("root"));
        w.create().forPath(base + "/a", b("1"));
        w.create().forPath(base + "/a/x", b("2"));
        w.create().forPath(base + "/b", b("3"));
        CuratorFramework r = env.client(0);
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        Env.until("the reader's member has /b", () -> Env.exists(r, base + "/b"));
        CuratorCache cache = start(env, r, base, events);
        List<String> initial = new ArrayList<>();
        for (String e = Env.next(events, INITIALIZED); !e.equals(INITIALIZED); e = Env.next(events, INITIALIZED)) {
            initial.add(e);
        }
        Collections.sort(initial);
        Env.line("initial load (sorted):");
        initial.forEach(e -> Env.line("  " + e));
        Env.line("create c:");
        w.create().forPath(base + "/c", b("4"));
        expect(events, 1, "create c");
        Env.line("set a:");
        w.setData().forPath(base + "/a", b("1b"));
        expect(events, 1, "set a");
        Env.line("create c/d/e with parents:");
        w.create().creatingParentsIfNeeded().forPath(base + "/c/d/e", b("5"));
        expect(events, 2, "create c/d/e");
        Env.line("ephemeral f, sequential g:");
        w.create().withMode(CreateMode.EPHEMERAL).forPath(base + "/f", b("6"));
        expect(events, 1, "create f");
        String g = w.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(base + "/g-", b("7"));
        expect(events, 1, "create g");
        Env.line("g's name: " + g.substring(base.length() + 1));
        Env.line("delete a with its children:");
        w.delete().deletingChildrenIfNeeded().forPath(base + "/a");
        expect(events, 2, "delete a");
        Env.line("delete c/d/e, set b twice (waiting for each event):");
        w.delete().forPath(base + "/c/d/e");
        expect(events, 1, "delete c/d/e");
        w.setData().forPath(base + "/b", b("3b"));
        expect(events, 1, "set b");
        w.setData().forPath(base + "/b", b("3c"));
        expect(events, 1, "set b again");
        List<String> paths = cache.stream().map(d -> rel(base, d)).sorted().collect(Collectors.toList());
        Env.line("cache holds: " + paths);
        Env.line("cache's data of b: " + data(cache.get(base + "/b").orElse(null)));
        Env.line("delete everything (sorted):");
        w.delete().deletingChildrenIfNeeded().forPath(base);
        expectSorted(events, paths.size(), "delete everything");
        Env.check(cache.size() == 0, "the cache is empty");
    }


    static void node(Env env) throws Exception {
        String base = env.path("node");
        CuratorFramework w = env.client(1);
        CuratorFramework r = env.client(0);
        r.create().creatingParentsIfNeeded().forPath(env.path("other"));
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        CuratorCache cache = start(env, r, base, events, CuratorCache.Options.SINGLE_NODE_CACHE);
        Env.line("start on a missing znode: " + Env.next(events, INITIALIZED));
        Env.line("create:");
        w.create().forPath(base, b("v1"));
        expect(events, 1, "create");
        Env.line("create a child, then set the node (the child makes no event):");
        w.create().forPath(base + "/child", b("c"));
        w.setData().forPath(base, b("v2"));
        expect(events, 1, "set");
        Env.line("delete the child, then the node:");
        w.delete().forPath(base + "/child");
        w.delete().forPath(base);
        expect(events, 1, "delete");
        Env.line("create again:");
        w.create().forPath(base, b("v3"));
        expect(events, 1, "create again");
        Env.line("cache holds: " + cache.stream().map(d -> rel(base, d) + " " + data(d)).collect(Collectors.toList()));
        w.delete().forPath(base);
        expect(events, 1, "the last delete");
    }
}
