/*
 * CuratorMain: runs the Curator scenarios against one ensemble and prints their transcript.
 *
 *   java -cp ... zab.e2e.CuratorMain HOST:PORT,HOST:PORT,HOST:PORT [scenario,scenario,...]
 *
 * Members are given in myid order; scenarios place their clients on members by index. Each
 * scenario's transcript starts with "## NAME"; the run ends with "## end". A scenario that throws
 * prints "!! aborted: WHAT" and the run goes on with the next (exit status 3 at the end). Each
 * scenario gets a deadline; its clients are closed when it ends, whatever happened. The runner
 * (run.sh) diffs the transcripts of ZooKeeper and zab-node per scenario. It never writes outside
 * the znodes under /curator/SCENARIO and never talks to anything but the members given.
 */
package zab.e2e;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

public final class CuratorMain {
    /** A scenario's body; it prints its own lines through Env. */
    interface Scenario {
        void run(Env env) throws Exception;
    }

    private static final long SCENARIO_DEADLINE_S = 120;

    static Map<String, Scenario> scenarios() {
        Map<String, Scenario> m = new LinkedHashMap<>();
        m.put("leader_latch", ElectionScenarios::leaderLatch);
        m.put("leader_selector", ElectionScenarios::leaderSelector);
        m.put("mutex", LockScenarios::mutex);
        m.put("read_write_lock", LockScenarios::readWriteLock);
        m.put("semaphore", LockScenarios::semaphore);
        m.put("atomic_long", CounterScenarios::atomicLong);
        m.put("shared_count", CounterScenarios::sharedCount);
        m.put("barrier", BarrierScenarios::barrier);
        m.put("double_barrier", BarrierScenarios::doubleBarrier);
        m.put("cache_tree", CacheScenarios::tree);
        m.put("cache_node", CacheScenarios::node);
        m.put("legacy_caches", LegacyCacheScenarios::legacyCaches);
        m.put("service_discovery", DiscoveryScenarios::discovery);
        m.put("transaction", TransactionScenarios::transaction);
        m.put("transaction_failure", TransactionScenarios::failure);
        m.put("remove_watches", WatchScenarios::removeWatches);
        m.put("persistent_watches", WatchScenarios::persistentWatches);
        m.put("acl_auth", ServerScenarios::aclAuth);
        m.put("ensemble_config", ServerScenarios::ensembleConfig);
        m.put("persistent_ephemeral_session_closed", SessionScenarios::closedElsewhere);
        m.put("moved_session_write", SessionScenarios::movedSessionWrite);
        m.put("persistent_ephemeral_expired_on_follower", SessionScenarios::expiredOnFollower);
        m.put("persistent_ephemeral_expired_on_leader", SessionScenarios::expiredOnLeader);
        return m;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: CuratorMain HOST:PORT,... [scenario,...]");
            System.exit(2);
        }
        List<String> members = Arrays.asList(args[0].split(","));
        Map<String, Scenario> all = scenarios();
        List<String> names = args.length > 1 ? Arrays.asList(args[1].split(",")) : List.copyOf(all.keySet());
        int aborted = 0;
        for (String name : names) {
            Scenario s = all.get(name);
            if (s == null) {
                System.err.println("unknown scenario " + name + "; known: " + all.keySet());
                System.exit(2);
            }
            Env.line("## " + name);
            long t0 = System.nanoTime();
            if (!runOne(name, s, members)) {
                aborted++;
            }
            System.err.println("timing: " + name + " " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        }
        Env.line("## end");
        System.exit(aborted == 0 ? 0 : 3);
    }

    /** Runs S with its deadline; false if it aborted. */
    private static boolean runOne(String name, Scenario s, List<String> members) {
        Env env = new Env(members, name);
        ExecutorService ex = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "scenario-" + name);
            t.setDaemon(true);
            return t;
        });
        Future<?> f = ex.submit(() -> {
            s.run(env);
            return null;
        });
        boolean ok = false;
        try {
            f.get(SCENARIO_DEADLINE_S, TimeUnit.SECONDS);
            ok = true;
        } catch (TimeoutException e) {
            f.cancel(true);
            Env.line("!! aborted: scenario deadline of " + SCENARIO_DEADLINE_S + " s");
        } catch (java.util.concurrent.ExecutionException e) {
            Env.line("!! aborted: " + Env.describe(e.getCause()));
            e.getCause().printStackTrace();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            Env.line("!! aborted: interrupted");
        } finally {
            env.closeAll();
            ex.shutdownNow();
        }
        return ok;
    }
}
