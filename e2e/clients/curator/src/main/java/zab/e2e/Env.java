/*
 * Env: what every Curator scenario gets — the ensemble's members, Curator clients that are closed
 * when the scenario ends, the transcript (stdout, one line per fact) and bounded waits.
 *
 * A transcript line is deterministic for a correct server: no time, no session id, no znode
 * sequence that depends on timing, no order that the recipes do not promise. A wait never sleeps
 * for a fixed time to let something happen: it polls (or blocks on a queue) until a deadline and
 * then throws Timeout, which aborts the scenario with a "!! timeout" line. A failed check prints
 * a line starting with "!!", so a scenario that fails the same way on both servers still fails.
 */
package zab.e2e;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.UnaryOperator;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

final class Env {
    /** Upper bound of every wait for something that must happen. */
    static final long DEADLINE_MS = 20_000;
    /** How long a scenario waits to show that something does NOT happen (a lock is held, ...). */
    static final long REFUSE_MS = 300;
    static final int SESSION_TIMEOUT_MS = 10_000;
    static final int CONNECTION_TIMEOUT_MS = 5_000;

    /** Thrown when a bounded wait ran out; aborts the scenario. */
    static final class Timeout extends RuntimeException {
        Timeout(String what) {
            super(what);
        }
    }

    private final List<String> members;
    private final String scenario;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    Env(List<String> members, String scenario) {
        this.members = members;
        this.scenario = scenario;
    }

    /** host:port of member i (0-based). */
    String member(int i) {
        return members.get(i % members.size());
    }

    /** The connect string of the whole ensemble. */
    String all() {
        return String.join(",", members);
    }

    /** A znode path private to this scenario: /curator/SCENARIO/REST. */
    String path(String rest) {
        return "/curator/" + scenario + (rest.isEmpty() ? "" : "/" + rest);
    }

    /** A started Curator client on member i only (so a scenario knows which member serves it). */
    CuratorFramework client(int i) throws InterruptedException {
        return client(member(i));
    }

    /** A started Curator client on CONNECT, connected (or Timeout), closed at the scenario's end. */
    CuratorFramework client(String connect) throws InterruptedException {
        return client(connect, SESSION_TIMEOUT_MS);
    }

    /** As client(CONNECT), asking for a session timeout of SESSION_MS. */
    CuratorFramework client(String connect, int sessionMs) throws InterruptedException {
        return client(connect, sessionMs, b -> b);
    }

    /** As client(I), with TWEAK applied to the builder (authorization, ...). */
    CuratorFramework client(int i, UnaryOperator<CuratorFrameworkFactory.Builder> tweak) throws InterruptedException {
        return client(member(i), SESSION_TIMEOUT_MS, tweak);
    }

    private CuratorFramework client(String connect, int sessionMs, UnaryOperator<CuratorFrameworkFactory.Builder> tweak)
            throws InterruptedException {
        CuratorFramework c = tweak.apply(CuratorFrameworkFactory.builder())
                .connectString(connect)
                .sessionTimeoutMs(sessionMs)
                .connectionTimeoutMs(CONNECTION_TIMEOUT_MS)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1_000))
                .build();
        closeLater(c);
        c.start();
        if (!c.blockUntilConnected((int) DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            throw new Timeout("client on " + connect + " connects");
        }
        return c;
    }

    /** C is closed (in reverse order of registration) when the scenario ends. */
    <T extends AutoCloseable> T closeLater(T c) {
        synchronized (closeables) {
            closeables.add(c);
        }
        return c;
    }

    void closeAll() {
        List<AutoCloseable> list;
        synchronized (closeables) {
            list = new ArrayList<>(closeables);
            closeables.clear();
        }
        for (int i = list.size() - 1; i >= 0; i--) {
            try {
                list.get(i).close();
            } catch (Exception e) {
                // closing what a failed scenario left behind; the scenario's own lines tell what failed
            }
        }
    }

    /** Index of the first member whose srvr answer says "Mode: MODE" (leader, follower); -1 if none. */
    int memberInMode(String mode) {
        for (int i = 0; i < members.size(); i++) {
            if (mode.equals(srvrMode(member(i)))) {
                return i;
            }
        }
        return -1;
    }

    /** The "Mode:" line of the srvr four-letter word of HOSTPORT ("" if it does not answer). */
    static String srvrMode(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        try (java.net.Socket s = new java.net.Socket()) {
            s.connect(new java.net.InetSocketAddress(hostPort.substring(0, colon),
                    Integer.parseInt(hostPort.substring(colon + 1))), 2_000);
            s.setSoTimeout(2_000);
            s.getOutputStream().write("srvr".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String answer = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            for (String l : answer.split("\n")) {
                if (l.startsWith("Mode: ")) {
                    return l.substring(6).trim();
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return "";
        }
        return "";
    }

    // ---- transcript

    static synchronized void line(String s) {
        System.out.println(s);
        System.out.flush();
    }

    /** "ok WHAT" when COND holds, else "!! check failed: WHAT". */
    static void check(boolean cond, String what) {
        line((cond ? "ok " : "!! check failed: ") + what);
    }

    /** Whether PATH exists as C's member sees it (false also when it cannot be asked). */
    static boolean exists(CuratorFramework c, String path) {
        try {
            return c.checkExists().forPath(path) != null;
        } catch (Exception e) {
            return false;
        }
    }

    // ---- bounded waits

    /** Polls COND every 20 ms until it holds; Timeout after DEADLINE_MS. */
    static void until(String what, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(DEADLINE_MS);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new Timeout(what);
            }
            Thread.sleep(20);
        }
    }

    /** The next element of Q; Timeout after DEADLINE_MS. */
    static <T> T next(BlockingQueue<T> q, String what) throws InterruptedException {
        T v = q.poll(DEADLINE_MS, TimeUnit.MILLISECONDS);
        if (v == null) {
            throw new Timeout(what);
        }
        return v;
    }

    /** Joins T; Timeout if it is still running after DEADLINE_MS. */
    static void join(Thread t, String what) throws InterruptedException {
        t.join(DEADLINE_MS);
        if (t.isAlive()) {
            throw new Timeout(what);
        }
    }

    /** A started daemon thread running BODY; an exception in it is printed as a "!!" line. */
    static Thread spawn(String name, ThrowingRunnable body) {
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (Exception e) {
                line("!! " + name + " failed: " + describe(e));
            }
        }, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    /** An exception as a transcript word: its class, and its code for a KeeperException. */
    static String describe(Throwable e) {
        if (e instanceof org.apache.zookeeper.KeeperException ke) {
            return "KeeperException." + ke.code();
        }
        if (e instanceof Timeout) {
            return "timeout: " + e.getMessage();
        }
        return e.getClass().getSimpleName();
    }
}
