/*
 * Counter recipes of Curator: DistributedAtomicLong (optimistic, then promoted to a lock, with
 * three clients on three members incrementing at once) and SharedCount (set, trySetCount with a
 * current and a stale version, listeners on another member). Every value printed is one that a
 * correct server makes certain: results of compare-and-set on known state, final sums.
 */
package zab.e2e;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.atomic.PromotedToLock;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;

final class CounterScenarios {
    private CounterScenarios() {}

    private static final int INCREMENTS = 20;

    private static String show(String op, AtomicValue<Long> v) {
        return op + ": succeeded=" + v.succeeded() + " pre=" + v.preValue() + " post=" + v.postValue();
    }

    static void atomicLong(Env env) throws Exception {
        String path = env.path("counter");
        DistributedAtomicLong a = new DistributedAtomicLong(env.client(0), path, new RetryNTimes(10, 10));
        Env.line(show("get of a missing counter", a.get()));
        Env.check(a.initialize(100L), "initialize(100) creates it");
        Env.check(!a.initialize(200L), "a second initialize(200) does not");
        Env.line(show("increment", a.increment()));
        Env.line(show("add(10)", a.add(10L)));
        Env.line(show("subtract(1)", a.subtract(1L)));
        Env.line(show("decrement", a.decrement()));
        Env.line(show("compareAndSet(109, 500)", a.compareAndSet(109L, 500L)));
        Env.line(show("compareAndSet(109, 600)", a.compareAndSet(109L, 600L)));
        Env.line(show("trySet(0)", a.trySet(0L)));
        DistributedAtomicLong other = new DistributedAtomicLong(env.client(1), path, new RetryNTimes(10, 10));
        Env.until("b sees 0", () -> value(other) == 0L);
        Env.line(show("get through b's member", other.get()));

        PromotedToLock lock = PromotedToLock.builder()
                .lockPath(env.path("counter-lock"))
                .retryPolicy(new RetryNTimes(50, 10))
                .timeout(Env.DEADLINE_MS, java.util.concurrent.TimeUnit.MILLISECONDS)
                .build();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CuratorFramework c = env.client(i);
            DistributedAtomicLong d = new DistributedAtomicLong(c, path, new RetryNTimes(3, 1), lock);
            threads.add(Env.spawn("increment-" + i, () -> {
                for (int r = 0; r < INCREMENTS; r++) {
                    int tries = 0;
                    while (!d.increment().succeeded()) {
                        if (++tries == 20) {
                            Env.line("!! an increment did not succeed in 20 tries");
                            return;
                        }
                    }
                }
            }));
        }
        for (Thread t : threads) {
            Env.join(t, "incrementing threads finish");
        }
        DistributedAtomicLong c = new DistributedAtomicLong(env.client(2), path, new RetryNTimes(10, 10));
        Env.until("c sees " + 3 * INCREMENTS, () -> value(c) == 3L * INCREMENTS);
        Env.line("after 3 x " + INCREMENTS + " concurrent increments: " + c.get().postValue());
    }

    private static long value(DistributedAtomicLong d) {
        try {
            AtomicValue<Long> v = d.get();
            return v.succeeded() ? v.postValue() : Long.MIN_VALUE;
        } catch (Exception e) {
            return Long.MIN_VALUE;
        }
    }

    static void sharedCount(Env env) throws Exception {
        String path = env.path("count");
        SharedCount a = env.closeLater(new SharedCount(env.client(0), path, 5));
        SharedCount b = env.closeLater(new SharedCount(env.client(1), path, 99));
        BlockingQueue<Integer> seenByB = new LinkedBlockingQueue<>();
        b.addListener(new SharedCountListener() {
            @Override
            public void countHasChanged(SharedCountReader reader, int newCount) {
                seenByB.add(newCount);
            }

            @Override
            public void stateChanged(CuratorFramework client, ConnectionState state) {}
        });
        a.start();
        b.start();
        Env.line("a's count: " + a.getCount());
        Env.line("b's count (its seed 99 is not used, the znode exists): " + b.getCount());
        a.setCount(7);
        Env.line("b's listener: " + Env.next(seenByB, "b hears 7"));
        VersionedValue<Integer> v = a.getVersionedValue();
        Env.check(a.trySetCount(v, 8), "trySetCount with the current version");
        Env.line("b's listener: " + Env.next(seenByB, "b hears 8"));
        Env.check(!a.trySetCount(v, 9), "trySetCount with a stale version fails");
        Env.line("b's count: " + b.getCount());
        VersionedValue<Integer> bv = b.getVersionedValue();
        Env.check(b.trySetCount(bv, 10), "b's trySetCount with its version");
        Env.until("a sees 10", () -> a.getCount() == 10);
        Env.line("a's count: " + a.getCount());
    }
}
