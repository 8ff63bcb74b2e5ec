/*
 * Watch management through Curator's watchers() API: removing a data watch and a child watch
 * (removeWatches, opcode 18) with the events the removal fires and the NOWATCHER error when there
 * is none left; persistent and persistent-recursive watches (addWatch) and the events each mode
 * gets for a fixed series of changes made by a client on another member.
 */
package zab.e2e;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.Watcher;

final class WatchScenarios {
    private WatchScenarios() {}

    /** A watcher that queues "TYPE PATH" (path relative to BASE) of every event but connection states. */
    private static Watcher recorder(String base, BlockingQueue<String> q) {
        return e -> {
            if (e.getType() != Watcher.Event.EventType.None) {
                String p = e.getPath();
                q.add(e.getType() + " " + (p.equals(base) ? "." : p.substring(base.length() + 1)));
            }
        };
    }

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void removeWatches(Env env) throws Exception {
        String base = env.path("w");
        CuratorFramework c = env.client(0);
        CuratorFramework w = env.client(1);
        c.create().creatingParentsIfNeeded().forPath(base, b("0"));
        BlockingQueue<String> q = new LinkedBlockingQueue<>();
        Watcher data = recorder(base, q);
        Watcher child = recorder(base, q);
        c.getData().usingWatcher(data).forPath(base);
        c.getChildren().usingWatcher(child).forPath(base);
        c.watchers().remove(data).ofType(Watcher.WatcherType.Data).forPath(base);
        Env.line("removed the data watch: " + Env.next(q, "the data watch's removal event"));
        try {
            c.watchers().remove(data).ofType(Watcher.WatcherType.Data).forPath(base);
            Env.line("!! removing it again succeeded");
        } catch (Exception e) {
            Env.line("removing it again: " + Env.describe(e));
        }
        w.setData().forPath(base, b("1"));
        w.create().forPath(base + "/kid");
        Env.line("after a set and a create, the child watch fires: " + Env.next(q, "the child watch"));
        c.getData().usingWatcher(data).forPath(base);
        w.setData().forPath(base, b("2"));
        Env.line("a new data watch fires: " + Env.next(q, "the new data watch"));
        c.getChildren().usingWatcher(child).forPath(base);
        c.checkExists().usingWatcher(data).forPath(base);
        c.watchers().removeAll().ofType(Watcher.WatcherType.Any).forPath(base);
        String first = Env.next(q, "removal event 1");
        String second = Env.next(q, "removal event 2");
        Env.line("removeAll of any type: " + (first.compareTo(second) < 0 ? first + ", " + second : second + ", " + first));
        try {
            c.watchers().removeAll().ofType(Watcher.WatcherType.Children).forPath(base);
            Env.line("!! removing child watches where there are none succeeded");
        } catch (Exception e) {
            Env.line("removing child watches where there are none: " + Env.describe(e));
        }
        w.delete().forPath(base + "/kid");
        w.setData().forPath(base, b("3"));
        c.getData().usingWatcher(data).forPath(base);
        w.setData().forPath(base, b("4"));
        Env.line("only the newest data watch fires: " + Env.next(q, "the newest data watch"));
        Env.check(q.isEmpty(), "no event from a removed watch");
    }

    static void persistentWatches(Env env) throws Exception {
        String base = env.path("p");
        CuratorFramework c = env.client(0);
        CuratorFramework w = env.client(1);
        c.create().creatingParentsIfNeeded().forPath(base, b("0"));
        BlockingQueue<String> rec = new LinkedBlockingQueue<>();
        BlockingQueue<String> per = new LinkedBlockingQueue<>();
        Watcher recursive = recorder(base, rec);
        Watcher persistent = recorder(base, per);
        // one client each: a server keeps one watch mode per path and connection
        CuratorFramework c2 = env.client(2);
        Env.until("member 3 has the base znode", () -> Env.exists(c2, base));
        c.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE).usingWatcher(recursive).forPath(base);
        c2.watchers().add().withMode(AddWatchMode.PERSISTENT).usingWatcher(persistent).forPath(base);
        w.create().forPath(base + "/x", b("1"));
        w.create().forPath(base + "/x/y", b("2"));
        w.setData().forPath(base + "/x", b("1b"));
        w.setData().forPath(base, b("0b"));
        w.delete().forPath(base + "/x/y");
        w.delete().forPath(base + "/x");
        w.setData().forPath(base, b("0c"));
        Env.line("persistent recursive watch:");
        for (int i = 0; i < 7; i++) {
            Env.line("  " + Env.next(rec, "recursive event " + (i + 1)));
        }
        Env.line("persistent watch:");
        for (int i = 0; i < 4; i++) {
            Env.line("  " + Env.next(per, "persistent event " + (i + 1)));
        }
        c2.watchers().remove(persistent).ofType(Watcher.WatcherType.Any).forPath(base);
        Env.line("removing the persistent watch: " + Env.next(per, "the persistent watch's removal"));
        w.setData().forPath(base, b("0d"));
        Env.line("the recursive watch still fires: " + Env.next(rec, "the recursive watch after the removal"));
        c.watchers().remove(recursive).ofType(Watcher.WatcherType.Any).forPath(base);
        Env.line("removing the recursive watch: " + Env.next(rec, "the recursive watch's removal"));
        w.setData().forPath(base, b("0e"));
        c.getData().usingWatcher(recorder(base, rec)).forPath(base);
        w.setData().forPath(base, b("0f"));
        Env.line("a one-time watch set afterwards: " + Env.next(rec, "the one-time watch"));
        Env.check(rec.isEmpty() && per.isEmpty(), "no event from a removed persistent watch");
    }
}
