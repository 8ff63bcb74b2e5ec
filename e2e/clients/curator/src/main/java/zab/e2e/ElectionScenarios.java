/*
 * Leader election recipes of Curator: LeaderLatch and LeaderSelector, three participants, one
 * client on each member. Participants join one after the other (each waits until the previous one
 * is seen among the participants), so the recipes' order (ephemeral sequential znodes) is fixed
 * and the transcript names who leads at each step. Leadership passes on close/release through
 * watches fired on the other members.
 */
package zab.e2e;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;

final class ElectionScenarios {
    private ElectionScenarios() {}

    private static final String[] IDS = {"a", "b", "c"};

    static String participants(Collection<Participant> ps) {
        List<String> out = new ArrayList<>();
        for (Participant p : ps) {
            out.add(p.getId() + (p.isLeader() ? "*" : ""));
        }
        return String.join(" ", out);
    }

    static void leaderLatch(Env env) throws Exception {
        String path = env.path("latch");
        LeaderLatch[] latch = new LeaderLatch[3];
        List<String> events = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CuratorFramework c = env.client(i);
            latch[i] = env.closeLater(new LeaderLatch(c, path, IDS[i], LeaderLatch.CloseMode.NOTIFY_LEADER));
            String id = IDS[i];
            latch[i].addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    synchronized (events) {
                        events.add(id + " isLeader");
                    }
                }

                @Override
                public void notLeader() {
                    synchronized (events) {
                        events.add(id + " notLeader");
                    }
                }
            });
            latch[i].start();
            final int n = i + 1;
            LeaderLatch first = latch[0];
            Env.until(IDS[i] + " is among " + n + " participants", () -> count(first) == n);
        }
        Env.check(latch[0].await(Env.DEADLINE_MS, TimeUnit.MILLISECONDS), "a leads");
        LeaderLatch last = latch[2];
        Env.until("c sees three participants", () -> count(last) == 3);
        Env.line("participants: " + participants(last.getParticipants()));
        Env.check(!latch[1].hasLeadership() && !latch[2].hasLeadership(), "b and c do not lead");
        latch[0].close();
        Env.check(latch[1].await(Env.DEADLINE_MS, TimeUnit.MILLISECONDS), "after a closes, b leads");
        LeaderLatch c = latch[2];
        Env.until("c sees two participants", () -> count(c) == 2);
        Env.line("participants: " + participants(c.getParticipants()));
        Env.line("leader seen by c: " + c.getLeader().getId());
        latch[1].close();
        Env.check(latch[2].await(Env.DEADLINE_MS, TimeUnit.MILLISECONDS), "after b closes, c leads");
        Env.line("participants: " + participants(c.getParticipants()));
        latch[2].close();
        synchronized (events) {
            Env.line("listener events: " + String.join(", ", events));
        }
    }

    private static int count(LeaderLatch l) {
        try {
            return l.getParticipants().size();
        } catch (Exception e) {
            return -1;
        }
    }

    private static int count(LeaderSelector s) {
        try {
            return s.getParticipants().size();
        } catch (Exception e) {
            return -1;
        }
    }

    static void leaderSelector(Env env) throws Exception {
        String path = env.path("selector");
        BlockingQueue<String> events = new ArrayBlockingQueue<>(100);
        CountDownLatch[] release = new CountDownLatch[3];
        LeaderSelector[] sel = new LeaderSelector[3];
        for (int i = 0; i < 3; i++) {
            CuratorFramework c = env.client(i);
            String id = IDS[i];
            final int k = i;
            release[i] = new CountDownLatch(1);
            sel[i] = env.closeLater(new LeaderSelector(c, path, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework client) throws Exception {
                    events.add(id + " takes leadership");
                    CountDownLatch r = release[k];
                    if (!r.await(Env.DEADLINE_MS, TimeUnit.MILLISECONDS)) {
                        events.add(id + " was never told to release");
                    }
                    release[k] = new CountDownLatch(1);
                    events.add(id + " releases");
                }
            }));
            sel[i].setId(id);
        }
        sel[0].autoRequeue();
        for (int i = 0; i < 3; i++) {
            sel[i].start();
            final int n = i + 1;
            LeaderSelector first = sel[0];
            Env.until(IDS[i] + " is among " + n + " participants", () -> count(first) == n);
            if (i == 0) {
                Env.line(Env.next(events, "a takes leadership"));
            }
        }
        LeaderSelector b = sel[1];
        Env.until("b sees three participants", () -> count(b) == 3);
        Env.line("participants: " + participants(b.getParticipants()));
        // a releases -> b; b releases -> c; c releases -> a again (autoRequeue), b and c left
        for (int step = 0; step < 3; step++) {
            release[step].countDown();
            Env.line(Env.next(events, "a release"));
            Env.line(Env.next(events, "the next leader"));
        }
        LeaderSelector c = sel[2];
        Env.until("c sees a as the only participant", () -> count(c) == 1);
        Env.line("participants seen by c: " + participants(c.getParticipants()));
        Env.check(sel[0].hasLeadership() && !sel[1].hasLeadership() && !sel[2].hasLeadership(),
                "a leads again, b and c do not");
        release[0].countDown();
        Env.line(Env.next(events, "a's second release"));
        sel[0].close();
        sel[1].close();
        sel[2].close();
        Env.check(events.isEmpty(), "no other leadership events: " + events);
    }
}
