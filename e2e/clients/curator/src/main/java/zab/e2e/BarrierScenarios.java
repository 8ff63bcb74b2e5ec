/*
 * Barrier recipes of Curator: DistributedBarrier (set on one member, waited on from the other two,
 * removed) and DistributedDoubleBarrier (three members enter: two wait until the third arrives;
 * then all three leave). Waiters are threads; the transcript records what each wait returned.
 */
package zab.e2e;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;

final class BarrierScenarios {
    private BarrierScenarios() {}

    private static boolean waiting(Thread t) {
        Thread.State s = t.getState();
        return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
    }

    static void barrier(Env env) throws Exception {
        String path = env.path("barrier");
        CuratorFramework ca = env.client(0);
        CuratorFramework cb = env.client(1);
        DistributedBarrier a = new DistributedBarrier(ca, path);
        Env.check(a.waitOnBarrier(Env.REFUSE_MS, TimeUnit.MILLISECONDS), "no barrier set: waiting returns at once");
        a.setBarrier();
        DistributedBarrier b = new DistributedBarrier(cb, path);
        DistributedBarrier c = new DistributedBarrier(env.client(2), path);
        Env.until("b's member has the barrier", () -> Env.exists(cb, path));
        Env.check(!b.waitOnBarrier(Env.REFUSE_MS, TimeUnit.MILLISECONDS), "b's bounded wait ends while the barrier is set");
        ConcurrentHashMap<String, Boolean> results = new ConcurrentHashMap<>();
        Thread tb = Env.spawn("wait-b", () -> results.put("b", b.waitOnBarrier(Env.DEADLINE_MS, TimeUnit.MILLISECONDS)));
        Thread tc = Env.spawn("wait-c", () -> results.put("c", c.waitOnBarrier(Env.DEADLINE_MS, TimeUnit.MILLISECONDS)));
        Env.until("b and c wait on the barrier", () -> waiting(tb) && waiting(tc));
        Env.check(results.isEmpty(), "nobody passed the barrier yet");
        a.removeBarrier();
        Env.join(tb, "b passes");
        Env.join(tc, "c passes");
        Env.line("b passed: " + results.get("b") + ", c passed: " + results.get("c"));
        Env.check(!Env.exists(ca, path), "the barrier znode is gone");
    }


    static void doubleBarrier(Env env) throws Exception {
        String path = env.path("double");
        DistributedDoubleBarrier[] d = new DistributedDoubleBarrier[3];
        for (int i = 0; i < 3; i++) {
            d[i] = new DistributedDoubleBarrier(env.client(i), path, 3);
        }
        CuratorFramework observer = env.client(0);
        ConcurrentHashMap<String, Boolean> entered = new ConcurrentHashMap<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            DistributedDoubleBarrier b = d[i];
            String id = "abc".substring(i, i + 1);
            threads.add(Env.spawn("enter-" + id, () -> entered.put(id, b.enter(Env.DEADLINE_MS, TimeUnit.MILLISECONDS))));
        }
        Env.until("two members under the barrier", () -> members(observer, path) == 2);
        Env.check(entered.isEmpty(), "a and b wait for the third member");
        threads.add(Env.spawn("enter-c", () -> entered.put("c", d[2].enter(Env.DEADLINE_MS, TimeUnit.MILLISECONDS))));
        for (Thread t : threads) {
            Env.join(t, "every member enters");
        }
        Env.line("entered: a=" + entered.get("a") + " b=" + entered.get("b") + " c=" + entered.get("c"));
        ConcurrentHashMap<String, Boolean> left = new ConcurrentHashMap<>();
        threads.clear();
        for (int i = 0; i < 3; i++) {
            DistributedDoubleBarrier b = d[i];
            String id = "abc".substring(i, i + 1);
            threads.add(Env.spawn("leave-" + id, () -> left.put(id, b.leave(Env.DEADLINE_MS, TimeUnit.MILLISECONDS))));
        }
        for (Thread t : threads) {
            Env.join(t, "every member leaves");
        }
        Env.line("left: a=" + left.get("a") + " b=" + left.get("b") + " c=" + left.get("c"));
        Env.until("no member left under the barrier", () -> members(observer, path) == 0);
        Env.line("members under the barrier at the end: " + members(observer, path));
    }

    /** Children of PATH other than the recipe's "ready" znode; -1 if it cannot be read. */
    private static int members(CuratorFramework c, String path) {
        try {
            if (c.checkExists().forPath(path) == null) {
                return 0;
            }
            return (int) c.getChildren().forPath(path).stream().filter(n -> !n.equals("ready")).count();
        } catch (Exception e) {
            return -1;
        }
    }
}
