/*
 * Sessions across the members of a three-member ensemble, for the differential conformance suite
 * (run by `java Conformance --ensemble m1,m2,m3`, see Conformance.java and run.sh). The same script
 * runs against three Apache ZooKeeper 3.8 peers and against three zab-node peers; the transcripts
 * must be identical.
 *
 * Members are named by role, not id: L (the leader, found with `srvr`), F1 and F2 (the followers in
 * id order). Clients go through Conformance's proxies, each proxy forwarding to one member. What is
 * checked, as ZooKeeper's FinalRequestProcessor, SessionTrackerImpl and LearnerSessionTracker do it:
 *  - a session closed through another member (a second handle with the session's id and password)
 *    closes its client's connection on the member the client is on: the client sees Disconnected,
 *    then, reconnecting, Expired; its ephemeral node goes and a watch elsewhere fires;
 *  - a session the leader expires while its (silent) connection is on a follower: the follower
 *    closes that connection and a reconnect is answered "expired";
 *  - a write through the old connection of a session that moved to another member closes that
 *    connection unanswered (CONNECTIONLOSS, then the client reconnects and takes its session back);
 *  - a session renewed through another member keeps its ephemerals and its watches (setWatches).
 * Nothing here sleeps to synchronise: waits are for an event or a closed socket, with a deadline.
 */

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.jute.BinaryInputArchive;
import org.apache.jute.BinaryOutputArchive;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.proto.ConnectRequest;
import org.apache.zookeeper.proto.ConnectResponse;
import org.apache.zookeeper.proto.CreateRequest;
import org.apache.zookeeper.proto.ReplyHeader;
import org.apache.zookeeper.proto.RequestHeader;

import static org.apache.zookeeper.CreateMode.EPHEMERAL;
import static org.apache.zookeeper.CreateMode.PERSISTENT;

final class EnsembleScenarios {

    static InetSocketAddress L;
    static InetSocketAddress F1;
    static InetSocketAddress F2;
    /** The members' addresses and process ids, in the order run.sh gave them. */
    static final List<InetSocketAddress> MEMBERS = new ArrayList<>();
    static final List<Long> PIDS = new ArrayList<>();

    static final List<Conformance.Scenario> SCENARIOS = List.of(
        new Conformance.Scenario("ensemble_close_through_leader",
            () -> closedElsewhere("/ensemble_close_through_leader", "F1", "L")),
        new Conformance.Scenario("ensemble_close_through_other_follower",
            () -> closedElsewhere("/ensemble_close_through_other_follower", "F1", "F2")),
        new Conformance.Scenario("ensemble_close_through_follower",
            () -> closedElsewhere("/ensemble_close_through_follower", "L", "F1")),
        new Conformance.Scenario("ensemble_expiry_on_follower", EnsembleScenarios::expiryOnFollower),
        new Conformance.Scenario("ensemble_session_moved", EnsembleScenarios::sessionMoved),
        new Conformance.Scenario("ensemble_renewed_elsewhere", EnsembleScenarios::renewedElsewhere),
        // Last: it stops F1 for good.
        new Conformance.Scenario("ensemble_member_dies", EnsembleScenarios::memberDies));

    static InetSocketAddress member(String role) {
        switch (role) {
            case "L": return L;
            case "F1": return F1;
            case "F2": return F2;
            default: throw new IllegalArgumentException(role);
        }
    }

    /** Asks every member `srvr` until one says leader and the others follower (deadline);
     *  sets L, F1, F2 and returns L. */
    static InetSocketAddress findRoles(String[] members) throws Exception {
        String pids = System.getenv("CONFORMANCE_PIDS");
        if (pids != null && !pids.isEmpty()) {
            for (String p : pids.split(",")) {
                PIDS.add(Long.parseLong(p.trim()));
            }
        }
        long end = System.currentTimeMillis() + Conformance.SERVER_CLOCK_DEADLINE_MS;
        String last = "";
        while (System.currentTimeMillis() < end) {
            InetSocketAddress leader = null;
            List<InetSocketAddress> followers = new ArrayList<>();
            StringBuilder seen = new StringBuilder();
            for (String m : members) {
                int colon = m.lastIndexOf(':');
                InetSocketAddress a = new InetSocketAddress(m.substring(0, colon), Integer.parseInt(m.substring(colon + 1)));
                if (MEMBERS.size() < members.length) {
                    MEMBERS.add(a);
                }
                String mode = mode(a);
                seen.append(m).append('=').append(mode).append(' ');
                if ("leader".equals(mode)) {
                    leader = a;
                } else if ("follower".equals(mode)) {
                    followers.add(a);
                }
            }
            last = seen.toString();
            if (leader != null && followers.size() == 2 && members.length == 3) {
                L = leader;
                F1 = followers.get(0);
                F2 = followers.get(1);
                return L;
            }
            synchronized (EnsembleScenarios.class) {
                EnsembleScenarios.class.wait(100); // polling the members' roles, with the deadline above
            }
        }
        throw new IllegalStateException("no leader and two followers among " + last);
    }

    /** The "Mode:" of a member's srvr answer ("" if none). */
    static String mode(InetSocketAddress a) {
        try (Socket s = new Socket()) {
            s.connect(a, 2000);
            s.setSoTimeout(2000);
            s.getOutputStream().write("srvr".getBytes(StandardCharsets.US_ASCII));
            String text = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            for (String line : text.split("\n")) {
                if (line.startsWith("Mode: ")) {
                    return line.substring(6).trim();
                }
            }
        } catch (IOException e) {
            // not answering yet
        }
        return "";
    }

    /** A new session whose client is connected to `role`. */
    static Conformance.Client at(String name, String role) throws Exception {
        return add(name, Conformance.SESSION_MS, role, 0, null);
    }

    /** A second handle of `of`'s session (same id and password), connected to `role`. */
    static Conformance.Client handleOf(String name, Conformance.Client of, String role) throws Exception {
        return add(name, Conformance.SESSION_MS, role, of.zk.getSessionId(), of.zk.getSessionPasswd());
    }

    private static Conformance.Client add(String name, int timeoutMs, String role, long session, byte[] passwd)
        throws Exception {
        Conformance.flush();
        Conformance.Client c = new Conformance.Client(name, timeoutMs, member(role), session, passwd);
        c.note("connected to " + role + (session == 0 ? "" : " with the session of " + Conformance.session(session)));
        Conformance.CLIENTS.add(c);
        return c;
    }

    // ================================================================== scenarios

    /** A (an ephemeral node) is on member `aOn`; H, a second handle of A's session on `hOn`,
     *  closes the session. W on the leader watches the ephemeral node. */
    static void closedElsewhere(String root, String aOn, String hOn) throws Exception {
        Conformance.Client w = at("W", "L");
        w.create(root, "", Conformance.OPEN, PERSISTENT);
        Conformance.Client a = at("A", aOn);
        a.create(root + "/a", "", Conformance.OPEN, EPHEMERAL);
        a.getData(root, false);
        Conformance.flush();
        w.exists(root + "/a", true);
        // From here on A sends nothing: once H attaches, A's connection is an old one, and on a
        // leader any request through it (a barrier's sync too) would close it at once.
        a.offline = true;
        Conformance.Client h = handleOf("H", a, hOn);
        h.getData(root + "/a", false);
        Conformance.flush();
        h.close();
        w.waitFor("NodeDeleted " + root + "/a", Conformance.SERVER_CLOCK_DEADLINE_MS);
        a.waitFor("Expired", Conformance.SERVER_CLOCK_DEADLINE_MS);
        a.terminal = true;
        Conformance.flush();
        a.getData(root, false);
        w.getChildren2(root, false);
        Conformance.flush();
    }

    /** R, a raw session of 2 s with an ephemeral node, on F1, then silent (no pings): the leader
     *  expires it, F1 closes R's connection, and R's reconnect through F1 hears "expired". */
    static void expiryOnFollower() throws Exception {
        String root = "/ensemble_expiry_on_follower";
        Conformance.Client w = at("W", "L");
        w.create(root, "", Conformance.OPEN, PERSISTENT);
        Conformance.flush();
        RawSession r = RawSession.open(F1, Conformance.SHORT_SESSION_MS);
        w.note("R: connected to F1, " + r.describe);
        w.note("R: " + r.createEphemeral(root + "/r"));
        w.exists(root + "/r", true);
        Conformance.flush();
        w.waitFor("NodeDeleted " + root + "/r", Conformance.SERVER_CLOCK_DEADLINE_MS);
        w.note("R: " + r.awaitClosed(Conformance.SERVER_CLOCK_DEADLINE_MS));
        RawSession again = RawSession.reopen(F1, r);
        w.note("R: reconnect through F1, " + again.describe);
        again.close();
        w.getChildren2(root, false);
        Conformance.flush();
    }

    /** A on F1; H, a second handle of A's session, on F2 (the session moves to F2). A write
     *  through A's old connection closes it unanswered; A reconnects through F1 and takes the
     *  session back, so H's connection is now the old one, and H's next write closes it. */
    static void sessionMoved() throws Exception {
        String path = "/ensemble_session_moved";
        Conformance.Client w = at("W", "L");
        w.create(path, "v0", Conformance.OPEN, PERSISTENT);
        Conformance.Client a = at("A", "F1");
        a.getData(path, false);
        Conformance.Client h = handleOf("H", a, "F2");
        h.setData(path, "from-H", -1);
        Conformance.flush();
        a.setData(path, "from-A-old-connection", -1);
        a.waitFor("SyncConnected", Conformance.SERVER_CLOCK_DEADLINE_MS);
        Conformance.flush();
        a.setData(path, "from-A", -1);
        Conformance.flush();
        h.setData(path, "from-H-old-connection", -1);
        h.waitFor("SyncConnected", Conformance.SERVER_CLOCK_DEADLINE_MS);
        Conformance.flush();
        w.getData(path, false);
        Conformance.flush();
        // Closing H (the session's connection now) closes A's connection on F1.
        a.offline = true;
        h.close();
        a.waitFor("Expired", Conformance.SERVER_CLOCK_DEADLINE_MS);
        a.terminal = true;
        Conformance.flush();
    }

    /** A on F1 with an ephemeral node and a data watch is cut off; W changes the data; A comes
     *  back through F2: the session is renewed there, the ephemeral node stays, the watch is
     *  restored by setWatches and fires, and A's writes go through F2. */
    static void renewedElsewhere() throws Exception {
        String root = "/ensemble_renewed_elsewhere";
        Conformance.Client w = at("W", "L");
        w.create(root, "v0", Conformance.OPEN, PERSISTENT);
        Conformance.Client a = at("A", "F1");
        a.create(root + "/a", "", Conformance.OPEN, EPHEMERAL);
        a.getData(root, true);
        Conformance.flush();
        Conformance.cutOff(a);
        w.setData(root, "v1", -1);
        Conformance.flush();
        a.proxy.retarget(F2);
        a.note("proxy now forwards to F2");
        Conformance.reconnect(a);
        a.setData(root + "/a", "renewed", -1);
        a.getData(root + "/a", false);
        Conformance.flush();
        w.getChildren2(root, false);
        Conformance.flush();
    }

    /** F1 (A on it with an ephemeral node, E too) is stopped with SIGTERM. Both stay away until
     *  the leader has expired E (2 s; its ephemeral node goes, W's watch fires); then A (20 s)
     *  comes back through F2: its session and ephemeral node live on; E, back through F2, hears
     *  that its session expired. */
    static void memberDies() throws Exception {
        String root = "/ensemble_member_dies";
        Conformance.Client w = at("W", "L");
        w.create(root, "", Conformance.OPEN, PERSISTENT);
        Conformance.Client a = at("A", "F1");
        a.create(root + "/a", "", Conformance.OPEN, EPHEMERAL);
        Conformance.Client e = add("E", Conformance.SHORT_SESSION_MS, "F1", 0, null);
        e.create(root + "/e", "", Conformance.OPEN, EPHEMERAL);
        Conformance.flush();
        w.exists(root + "/e", true);
        Conformance.flush();
        a.offline = true;
        e.offline = true;
        stop("F1");
        a.waitFor("Disconnected", Conformance.STEP_DEADLINE_MS);
        e.waitFor("Disconnected", Conformance.STEP_DEADLINE_MS);
        a.proxy.cut();
        e.proxy.cut();
        Conformance.flush();
        w.waitFor("NodeDeleted " + root + "/e", Conformance.SERVER_CLOCK_DEADLINE_MS);
        Conformance.flush();
        a.proxy.retarget(F2);
        a.note("proxy now forwards to F2");
        Conformance.reconnect(a);
        a.getData(root + "/a", false);
        Conformance.flush();
        e.proxy.retarget(F2);
        e.note("proxy now forwards to F2");
        e.proxy.up();
        e.waitFor("Expired", Conformance.SERVER_CLOCK_DEADLINE_MS);
        e.terminal = true;
        Conformance.flush();
        w.getChildren2(root, false);
        Conformance.flush();
    }

    /** Stops the member in `role` (SIGTERM to its pid, as run.sh gave it) and waits for its
     *  exit; records the pid in $CONFORMANCE_KILLED so run.sh does not count it as a crash. */
    static void stop(String role) throws Exception {
        int i = MEMBERS.indexOf(member(role));
        if (i < 0 || i >= PIDS.size()) {
            throw new IllegalStateException("no pid for " + role + " (CONFORMANCE_PIDS)");
        }
        long pid = PIDS.get(i);
        String killed = System.getenv("CONFORMANCE_KILLED");
        if (killed != null) {
            java.nio.file.Files.writeString(java.nio.file.Path.of(killed), pid + "\n",
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        }
        ProcessHandle h = ProcessHandle.of(pid).orElseThrow(() -> new IllegalStateException(role + " is not running"));
        h.destroy();
        h.onExit().get(Conformance.SERVER_CLOCK_DEADLINE_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    // ================================================================== a raw session

    /** A session spoken to directly over a socket (no client library: it never pings). */
    static final class RawSession implements AutoCloseable {
        final Socket socket;
        final long session;
        final byte[] passwd;
        final String describe;
        private int xid = 1;

        private RawSession(Socket socket, long session, byte[] passwd, String describe) {
            this.socket = socket;
            this.session = session;
            this.passwd = passwd;
            this.describe = describe;
        }

        static RawSession open(InetSocketAddress server, int timeoutMs) throws Exception {
            RawSession r = connect(server, timeoutMs, 0, new byte[16]);
            Conformance.SESSION_NAMES.putIfAbsent(r.session, "R");
            return r;
        }

        static RawSession reopen(InetSocketAddress server, RawSession old) throws Exception {
            return connect(server, Conformance.SHORT_SESSION_MS, old.session, old.passwd);
        }

        private static RawSession connect(InetSocketAddress server, int timeoutMs, long session, byte[] passwd)
            throws Exception {
            Socket s = new Socket();
            s.connect(server, 5000);
            s.setSoTimeout((int) Conformance.STEP_DEADLINE_MS);
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            BinaryOutputArchive out = BinaryOutputArchive.getArchive(body);
            new ConnectRequest(0, 0, timeoutMs, session, passwd).serialize(out, "connect");
            out.writeBool(false, "readOnly");
            send(s, body.toByteArray());
            BinaryInputArchive in = BinaryInputArchive.getArchive(new ByteArrayInputStream(receive(s)));
            ConnectResponse rsp = new ConnectResponse();
            rsp.deserialize(in, "connect");
            long got = rsp.getSessionId();
            String d = "timeOut=" + rsp.getTimeOut() + " session="
                       + (got == 0 ? "0" : session == 0 ? "new" : got == session ? "same" : "other");
            return new RawSession(s, rsp.getSessionId(), rsp.getPasswd(), d);
        }

        /** Creates an ephemeral node; returns "create PATH EPHEMERAL -> CODE zxid=...". */
        String createEphemeral(String path) throws Exception {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            BinaryOutputArchive out = BinaryOutputArchive.getArchive(body);
            new RequestHeader(xid++, ZooDefs.OpCode.create).serialize(out, "header");
            new CreateRequest(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, EPHEMERAL.toFlag()).serialize(out, "request");
            send(socket, body.toByteArray());
            BinaryInputArchive in = BinaryInputArchive.getArchive(new ByteArrayInputStream(receive(socket)));
            ReplyHeader h = new ReplyHeader();
            h.deserialize(in, "header");
            return "create " + path + " EPHEMERAL -> " + Conformance.code(h.getErr()) + " zxid=" + Conformance.zx(h.getZxid());
        }

        /** Waits (deadline) until the server closes the connection; says whether it did. */
        String awaitClosed(long deadlineMs) throws Exception {
            long end = System.currentTimeMillis() + deadlineMs;
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[4096];
            while (true) {
                long left = end - System.currentTimeMillis();
                if (left <= 0) {
                    return "connection still open after " + deadlineMs + " ms";
                }
                socket.setSoTimeout((int) Math.max(1, left));
                try {
                    if (in.read(buf) < 0) {
                        return "connection closed by the server";
                    }
                } catch (SocketTimeoutException e) {
                    // the loop checks the deadline
                } catch (IOException e) {
                    return "connection closed by the server";
                }
            }
        }

        @Override
        public void close() {
            Conformance.closeQuietly(socket);
        }

        private static void send(Socket s, byte[] payload) throws IOException {
            OutputStream o = s.getOutputStream();
            DataOutputStream d = new DataOutputStream(o);
            d.writeInt(payload.length);
            d.write(payload);
            d.flush();
        }

        private static byte[] receive(Socket s) throws IOException {
            DataInputStream d = new DataInputStream(s.getInputStream());
            int len = d.readInt();
            if (len < 0 || len > 1 << 20) {
                throw new IOException("bad frame length " + len);
            }
            byte[] b = new byte[len];
            d.readFully(b);
            return b;
        }
    }

    private EnsembleScenarios() {
    }
}
