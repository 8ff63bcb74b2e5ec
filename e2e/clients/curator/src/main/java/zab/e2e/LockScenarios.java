/*
 * Lock recipes of Curator: InterProcessMutex (reentrant, contended by three clients on three
 * members), InterProcessSemaphoreMutex, InterProcessReadWriteLock and InterProcessSemaphoreV2.
 * A holder is shown to exclude the others by a bounded acquire that must fail (Env.REFUSE_MS),
 * and the contended loops count how many holders were ever inside at once.
 */
package zab.e2e;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessLock;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;

final class LockScenarios {
    private LockScenarios() {}

    private static final int ROUNDS = 10;

    private static boolean tryLock(InterProcessLock l, long ms) throws Exception {
        return l.acquire(ms, TimeUnit.MILLISECONDS);
    }

    /** What the contended loop takes and gives back: a lock or a semaphore's lease. */
    interface Gate {
        /** Something to give back, or null if nothing was granted within the deadline. */
        Object enter() throws Exception;

        void exit(Object token) throws Exception;
    }

    private static Gate gate(InterProcessLock l) {
        return new Gate() {
            public Object enter() throws Exception {
                return l.acquire(Env.DEADLINE_MS, TimeUnit.MILLISECONDS) ? l : null;
            }

            public void exit(Object token) throws Exception {
                l.release();
            }
        };
    }

    private static Gate gate(InterProcessSemaphoreV2 s) {
        return new Gate() {
            public Object enter() throws Exception {
                return s.acquire(Env.DEADLINE_MS, TimeUnit.MILLISECONDS);
            }

            public void exit(Object token) throws Exception {
                s.returnLease((Lease) token);
            }
        };
    }

    /** One thread per gate (one client each), each entering ROUNDS times; returns the most inside at once. */
    private static int contend(Gate[] gates, String what) throws Exception {
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        AtomicInteger entries = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < gates.length; i++) {
            Gate g = gates[i];
            threads.add(Env.spawn(what + "-" + i, () -> {
                for (int r = 0; r < ROUNDS; r++) {
                    Object token = g.enter();
                    if (token == null) {
                        Env.line("!! " + what + ": an acquire timed out");
                        return;
                    }
                    try {
                        most.accumulateAndGet(inside.incrementAndGet(), Math::max);
                        entries.incrementAndGet();
                        Thread.yield();
                    } finally {
                        inside.decrementAndGet();
                        g.exit(token);
                    }
                }
            }));
        }
        for (Thread t : threads) {
            Env.join(t, what + " threads finish");
        }
        Env.line(what + ": " + entries.get() + " entries");
        return most.get();
    }

    static void mutex(Env env) throws Exception {
        String path = env.path("lock");
        InterProcessMutex[] m = new InterProcessMutex[3];
        for (int i = 0; i < 3; i++) {
            m[i] = new InterProcessMutex(env.client(i), path);
        }
        Env.check(tryLock(m[0], Env.DEADLINE_MS), "a acquires");
        Env.check(tryLock(m[0], Env.DEADLINE_MS), "a acquires again (reentrant)");
        Env.check(!tryLock(m[1], Env.REFUSE_MS), "b cannot acquire while a holds");
        m[0].release();
        Env.check(m[0].isAcquiredInThisProcess(), "a still holds after one release");
        Env.check(!tryLock(m[1], Env.REFUSE_MS), "b still cannot acquire");
        Env.line("participant nodes: " + m[1].getParticipantNodes().size());
        m[0].release();
        Env.check(!m[0].isAcquiredInThisProcess(), "a released");
        Env.check(tryLock(m[1], Env.DEADLINE_MS), "b acquires after a's last release");
        try {
            m[2].release();
            Env.line("!! c released a mutex it does not hold");
        } catch (IllegalMonitorStateException e) {
            Env.line("c's release without holding: IllegalMonitorStateException");
        }
        m[1].release();
        Env.until("no participant nodes left", () -> nodes(m[2]) == 0);
        Env.line("contended, most holders at once: " + contend(new Gate[] {gate(m[0]), gate(m[1]), gate(m[2])}, "mutex"));

        InterProcessSemaphoreMutex[] s = new InterProcessSemaphoreMutex[2];
        for (int i = 0; i < 2; i++) {
            s[i] = new InterProcessSemaphoreMutex(env.client(i), env.path("semaphore-mutex"));
        }
        Env.check(tryLock(s[0], Env.DEADLINE_MS), "semaphore mutex: a acquires");
        Env.check(!tryLock(s[0], Env.REFUSE_MS), "semaphore mutex: a cannot acquire again (not reentrant)");
        Env.check(!tryLock(s[1], Env.REFUSE_MS), "semaphore mutex: b cannot acquire while a holds");
        s[0].release();
        Env.check(tryLock(s[1], Env.DEADLINE_MS), "semaphore mutex: b acquires after a's release");
        s[1].release();
    }

    private static int nodes(InterProcessMutex m) {
        try {
            return m.getParticipantNodes().size();
        } catch (Exception e) {
            return -1;
        }
    }

    static void readWriteLock(Env env) throws Exception {
        String path = env.path("rw");
        InterProcessReadWriteLock[] rw = new InterProcessReadWriteLock[3];
        for (int i = 0; i < 3; i++) {
            rw[i] = new InterProcessReadWriteLock(env.client(i), path);
        }
        Env.check(tryLock(rw[0].readLock(), Env.DEADLINE_MS), "a reads");
        Env.check(tryLock(rw[1].readLock(), Env.DEADLINE_MS), "b reads at the same time");
        Env.check(!tryLock(rw[2].writeLock(), Env.REFUSE_MS), "c cannot write while a and b read");
        rw[0].readLock().release();
        Env.check(!tryLock(rw[2].writeLock(), Env.REFUSE_MS), "c cannot write while b reads");
        rw[1].readLock().release();
        Env.check(tryLock(rw[2].writeLock(), Env.DEADLINE_MS), "c writes once the readers are gone");
        Env.check(!tryLock(rw[0].readLock(), Env.REFUSE_MS), "a cannot read while c writes");
        Env.check(!tryLock(rw[1].writeLock(), Env.REFUSE_MS), "b cannot write while c writes");
        Env.check(tryLock(rw[2].readLock(), Env.DEADLINE_MS), "c, the writer, also reads (downgrade)");
        rw[2].writeLock().release();
        Env.check(tryLock(rw[0].readLock(), Env.DEADLINE_MS), "a reads beside c's remaining read lock");
        rw[0].readLock().release();
        rw[2].readLock().release();
        Gate[] writers = {gate(rw[0].writeLock()), gate(rw[1].writeLock()), gate(rw[2].writeLock())};
        Env.line("contended writers, most holders at once: " + contend(writers, "write lock"));
    }

    static void semaphore(Env env) throws Exception {
        String path = env.path("semaphore");
        InterProcessSemaphoreV2[] s = new InterProcessSemaphoreV2[3];
        for (int i = 0; i < 3; i++) {
            s[i] = new InterProcessSemaphoreV2(env.client(i), path, 2);
        }
        Lease l1 = s[0].acquire(Env.DEADLINE_MS, TimeUnit.MILLISECONDS);
        Lease l2 = s[1].acquire(Env.DEADLINE_MS, TimeUnit.MILLISECONDS);
        Env.check(l1 != null && l2 != null, "a and b each get one of the 2 leases");
        Env.check(s[2].acquire(Env.REFUSE_MS, TimeUnit.MILLISECONDS) == null, "c gets no third lease");
        Env.until("c sees 2 lease holders", () -> holders(s[2]) == 2);
        Env.line("lease holders seen by c: " + holders(s[2]));
        s[0].returnLease(l1);
        Lease l3 = s[2].acquire(Env.DEADLINE_MS, TimeUnit.MILLISECONDS);
        Env.check(l3 != null, "c gets a lease once a returns one");
        Env.check(s[0].acquire(2, Env.REFUSE_MS, TimeUnit.MILLISECONDS) == null, "a cannot take 2 leases now");
        s[1].returnLease(l2);
        s[2].returnLease(l3);
        java.util.Collection<Lease> both = s[0].acquire(2, Env.DEADLINE_MS, TimeUnit.MILLISECONDS);
        Env.check(both != null && both.size() == 2, "a takes both leases once they are free");
        s[0].returnAll(both);

        int most = contend(new Gate[] {gate(s[0]), gate(s[1]), gate(s[2])}, "semaphore");
        Env.check(most <= 2, "never more than 2 holders at once");
    }

    private static int holders(InterProcessSemaphoreV2 s) {
        try {
            return s.getParticipantNodes().size();
        } catch (Exception e) {
            return -1;
        }
    }
}
