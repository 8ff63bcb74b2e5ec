/*
 * Differential conformance script for zab-node.
 *
 * Runs one fixed sequence of ZooKeeper operations through the official Java client (3.8) and prints
 * one normalised line per result. run.sh runs it against Apache ZooKeeper 3.8 and against zab-node,
 * both freshly started, and diffs the two transcripts scenario by scenario.
 *
 * Usage: java Conformance <host:port> [scenario,scenario,...]
 *        java Conformance --ensemble <host:port>,<host:port>,<host:port> [scenario,...]
 * The second form runs the scenarios of EnsembleScenarios (sessions across the members of a
 * three-member ensemble) instead; see that file.
 *
 * How the transcript stays deterministic:
 *  - every client connects through its own in-process loopback TCP proxy (Proxy). The proxy parses
 *    the frames it forwards, so the transcript can show what only the wire carries: reply-header
 *    zxids, the connect handshake, setWatches, auth packets and notification headers. The proxy
 *    can also cut or blackhole a client, which is how reconnects and session expiry are forced;
 *  - callbacks and watch events are logged by each client's single EventThread, in arrival order,
 *    into that client's buffer. flush() waits for every outstanding callback, then sends a sync on
 *    every connected client as a barrier (a watch event reaches a client before the reply to any
 *    later request), then prints the buffers client by client. Nothing ever sleeps to synchronise;
 *    background server actions (container/TTL deletion, session expiry) are awaited through a
 *    watch with a deadline;
 *  - zxids are printed relative to the server's last zxid at the start of the scenario ("B+3"),
 *    so one scenario that consumes a different number of zxids does not make all later scenarios
 *    fail; the last scenario prints absolute values and so checks the total;
 *  - ctime/mtime print as "now" (within ten minutes of the local clock) or "0"; session ids print
 *    as the name of the client that owns them; passwords print as their length;
 *  - only one client sends requests in a step, so reply zxids never race;
 *  - lists ZooKeeper returns in hash order (children, getEphemerals) are sorted; whoAmI and ACLs
 *    expanded from "auth" are not (zab keeps ZooKeeper's order of a connection's ids).
 */

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.zip.CRC32;

import org.apache.jute.BinaryInputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.ClientCnxn;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.proto.AddWatchRequest;
import org.apache.zookeeper.proto.CheckVersionRequest;
import org.apache.zookeeper.proto.CheckWatchesRequest;
import org.apache.zookeeper.proto.Create2Response;
import org.apache.zookeeper.proto.CreateRequest;
import org.apache.zookeeper.proto.CreateResponse;
import org.apache.zookeeper.proto.CreateTTLRequest;
import org.apache.zookeeper.proto.DeleteRequest;
import org.apache.zookeeper.proto.ErrorResponse;
import org.apache.zookeeper.proto.ExistsRequest;
import org.apache.zookeeper.proto.ExistsResponse;
import org.apache.zookeeper.proto.GetACLRequest;
import org.apache.zookeeper.proto.GetACLResponse;
import org.apache.zookeeper.proto.GetAllChildrenNumberRequest;
import org.apache.zookeeper.proto.GetAllChildrenNumberResponse;
import org.apache.zookeeper.proto.GetChildren2Request;
import org.apache.zookeeper.proto.GetChildren2Response;
import org.apache.zookeeper.proto.GetChildrenRequest;
import org.apache.zookeeper.proto.GetChildrenResponse;
import org.apache.zookeeper.proto.GetDataRequest;
import org.apache.zookeeper.proto.GetDataResponse;
import org.apache.zookeeper.proto.RemoveWatchesRequest;
import org.apache.zookeeper.proto.ReplyHeader;
import org.apache.zookeeper.proto.RequestHeader;
import org.apache.zookeeper.proto.SetACLRequest;
import org.apache.zookeeper.proto.SetACLResponse;
import org.apache.zookeeper.proto.SetDataRequest;
import org.apache.zookeeper.proto.SetDataResponse;
import org.apache.zookeeper.proto.SetWatches;
import org.apache.zookeeper.proto.SetWatches2;
import org.apache.zookeeper.proto.SyncRequest;
import org.apache.zookeeper.proto.SyncResponse;
import org.apache.zookeeper.proto.WatcherEvent;

import static org.apache.zookeeper.CreateMode.CONTAINER;
import static org.apache.zookeeper.CreateMode.EPHEMERAL;
import static org.apache.zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL;
import static org.apache.zookeeper.CreateMode.PERSISTENT;
import static org.apache.zookeeper.CreateMode.PERSISTENT_SEQUENTIAL;
import static org.apache.zookeeper.CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
import static org.apache.zookeeper.CreateMode.PERSISTENT_WITH_TTL;

public final class Conformance {

    // ------------------------------------------------------------------ settings

    /** How long one step may take before the scenario is reported as aborted. */
    static final long STEP_DEADLINE_MS = 10_000;
    /** Deadline for things the server does on its own clock (expiry, TTL, containers). */
    static final long SERVER_CLOCK_DEADLINE_MS = 40_000;
    /** Session timeout of ordinary clients (the runner's maxSessionTimeout is 20000). */
    static final int SESSION_MS = 20_000;
    /** Session timeout of clients that are meant to expire (the runner's minSessionTimeout). */
    static final int SHORT_SESSION_MS = 2_000;

    static final List<ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;
    static final List<ACL> CREATOR = ZooDefs.Ids.CREATOR_ALL_ACL;
    static final List<ACL> READ_ONLY = ZooDefs.Ids.READ_ACL_UNSAFE;

    // ------------------------------------------------------------------ run state

    static final PrintStream OUT = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    static String upstreamHost;
    static int upstreamPort;
    /** zxid anchor of the running scenario; -1 prints zxids as absolute hex. */
    static volatile long base = -1;
    static final Map<Long, String> SESSION_NAMES = new ConcurrentHashMap<>();
    static final List<Client> CLIENTS = new ArrayList<>();
    static final Map<Integer, String> OP_NAMES = new HashMap<>();
    static Client ctl;
    /** The thread that runs the scenarios and issues every request. */
    static Thread mainThread;
    static final boolean DEBUG = System.getenv("CONFORMANCE_DEBUG") != null;

    interface Body {
        void run() throws Exception;
    }

    record Scenario(String name, Body body) {
    }

    static final List<Scenario> SCENARIOS = List.of(
        new Scenario("system_nodes", Conformance::systemNodes),
        new Scenario("session_timeouts", Conformance::sessionTimeouts),
        new Scenario("create_modes", Conformance::createModes),
        new Scenario("create_errors", Conformance::createErrors),
        new Scenario("create_opcode_flag_matrix", Conformance::createOpcodeFlagMatrix),
        new Scenario("delete", Conformance::delete),
        new Scenario("get_set_exists", Conformance::getSetExists),
        new Scenario("children", Conformance::children),
        new Scenario("sequential", Conformance::sequential),
        new Scenario("ephemerals", Conformance::ephemerals),
        new Scenario("multi", Conformance::multi),
        new Scenario("multi_read", Conformance::multiRead),
        new Scenario("sync", Conformance::sync),
        new Scenario("check_standalone", Conformance::checkStandalone),
        new Scenario("watches_one_shot", Conformance::watchesOneShot),
        new Scenario("watches_persistent", Conformance::watchesPersistent),
        new Scenario("watches_persistent_recursive", Conformance::watchesRecursive),
        new Scenario("remove_watches", Conformance::removeWatches),
        new Scenario("acl", Conformance::aclChecks),
        new Scenario("super_user", Conformance::superUser),
        new Scenario("who_am_i", Conformance::whoAmI),
        new Scenario("auth_failed", Conformance::authFailed),
        new Scenario("bad_paths", Conformance::badPaths),
        new Scenario("quota_nodes", Conformance::quotaNodes),
        new Scenario("large_data", Conformance::largeData),
        new Scenario("unknown_opcode", Conformance::unknownOpcode),
        new Scenario("container", Conformance::container),
        new Scenario("ttl", Conformance::ttl),
        new Scenario("set_watches_on_reconnect", Conformance::setWatchesOnReconnect),
        new Scenario("session_expiry", Conformance::sessionExpiry),
        new Scenario("zxid_accounting", Conformance::zxidAccounting));

    public static void main(String[] args) throws Exception {
        boolean ensemble = args.length > 0 && args[0].equals("--ensemble");
        if (ensemble) {
            args = Arrays.copyOfRange(args, 1, args.length);
        }
        if (args.length < 1 || !args[0].contains(":")) {
            System.err.println("usage: java Conformance [--ensemble] <host:port>[,<host:port>...] [scenario,...]");
            System.exit(2);
        }
        List<Scenario> scenarios = SCENARIOS;
        if (ensemble) {
            // The members' roles decide where each client goes; ctl sits on the leader.
            InetSocketAddress leader = EnsembleScenarios.findRoles(args[0].split(","));
            upstreamHost = leader.getHostString();
            upstreamPort = leader.getPort();
            scenarios = EnsembleScenarios.SCENARIOS;
        } else {
            int colon = args[0].lastIndexOf(':');
            upstreamHost = args[0].substring(0, colon);
            upstreamPort = Integer.parseInt(args[0].substring(colon + 1));
        }
        Set<String> only = args.length > 1 ? new LinkedHashSet<>(Arrays.asList(args[1].split(","))) : null;
        System.setProperty("zookeeper.sasl.client", "false");
        mainThread = Thread.currentThread();
        for (Field f : ZooDefs.OpCode.class.getFields()) {
            OP_NAMES.put(f.getInt(null), f.getName());
        }

        try {
            ctl = new Client("ctl", SESSION_MS);
        } catch (Exception e) {
            OUT.println("!! cannot open a session: " + e);
            OUT.flush();
            System.exit(3);
        }
        int aborted = 0;
        for (Scenario s : scenarios) {
            if (only != null && !only.contains(s.name())) {
                continue;
            }
            if (!runScenario(s)) {
                aborted++;
            }
        }
        OUT.println("## end");
        OUT.flush();
        System.exit(aborted == 0 ? 0 : 3);
    }

    static boolean runScenario(Scenario s) {
        OUT.println("## " + s.name());
        boolean ok = true;
        try {
            base = "zxid_accounting".equals(s.name()) ? -1 : ctl.lastZxid();
            s.body().run();
            flush();
            closeAll();
        } catch (Throwable t) {
            ok = false;
            try {
                printBuffers();
            } catch (Throwable ignored) {
                // the abort line below is what matters
            }
            OUT.println("!! aborted: " + t);
            System.err.println("scenario " + s.name() + " aborted:");
            t.printStackTrace();
            abandonAll();
        }
        OUT.flush();
        return ok;
    }

    // ================================================================== scenarios

    /** /, /zookeeper, /zookeeper/quota and /zookeeper/config: data, stat, ACL, children, and
     *  which writes the server refuses on them; reads of "" (the root's alias). Runs first, so
     *  the root's stat is predictable. */
    static void systemNodes() throws Exception {
        Client a = client("A");
        for (String p : List.of("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config")) {
            a.getData(p, false);
            a.getACL(p);
            a.getChildren2(p, false);
            a.getAllChildrenNumber(p);
            a.exists(p, false);
        }
        flush();
        a.raw("exists \"\"", ZooDefs.OpCode.exists, new ExistsRequest("", false),
            new ExistsResponse(), Conformance::fmtResponse);
        a.raw("getData \"\"", ZooDefs.OpCode.getData, new GetDataRequest("", false),
            new GetDataResponse(), Conformance::fmtResponse);
        a.raw("getChildren2 \"\"", ZooDefs.OpCode.getChildren2, new GetChildren2Request("", false),
            new GetChildren2Response(), Conformance::fmtResponse);
        a.raw("getACL \"\"", ZooDefs.OpCode.getACL, new GetACLRequest(""),
            new GetACLResponse(), Conformance::fmtResponse);
        a.raw("getAllChildrenNumber \"\"", ZooDefs.OpCode.getAllChildrenNumber,
            new GetAllChildrenNumberRequest(""), new GetAllChildrenNumberResponse(), Conformance::fmtResponse);
        flush();
        a.setData("/zookeeper/config", "x", -1);
        a.setACL("/zookeeper/config", OPEN, -1);
        a.create("/zookeeper/config/child", "x", OPEN, PERSISTENT);
        a.delete("/zookeeper/config", -1);
        a.delete("/zookeeper/quota", -1);
        a.delete("/zookeeper", -1);
        a.delete("/", -1);
        a.create("/", "x", OPEN, PERSISTENT);
        a.create("/zookeeper", "x", OPEN, PERSISTENT);
        flush();
        a.setData("/zookeeper", "x", -1);
        a.create("/zookeeper/child", "c", OPEN, PERSISTENT);
        a.getChildren2("/zookeeper", false);
        a.delete("/zookeeper/child", -1);
        a.setData("/zookeeper", (byte[]) null, -1);
        a.getData("/zookeeper", false);
        a.setData("/", "root", -1);
        a.getData("/", false);
        a.setData("/", (byte[]) null, -1);
        flush();
    }

    /** Session timeout negotiation: requests below/above the configured bounds are clamped, the
     *  negotiated value is in the ConnectResponse. */
    static void sessionTimeouts() throws Exception {
        for (int requested : new int[] {1_000, 2_000, 6_000, 20_000, 100_000}) {
            Client c = client("T" + requested, requested);
            c.note("requested=" + requested + " negotiated=" + c.zk.getSessionTimeout()
                   + " passwdLen=" + c.zk.getSessionPasswd().length);
            flush();
            c.close();
        }
    }

    /** create (op 1, or 19 for containers) and create2 (op 15 / 19 / 21) in every CreateMode,
     *  with the stat each node gets. ephemeralOwner is the session for ephemeral nodes and 0 for
     *  containers and TTL nodes (the server keeps 0x8000000000000000 / the TTL encoding
     *  internally but never shows it to clients). */
    static void createModes() throws Exception {
        Client a = client("A");
        a.create("/create_modes", "root", OPEN, PERSISTENT);
        a.create("/create_modes/c", "c", OPEN, PERSISTENT);
        a.create("/create_modes/c2", "c2", OPEN, PERSISTENT);
        flush();
        for (CreateMode m : CreateMode.values()) {
            a.create("/create_modes/c/" + m.name().toLowerCase(), "d-" + m, OPEN, m);
        }
        flush();
        for (CreateMode m : CreateMode.values()) {
            long ttl = m.isTTL() ? 3_600_000 : -1;
            a.create2("/create_modes/c2/" + m.name().toLowerCase(), "d-" + m, OPEN, m, ttl);
        }
        flush();
        for (String parent : List.of("/create_modes/c", "/create_modes/c2")) {
            Res kids = a.getChildren2(parent, false).await();
            for (String k : sorted(kids.children)) {
                a.getData(parent + "/" + k, false);
            }
            flush();
        }
        a.create("/create_modes/null-data", (byte[]) null, OPEN, PERSISTENT);
        a.create("/create_modes/empty-data", "", OPEN, PERSISTENT);
        a.create2("/create_modes/binary", new byte[] {0, 1, (byte) 0xff, (byte) 0x80}, OPEN, PERSISTENT, -1);
        a.getData("/create_modes/null-data", false);
        a.getData("/create_modes/empty-data", false);
        a.getData("/create_modes/binary", false);
        a.create2("/create_modes/ttl-min", "t", OPEN, PERSISTENT_WITH_TTL, 3_600_000);
        a.getChildren2("/create_modes", false);
        flush();
    }

    /** Create failures and their order: NodeExists, NoNode parent, NoChildrenForEphemerals,
     *  InvalidACL variants, TTL bounds, creating "/" and under an ephemeral. */
    static void createErrors() throws Exception {
        Client a = client("A");
        a.create("/create_errors", "", OPEN, PERSISTENT);
        a.create("/create_errors", "", OPEN, PERSISTENT);
        a.create2("/create_errors", "", OPEN, PERSISTENT, -1);
        a.create("/create_errors/missing/child", "", OPEN, PERSISTENT);
        a.create("/create_errors/eph", "", OPEN, EPHEMERAL);
        a.create("/create_errors/eph/child", "", OPEN, PERSISTENT);
        a.create("/create_errors/eph/child", "", OPEN, EPHEMERAL_SEQUENTIAL);
        a.create2("/create_errors/eph/child", "", OPEN, CONTAINER, -1);
        a.create2("/create_errors/eph/child", "", OPEN, PERSISTENT_WITH_TTL, 1000);
        a.create("/create_errors/eph", "", OPEN, PERSISTENT);
        flush();
        a.create("/create_errors/acl-empty", "", List.of(), PERSISTENT);
        a.create("/create_errors/acl-auth-unauthenticated", "", CREATOR, PERSISTENT);
        a.create("/create_errors/acl-unknown-scheme", "", acl(31, "foo", "bar"), PERSISTENT);
        a.create("/create_errors/acl-world-someone", "", acl(31, "world", "someone"), PERSISTENT);
        a.create("/create_errors/acl-digest-no-hash", "", acl(31, "digest", "alice"), PERSISTENT);
        a.create("/create_errors/acl-ip-bad", "", acl(31, "ip", "300.1.2.3"), PERSISTENT);
        a.create("/create_errors/acl-ip-bad-bits", "", acl(31, "ip", "127.0.0.1/33"), PERSISTENT);
        a.create("/create_errors/acl-ip-word", "", acl(31, "ip", "localhost"), PERSISTENT);
        a.create("/create_errors/acl-super", "", acl(31, "super", ""), PERSISTENT);
        a.create("/create_errors/acl-perms-0", "", acl(0, "world", "anyone"), PERSISTENT);
        a.create("/create_errors/acl-perms-high", "", acl(0xff, "world", "anyone"), PERSISTENT);
        a.create("/create_errors/acl-dup", "", List.of(new ACL(31, new Id("world", "anyone")),
            new ACL(31, new Id("world", "anyone"))), PERSISTENT);
        flush();
        a.getACL("/create_errors/acl-perms-high");
        a.getACL("/create_errors/acl-dup");
        a.getACL("/create_errors/acl-perms-0");
        a.create("/create_errors/acl-perms-0/x", "", OPEN, PERSISTENT);
        flush();
        rawCreateTtl(a, "/create_errors/ttl-zero", 5, 0);
        rawCreateTtl(a, "/create_errors/ttl-negative", 5, -5);
        rawCreateTtl(a, "/create_errors/ttl-max", 5, 0xFF_FFFF_FFFFL);
        rawCreateTtl(a, "/create_errors/ttl-too-big", 5, 0x100_0000_0000L);
        flush();
        a.getChildren2("/create_errors", false);
        flush();
    }

    /** Raw create requests for every (opcode, flags) pair: create 1, create2 15, createContainer
     *  19, createTTL 21 against flags 0..7, bypassing the client's own validation. */
    static void createOpcodeFlagMatrix() throws Exception {
        Client a = client("A");
        a.create("/create_opcode_flag_matrix", "", OPEN, PERSISTENT);
        flush();
        for (int op : new int[] {ZooDefs.OpCode.create, ZooDefs.OpCode.create2,
                                 ZooDefs.OpCode.createContainer, ZooDefs.OpCode.createTTL}) {
            for (int flags = 0; flags <= 7; flags++) {
                String path = "/create_opcode_flag_matrix/op" + op + "-f" + flags;
                if (op == ZooDefs.OpCode.createTTL) {
                    CreateTTLRequest req = new CreateTTLRequest(path, bytes("m"), OPEN, flags, 3_600_000);
                    a.raw(opName(op) + " " + path + " flags=" + flags + " ttl=3600000", op, req,
                        new Create2Response(), Conformance::fmtResponse);
                } else {
                    CreateRequest req = new CreateRequest(path, bytes("m"), OPEN, flags);
                    Record resp = op == ZooDefs.OpCode.create ? new CreateResponse() : new Create2Response();
                    a.raw(opName(op) + " " + path + " flags=" + flags, op, req, resp, Conformance::fmtResponse);
                }
            }
            flush();
        }
        Res kids = a.getChildren2("/create_opcode_flag_matrix", false).await();
        for (String k : sorted(kids.children)) {
            a.exists("/create_opcode_flag_matrix/" + k, false);
        }
        flush();
    }

    /** delete: bad version, good version, -1, missing node, missing parent, non-empty node
     *  (version is checked before emptiness), and the parent's cversion/pzxid afterwards. */
    static void delete() throws Exception {
        Client a = client("A");
        a.create("/delete", "", OPEN, PERSISTENT);
        a.create("/delete/a", "a", OPEN, PERSISTENT);
        a.create("/delete/b", "b", OPEN, PERSISTENT);
        a.create("/delete/b/child", "", OPEN, PERSISTENT);
        a.setData("/delete/a", "a1", -1);
        flush();
        a.delete("/delete/a", 0);
        a.delete("/delete/a", 5);
        a.delete("/delete/b", 7);
        a.delete("/delete/b", 0);
        a.delete("/delete/b", -1);
        a.delete("/delete/missing", -1);
        a.delete("/delete/missing", 3);
        a.delete("/delete/missing/child", -1);
        flush();
        a.getChildren2("/delete", false);
        a.delete("/delete/a", 1);
        a.delete("/delete/a", 1);
        a.getChildren2("/delete", false);
        a.delete("/delete/b/child", -1);
        a.delete("/delete/b", 0);
        a.getChildren2("/delete", false);
        a.create("/delete/c", "", OPEN, PERSISTENT);
        a.getChildren2("/delete", false);
        flush();
    }

    /** getData/setData/exists: versions (bad, -1, exact), data null vs empty vs binary, NoNode
     *  before BadVersion, exists on present and missing nodes. */
    static void getSetExists() throws Exception {
        Client a = client("A");
        a.create("/get_set_exists", "", OPEN, PERSISTENT);
        a.create("/get_set_exists/n", "v0", OPEN, PERSISTENT);
        flush();
        a.getData("/get_set_exists/n", false);
        a.setData("/get_set_exists/n", "v1", 0);
        a.setData("/get_set_exists/n", "v2", 0);
        a.setData("/get_set_exists/n", "v2", -1);
        a.setData("/get_set_exists/n", "v3", 2);
        a.setData("/get_set_exists/n", "v3", 2);
        a.setData("/get_set_exists/n", (byte[]) null, -1);
        a.getData("/get_set_exists/n", false);
        a.setData("/get_set_exists/n", "", -1);
        a.getData("/get_set_exists/n", false);
        a.setData("/get_set_exists/n", new byte[] {0, (byte) 0xfe, 10}, -1);
        a.getData("/get_set_exists/n", false);
        a.setData("/get_set_exists/missing", "x", -1);
        a.setData("/get_set_exists/missing", "x", 4);
        a.getData("/get_set_exists/missing", false);
        a.exists("/get_set_exists/n", false);
        a.exists("/get_set_exists/missing", false);
        a.exists("/get_set_exists", false);
        flush();
    }

    /** getChildren, getChildren2 (with the parent's Stat), getAllChildrenNumber (all
     *  descendants), on leaves, on missing nodes. */
    static void children() throws Exception {
        Client a = client("A");
        a.create("/children", "", OPEN, PERSISTENT);
        for (String c : List.of("b", "a", "c", "a/x", "a/y", "a/x/z")) {
            a.create("/children/" + c, c, OPEN, PERSISTENT);
        }
        flush();
        a.getChildren("/children", false);
        a.getChildren2("/children", false);
        a.getChildren("/children/a", false);
        a.getChildren2("/children/a/x/z", false);
        a.getChildren("/children/missing", false);
        a.getChildren2("/children/missing", false);
        a.getAllChildrenNumber("/children");
        a.getAllChildrenNumber("/children/a");
        a.getAllChildrenNumber("/children/a/x/z");
        a.getAllChildrenNumber("/children/missing");
        flush();
    }

    /** Sequential names: 10-digit suffix from the parent's cversion (which counts creates, incl.
     *  non-sequential ones), after deletes, ephemeral-sequential, a name that is only the
     *  suffix ("/p/"), a sequential create that fails, and sequential creates inside a multi. */
    static void sequential() throws Exception {
        Client a = client("A");
        a.create("/sequential", "", OPEN, PERSISTENT);
        flush();
        a.create("/sequential/n-", "", OPEN, PERSISTENT_SEQUENTIAL);
        a.create("/sequential/n-", "", OPEN, PERSISTENT_SEQUENTIAL);
        a.create("/sequential/plain", "", OPEN, PERSISTENT);
        a.create("/sequential/n-", "", OPEN, PERSISTENT_SEQUENTIAL);
        a.create("/sequential/e-", "", OPEN, EPHEMERAL_SEQUENTIAL);
        a.create2("/sequential/c-", "", OPEN, PERSISTENT_SEQUENTIAL, -1);
        a.create2("/sequential/t-", "", OPEN, PERSISTENT_SEQUENTIAL_WITH_TTL, 3_600_000);
        a.create("/sequential/", "", OPEN, PERSISTENT_SEQUENTIAL);
        flush();
        a.delete("/sequential/plain", -1);
        a.delete("/sequential/n-0000000000", -1);
        a.create("/sequential/n-", "", OPEN, PERSISTENT_SEQUENTIAL);
        a.create("/sequential/missing/n-", "", OPEN, PERSISTENT_SEQUENTIAL);
        a.create("/sequential/n-", "", OPEN, PERSISTENT_SEQUENTIAL);
        a.multi("seq-in-multi", List.of(
            Op.create("/sequential/m-", bytes(""), OPEN, PERSISTENT_SEQUENTIAL),
            Op.create("/sequential/m-", bytes(""), OPEN, PERSISTENT_SEQUENTIAL)));
        a.getChildren2("/sequential", false);
        flush();
    }

    /** Ephemeral nodes: getEphemerals with and without prefix (string-prefix match), owner in
     *  the stat, and deletion at close with NodeDeleted/NodeChildrenChanged delivered to another
     *  session. The events of one closeSession are printed sorted (ZooKeeper deletes in hash
     *  order). */
    static void ephemerals() throws Exception {
        Client a = client("A");
        Client b = client("B");
        Client w = client("W");
        a.create("/ephemerals", "", OPEN, PERSISTENT);
        a.create("/ephemerals/a1", "", OPEN, EPHEMERAL);
        a.create("/ephemerals/a2", "", OPEN, EPHEMERAL);
        a.create("/ephemerals/ab", "", OPEN, EPHEMERAL_SEQUENTIAL);
        a.create("/ephemerals/p", "", OPEN, PERSISTENT);
        a.create("/ephemerals/p/a3", "", OPEN, EPHEMERAL);
        flush();
        b.create("/ephemerals/b1", "", OPEN, EPHEMERAL);
        flush();
        a.getEphemerals(null);
        a.getEphemerals("/");
        a.getEphemerals("/ephemerals/a");
        a.getEphemerals("/ephemerals/a1");
        a.getEphemerals("/ephemerals/p");
        a.getEphemerals("/nomatch");
        a.getEphemerals("");
        b.getEphemerals(null);
        w.getEphemerals(null);
        a.exists("/ephemerals/a1", false);
        flush();
        w.exists("/ephemerals/a1", true);
        w.getData("/ephemerals/a2", true);
        w.getChildren("/ephemerals", true);
        w.getChildren("/ephemerals/p", true);
        flush();
        w.sortNextFlush = true;
        a.close();
        flush();
        w.getChildren2("/ephemerals", false);
        w.getChildren2("/ephemerals/p", false);
        b.getEphemerals(null);
        flush();
    }

    /** multi: success with every write op (results incl. create2-style stats for containers and
     *  TTL nodes), failure (the failing op carries its code, earlier ops OK(0), later ops
     *  RUNTIMEINCONSISTENCY(-2), nothing applied, a zxid still consumed), empty multi, check. */
    static void multi() throws Exception {
        Client a = client("A");
        Client w = client("W");
        a.create("/multi", "", OPEN, PERSISTENT);
        flush();
        w.getChildren("/multi", true);
        flush();
        a.multi("all-ok", List.of(
            Op.create("/multi/a", bytes("1"), OPEN, PERSISTENT),
            Op.create("/multi/b", bytes("b"), OPEN, PERSISTENT),
            Op.setData("/multi/a", bytes("2"), 0),
            Op.check("/multi/a", 1),
            Op.delete("/multi/b", -1),
            Op.create("/multi/e", bytes(""), OPEN, EPHEMERAL),
            Op.create("/multi/s-", bytes(""), OPEN, PERSISTENT_SEQUENTIAL),
            Op.create("/multi/ctr", bytes(""), OPEN, CONTAINER),
            Op.create("/multi/ttl", bytes(""), OPEN, PERSISTENT_WITH_TTL, 3_600_000)));
        flush();
        a.getData("/multi/a", false);
        w.getData("/multi/a", true);
        flush();
        a.multi("fail-in-middle", List.of(
            Op.create("/multi/d", bytes(""), OPEN, PERSISTENT),
            Op.setData("/multi/a", bytes("x"), 99),
            Op.create("/multi/f", bytes(""), OPEN, PERSISTENT)));
        a.exists("/multi/d", false);
        a.getData("/multi/a", false);
        flush();
        a.multi("fail-first", List.of(
            Op.delete("/multi/missing", -1),
            Op.create("/multi/g", bytes(""), OPEN, PERSISTENT)));
        a.multi("fail-check", List.of(
            Op.check("/multi/a", 0),
            Op.setData("/multi/a", bytes("y"), -1)));
        a.multi("fail-check-missing", List.of(Op.check("/multi/nope", -1)));
        a.multi("fail-last-nodeexists", List.of(
            Op.create("/multi/h", bytes(""), OPEN, PERSISTENT),
            Op.create("/multi/h", bytes(""), OPEN, PERSISTENT)));
        a.multi("create-then-delete-same", List.of(
            Op.create("/multi/i", bytes(""), OPEN, PERSISTENT),
            Op.delete("/multi/i", 0)));
        a.multi("check-only", List.of(Op.check("/multi/a", 1)));
        a.multi("child-of-new-node", List.of(
            Op.create("/multi/j", bytes(""), OPEN, PERSISTENT),
            Op.create("/multi/j/k", bytes(""), OPEN, PERSISTENT),
            Op.setData("/multi/j", bytes("jj"), 0)));
        a.multi("fail-bad-acl", List.of(
            Op.create("/multi/l", bytes(""), OPEN, PERSISTENT),
            Op.create("/multi/m", bytes(""), CREATOR, PERSISTENT)));
        a.multi("mixed-read-write", List.of(
            Op.create("/multi/n", bytes(""), OPEN, PERSISTENT),
            Op.getData("/multi/a")));
        a.create("/multi/after", "", OPEN, PERSISTENT);
        a.getChildren2("/multi", false);
        flush();
        // The Java client answers an empty multi itself, on the calling thread: only after a
        // barrier is its place in the transcript fixed.
        a.multi("empty", List.of());
        flush();
    }

    /** multiRead (zk.multi with only getData/getChildren): per-op results, partial failure with
     *  NoNode and NoAuth inside, and empty results. */
    static void multiRead() throws Exception {
        Client a = client("A");
        a.create("/multi_read", "", OPEN, PERSISTENT);
        a.create("/multi_read/a", "x", OPEN, PERSISTENT);
        a.create("/multi_read/b", "", OPEN, PERSISTENT);
        a.create("/multi_read/secret", "s", acl(31, "digest", digestId("nobody", "pw")), PERSISTENT);
        flush();
        a.multi("reads-ok", List.of(
            Op.getData("/multi_read/a"),
            Op.getChildren("/multi_read"),
            Op.getChildren("/multi_read/b")));
        a.multi("reads-partial", List.of(
            Op.getData("/multi_read/missing"),
            Op.getData("/multi_read/a"),
            Op.getData("/multi_read/secret"),
            Op.getChildren("/multi_read/secret"),
            Op.getChildren("/multi_read/missing"),
            Op.getData("/multi_read/b")));
        flush();
    }

    /** sync: answered with the path, on present and missing paths; it keeps the session's
     *  request order with the writes and reads around it. */
    static void sync() throws Exception {
        Client a = client("A");
        a.create("/sync", "", OPEN, PERSISTENT);
        a.sync("/sync");
        a.sync("/sync/missing");
        a.sync("/");
        a.setData("/sync", "1", -1);
        a.sync("/sync");
        a.getData("/sync", false);
        a.raw("sync relative-path", ZooDefs.OpCode.sync, new SyncRequest("sync"), new SyncResponse(),
            Conformance::fmtResponse);
        flush();
    }

    /** check (op 13) sent on its own, outside a multi: it goes through the write pipeline, so a
     *  failing check is an error txn that consumes a zxid. Only failures are compared: when the
     *  version matches, ZooKeeper 3.8.0 applies the txn but then fails to serialise the reply (a
     *  null Stat) and never answers. */
    static void checkStandalone() throws Exception {
        Client a = client("A");
        a.create("/check_standalone", "", OPEN, PERSISTENT);
        a.create("/check_standalone/secret", "", acl(31, "digest", digestId("nobody", "pw")), PERSISTENT);
        flush();
        for (String[] c : new String[][] {{"/check_standalone", "5"}, {"/check_standalone/missing", "-1"},
                                          {"check_standalone", "0"}, {"/check_standalone/", "0"},
                                          {"/check_standalone/secret", "3"}}) {
            a.raw("check " + quote(c[0]) + " version=" + c[1], ZooDefs.OpCode.check,
                new CheckVersionRequest(c[0], Integer.parseInt(c[1])), new SetDataResponse(), Conformance::fmtResponse);
        }
        a.create("/check_standalone/after", "", OPEN, PERSISTENT);
        flush();
    }

    /** One-shot watches: data, exist and child watches and the event type each write fires;
     *  they fire once; one NodeDeleted for data+exist+child watches on one path; a session sees
     *  the event for its own write before that write's reply, and an event before the new data. */
    static void watchesOneShot() throws Exception {
        Client w = client("W");
        Client m = client("M");
        m.create("/watches_one_shot", "", OPEN, PERSISTENT);
        m.create("/watches_one_shot/d", "d0", OPEN, PERSISTENT);
        flush();
        w.getData("/watches_one_shot/d", true);
        flush();
        m.setData("/watches_one_shot/d", "d1", -1);
        flush();
        m.setData("/watches_one_shot/d", "d2", -1);
        flush();
        w.exists("/watches_one_shot/new", true);
        flush();
        m.create("/watches_one_shot/new", "", OPEN, PERSISTENT);
        flush();
        w.exists("/watches_one_shot/new", true);
        flush();
        m.setData("/watches_one_shot/new", "same", -1);
        flush();
        w.exists("/watches_one_shot/new", true);
        flush();
        m.delete("/watches_one_shot/new", -1);
        flush();
        w.getChildren("/watches_one_shot", true);
        flush();
        m.setData("/watches_one_shot", "parent-data", -1);
        m.create("/watches_one_shot/c1", "", OPEN, PERSISTENT);
        m.create("/watches_one_shot/c2", "", OPEN, PERSISTENT);
        flush();
        w.getData("/watches_one_shot/d", true);
        w.exists("/watches_one_shot/d", true);
        w.getChildren("/watches_one_shot/d", true);
        flush();
        m.delete("/watches_one_shot/d", -1);
        flush();
        w.getData("/watches_one_shot/c1", true);
        w.setData("/watches_one_shot/c1", "own", -1);
        w.getData("/watches_one_shot/c1", false);
        flush();
        w.getData("/watches_one_shot/c2", true);
        flush();
        m.setData("/watches_one_shot/c2", "new", -1);
        m.await();
        w.getData("/watches_one_shot/c2", false);
        flush();
        w.getChildren("/watches_one_shot/c2", true);
        w.exists("/watches_one_shot/c2/gone", true);
        flush();
        m.multi("create-and-delete", List.of(
            Op.create("/watches_one_shot/c2/gone", bytes(""), OPEN, PERSISTENT),
            Op.delete("/watches_one_shot/c2/gone", -1)));
        flush();
        w.getData("/watches_one_shot/missing", true);
        w.getChildren("/watches_one_shot/missing", true);
        flush();
        m.create("/watches_one_shot/missing", "", OPEN, PERSISTENT);
        flush();
    }

    /** addWatch PERSISTENT: fires NodeCreated/NodeDataChanged/NodeChildrenChanged/NodeDeleted
     *  for the node itself, repeatedly, survives deletion, ignores grandchildren; together with a
     *  one-shot watch on the same path the client sees one event. */
    static void watchesPersistent() throws Exception {
        Client w = client("W");
        Client m = client("M");
        m.create("/watches_persistent", "", OPEN, PERSISTENT);
        flush();
        w.addWatch("/watches_persistent/p", AddWatchMode.PERSISTENT);
        flush();
        m.create("/watches_persistent/p", "0", OPEN, PERSISTENT);
        m.setData("/watches_persistent/p", "1", -1);
        m.setData("/watches_persistent/p", "2", -1);
        m.create("/watches_persistent/p/c", "", OPEN, PERSISTENT);
        m.setData("/watches_persistent/p/c", "x", -1);
        m.create("/watches_persistent/p/c/g", "", OPEN, PERSISTENT);
        m.delete("/watches_persistent/p/c/g", -1);
        m.delete("/watches_persistent/p/c", -1);
        m.create("/watches_persistent/sibling", "", OPEN, PERSISTENT);
        m.delete("/watches_persistent/p", -1);
        m.create("/watches_persistent/p", "again", OPEN, PERSISTENT);
        flush();
        w.getData("/watches_persistent/p", true);
        w.addWatch("/watches_persistent/p", AddWatchMode.PERSISTENT);
        flush();
        m.setData("/watches_persistent/p", "3", -1);
        m.setData("/watches_persistent/p", "4", -1);
        flush();
    }

    /** addWatch PERSISTENT_RECURSIVE: NodeCreated/NodeDataChanged/NodeDeleted for the whole
     *  subtree, never NodeChildrenChanged; path-prefix siblings do not match; a one-shot child
     *  watch on the same node still gets its NodeChildrenChanged; multi events come in op
     *  order. */
    static void watchesRecursive() throws Exception {
        Client w = client("W");
        Client m = client("M");
        m.create("/watches_persistent_recursive", "", OPEN, PERSISTENT);
        flush();
        w.addWatch("/watches_persistent_recursive/r", AddWatchMode.PERSISTENT_RECURSIVE);
        flush();
        m.create("/watches_persistent_recursive/r", "", OPEN, PERSISTENT);
        m.create("/watches_persistent_recursive/r/a", "", OPEN, PERSISTENT);
        m.create("/watches_persistent_recursive/r/a/b", "", OPEN, PERSISTENT);
        m.setData("/watches_persistent_recursive/r/a/b", "x", -1);
        m.setData("/watches_persistent_recursive/r", "y", -1);
        m.create("/watches_persistent_recursive/rr", "", OPEN, PERSISTENT);
        m.create("/watches_persistent_recursive/r/e", "", OPEN, EPHEMERAL);
        m.delete("/watches_persistent_recursive/r/a/b", -1);
        flush();
        w.getChildren("/watches_persistent_recursive/r", true);
        flush();
        m.create("/watches_persistent_recursive/r/z", "", OPEN, PERSISTENT);
        m.create("/watches_persistent_recursive/r/z2", "", OPEN, PERSISTENT);
        flush();
        m.multi("three", List.of(
            Op.create("/watches_persistent_recursive/r/m1", bytes(""), OPEN, PERSISTENT),
            Op.create("/watches_persistent_recursive/r/m2", bytes(""), OPEN, PERSISTENT),
            Op.delete("/watches_persistent_recursive/r/m1", -1),
            Op.setData("/watches_persistent_recursive/r/m2", bytes("v"), -1)));
        flush();
        m.close();
        flush();
        w.addWatch("/watches_persistent_recursive/r/a", AddWatchMode.PERSISTENT_RECURSIVE);
        flush();
        Client m2 = client("M2");
        m2.create("/watches_persistent_recursive/r/a/deep", "", OPEN, PERSISTENT);
        flush();
    }

    /** removeWatches (checkWatches op 17 + local removal) and removeAllWatches (op 18): the
     *  *WatchRemoved events, NOWATCHER for watches that do not exist, and raw checkWatches /
     *  removeWatches for every WatcherType against the server's own bookkeeping. */
    static void removeWatches() throws Exception {
        Client w = client("W");
        Client m = client("M");
        m.create("/remove_watches", "", OPEN, PERSISTENT);
        m.create("/remove_watches/a", "", OPEN, PERSISTENT);
        m.create("/remove_watches/p", "", OPEN, PERSISTENT);
        m.create("/remove_watches/r", "", OPEN, PERSISTENT);
        flush();
        w.getData("/remove_watches/a", true);
        w.getChildren("/remove_watches/a", true);
        w.exists("/remove_watches/missing", true);
        w.addWatch("/remove_watches/p", AddWatchMode.PERSISTENT);
        w.addWatch("/remove_watches/r", AddWatchMode.PERSISTENT_RECURSIVE);
        flush();
        w.removeWatches("/remove_watches/a", Watcher.WatcherType.Data, false);
        w.removeWatches("/remove_watches/a", Watcher.WatcherType.Data, false);
        w.removeAllWatches("/remove_watches/a", Watcher.WatcherType.Children, false);
        w.removeAllWatches("/remove_watches/a", Watcher.WatcherType.Children, false);
        w.removeAllWatches("/remove_watches/missing", Watcher.WatcherType.Data, false);
        w.removeAllWatches("/remove_watches/p", Watcher.WatcherType.Any, false);
        w.removeWatches("/remove_watches/r", Watcher.WatcherType.Any, false);
        w.removeAllWatches("/remove_watches/none", Watcher.WatcherType.Any, false);
        w.removeWatches("/remove_watches/none", Watcher.WatcherType.Children, false);
        flush();
        m.setData("/remove_watches/a", "x", -1);
        m.create("/remove_watches/a/c", "", OPEN, PERSISTENT);
        m.create("/remove_watches/missing", "", OPEN, PERSISTENT);
        m.setData("/remove_watches/p", "x", -1);
        m.create("/remove_watches/r/c", "", OPEN, PERSISTENT);
        flush();
        w.getData("/remove_watches/a", true);
        flush();
        w.removeAllWatches("/remove_watches/a", Watcher.WatcherType.Data, true);
        flush();
        m.setData("/remove_watches/a", "y", -1);
        flush();

        // Raw checkWatches / removeWatches against the server's bookkeeping, on a client whose
        // own watch table is left alone (R sets watches through the API, then probes raw).
        Client r = client("R");
        r.getData("/remove_watches/a", true);
        r.getChildren("/remove_watches/r", true);
        r.addWatch("/remove_watches/p", AddWatchMode.PERSISTENT);
        r.addWatch("/remove_watches/r/c", AddWatchMode.PERSISTENT_RECURSIVE);
        flush();
        for (String p : List.of("/remove_watches/a", "/remove_watches/r", "/remove_watches/p",
                                "/remove_watches/r/c", "/remove_watches/none")) {
            for (int type = 1; type <= 6; type++) {
                r.raw("checkWatches " + p + " type=" + type, ZooDefs.OpCode.checkWatches,
                    new CheckWatchesRequest(p, type), null, null);
            }
        }
        flush();
        for (String p : List.of("/remove_watches/a", "/remove_watches/p", "/remove_watches/r/c")) {
            r.raw("removeWatches " + p + " type=3", ZooDefs.OpCode.removeWatches,
                new RemoveWatchesRequest(p, 3), null, null);
            r.raw("removeWatches " + p + " type=3", ZooDefs.OpCode.removeWatches,
                new RemoveWatchesRequest(p, 3), null, null);
        }
        r.raw("removeWatches /remove_watches/r type=2", ZooDefs.OpCode.removeWatches,
            new RemoveWatchesRequest("/remove_watches/r", 2), null, null);
        r.raw("removeWatches /remove_watches/r type=1", ZooDefs.OpCode.removeWatches,
            new RemoveWatchesRequest("/remove_watches/r", 1), null, null);
        flush();
        m.setData("/remove_watches/a", "z", -1);
        m.setData("/remove_watches/p", "z", -1);
        m.create("/remove_watches/r/c/d", "", OPEN, PERSISTENT);
        m.create("/remove_watches/r/c2", "", OPEN, PERSISTENT);
        flush();
    }

    /** ACLs: auth (CREATOR_ALL) expansion, digest, ip (exact and CIDR), read/write-only nodes,
     *  and the order of checks: NoNode vs NoAuth, ACL before version, parent DELETE permission
     *  before the node's existence, exists needing no permission, getACL masking digests for
     *  callers without ADMIN, setACL aversion. */
    static void aclChecks() throws Exception {
        Client a = client("A");
        Client b = client("B");
        b.addAuth("digest", "alice:secret");
        String alice = digestId("alice", "secret");
        a.create("/acl", "", OPEN, PERSISTENT);
        flush();
        b.create("/acl/alice", "a", CREATOR, PERSISTENT);
        b.create("/acl/alice2", "a", CREATOR, PERSISTENT);
        b.getACL("/acl/alice");
        b.create("/acl/alice/child", "c", OPEN, PERSISTENT);
        flush();
        a.getACL("/acl/alice");
        a.getData("/acl/alice", false);
        a.exists("/acl/alice", false);
        a.getChildren("/acl/alice", false);
        a.getChildren2("/acl/alice", false);
        a.getAllChildrenNumber("/acl/alice");
        a.getData("/acl/alice/missing", false);
        a.getData("/acl/alice/child", false);
        a.setData("/acl/alice", "x", -1);
        a.setData("/acl/alice", "x", 99);
        a.setACL("/acl/alice", OPEN, -1);
        a.setACL("/acl/alice", OPEN, 99);
        a.create("/acl/alice/x", "", OPEN, PERSISTENT);
        a.create("/acl/alice/child/x", "", OPEN, PERSISTENT);
        a.create("/acl/missing/x", "", OPEN, PERSISTENT);
        a.delete("/acl/alice/missing", -1);
        a.delete("/acl/alice/child", -1);
        a.delete("/acl/alice", -1);
        a.delete("/acl/alice2", 5);
        a.delete("/acl/alice2", -1);
        flush();

        a.create("/acl/read-only", "r", acl(ZooDefs.Perms.READ, "world", "anyone"), PERSISTENT);
        a.create("/acl/write-only", "w", acl(ZooDefs.Perms.WRITE, "world", "anyone"), PERSISTENT);
        a.create("/acl/masked", "m", List.of(
            new ACL(ZooDefs.Perms.READ | ZooDefs.Perms.ADMIN, new Id("digest", alice)),
            new ACL(ZooDefs.Perms.READ, new Id("world", "anyone"))), PERSISTENT);
        a.create("/acl/ip-exact", "i", acl(31, "ip", "127.0.0.1"), PERSISTENT);
        a.create("/acl/ip-cidr", "i", acl(ZooDefs.Perms.READ, "ip", "127.0.0.0/8"), PERSISTENT);
        a.create("/acl/ip-other", "i", acl(ZooDefs.Perms.READ, "ip", "10.0.0.0/8"), PERSISTENT);
        a.create("/acl/digest-explicit", "d", acl(31, "digest", alice), PERSISTENT);
        flush();
        a.getData("/acl/read-only", false);
        a.setData("/acl/read-only", "x", -1);
        a.getACL("/acl/read-only");
        a.getData("/acl/write-only", false);
        a.setData("/acl/write-only", "x", -1);
        a.getACL("/acl/write-only");
        a.getACL("/acl/masked");
        a.getData("/acl/ip-exact", false);
        a.setData("/acl/ip-exact", "x", -1);
        a.getACL("/acl/ip-exact");
        a.getData("/acl/ip-cidr", false);
        a.getData("/acl/ip-other", false);
        a.getData("/acl/digest-explicit", false);
        flush();
        b.getACL("/acl/masked");
        b.getData("/acl/digest-explicit", false);
        flush();

        b.setACL("/acl/alice", CREATOR, 5);
        b.setACL("/acl/alice", CREATOR, 0);
        b.setACL("/acl/alice", acl(31, "digest", alice), -1);
        b.setACL("/acl/alice", List.of(), -1);
        b.setACL("/acl/missing", OPEN, -1);
        b.getACL("/acl/alice");
        b.addAuth("digest", "bob:pw");
        b.create("/acl/both", "", CREATOR, PERSISTENT);
        b.getACL("/acl/both");
        flush();
        Client c = client("C");
        c.addAuth("digest", "alice:wrong");
        c.getData("/acl/alice", false);
        c.addAuth("digest", "alice:secret");
        c.getData("/acl/alice", false);
        flush();
    }

    /** The super user (superDigest super:test) passes every ACL check, sees unmasked digests,
     *  and can even write /zookeeper/config. */
    static void superUser() throws Exception {
        Client b = client("B");
        b.addAuth("digest", "alice:secret");
        b.create("/super_user", "", OPEN, PERSISTENT);
        b.create("/super_user/locked", "l", CREATOR, PERSISTENT);
        b.create("/super_user/zero", "z", acl(0, "world", "anyone"), PERSISTENT);
        flush();
        Client s = client("S");
        s.addAuth("digest", "super:test");
        s.getData("/super_user/locked", false);
        s.getACL("/super_user/locked");
        s.setData("/super_user/locked", "by-super", -1);
        s.create("/super_user/locked/child", "", OPEN, PERSISTENT);
        s.getData("/super_user/zero", false);
        s.create("/super_user/zero/child", "", OPEN, PERSISTENT);
        s.delete("/super_user/zero/child", -1);
        s.setACL("/super_user/zero", OPEN, -1);
        s.setData("/zookeeper/config", "written-by-super", -1);
        s.getData("/zookeeper/config", false);
        s.setData("/zookeeper/config", "", -1);
        s.delete("/zookeeper/config", -1);
        flush();
        Client x = client("X");
        x.addAuth("digest", "super:wrong");
        x.getData("/super_user/locked", false);
        flush();
    }

    /** whoAmI: the ip identity every connection has, digest identities added by addAuthInfo,
     *  duplicates, the extra "super" identity, an "ip" auth packet. (Printed sorted: the
     *  server keeps identities in a hash set.) */
    static void whoAmI() throws Exception {
        Client a = client("A");
        a.whoAmI();
        a.addAuth("digest", "u1:p1");
        a.whoAmI();
        a.addAuth("digest", "u1:p1");
        a.addAuth("digest", "u2:p2");
        a.whoAmI();
        a.addAuth("ip", "127.0.0.1");
        a.whoAmI();
        Client s = client("S");
        s.addAuth("digest", "super:test");
        s.whoAmI();
        flush();
    }

    /** An auth packet with an unknown scheme: AUTHFAILED on xid -4, the AuthFailed event, the
     *  connection closed by the server and later requests failing locally. The session stays
     *  until it expires, which this scenario waits for (it would otherwise consume a zxid
     *  at a random point later). */
    static void authFailed() throws Exception {
        Client w = client("W");
        w.create("/auth_failed", "", OPEN, PERSISTENT);
        flush();
        Client x = client("X", SHORT_SESSION_MS);
        x.create("/auth_failed/x-alive", "", OPEN, EPHEMERAL);
        flush();
        w.exists("/auth_failed/x-alive", true);
        flush();
        x.addAuth("bogus", "whatever");
        x.waitFor("AuthFailed", STEP_DEADLINE_MS);
        x.terminal = true;
        x.getData("/auth_failed", false);
        flush();
        w.waitFor("NodeDeleted /auth_failed/x-alive", SERVER_CLOCK_DEADLINE_MS);
        flush();
        w.exists("/auth_failed/x-alive", false);
        flush();
    }

    /** Paths the server must refuse, sent raw so the Java client's own validation is bypassed:
     *  every write op answers BADARGUMENTS (and consumes a zxid as an error txn); reads do not
     *  validate and answer NONODE. */
    static void badPaths() throws Exception {
        Client a = client("A");
        a.create("/bad_paths", "", OPEN, PERSISTENT);
        a.create("/bad_paths/x", "", OPEN, PERSISTENT);
        flush();
        List<String> paths = List.of("", "a", "/bad_paths/", "//bad_paths", "/bad_paths//x",
            "/bad_paths/./x", "/bad_paths/../x", "/bad_paths/.", "/bad_paths/..", "/.", "/..",
            "/bad_paths/x\u0000y", "/bad_paths/x\u0001", "/bad_paths/x\u007f", "/bad_paths/x\u009f",
            "/bad_paths/x\ud800", "/bad_paths/x\uffff", "/bad_paths/x\uf8ff", "/zookeeper/",
            "/bad_paths/ok-\u00e9\u4e2d");
        for (String p : paths) {
            String q = quote(p);
            a.raw("create " + q, ZooDefs.OpCode.create, new CreateRequest(p, bytes("v"), OPEN, 0),
                new CreateResponse(), Conformance::fmtResponse);
            a.raw("setData " + q, ZooDefs.OpCode.setData, new SetDataRequest(p, bytes("w"), -1),
                new SetDataResponse(), Conformance::fmtResponse);
            a.raw("setACL " + q, ZooDefs.OpCode.setACL, new SetACLRequest(p, OPEN, -1),
                new SetACLResponse(), Conformance::fmtResponse);
            a.raw("sync " + q, ZooDefs.OpCode.sync, new SyncRequest(p), new SyncResponse(),
                Conformance::fmtResponse);
            a.raw("delete " + q, ZooDefs.OpCode.delete, new DeleteRequest(p, -1), null, null);
            if (p.isEmpty()) {
                flush();
                continue; // reads of "" are the root's; system_nodes covers them
            }
            a.raw("exists " + q, ZooDefs.OpCode.exists, new ExistsRequest(p, false),
                new ExistsResponse(), Conformance::fmtResponse);
            a.raw("getData " + q, ZooDefs.OpCode.getData, new GetDataRequest(p, false),
                new GetDataResponse(), Conformance::fmtResponse);
            a.raw("getChildren " + q, ZooDefs.OpCode.getChildren, new GetChildrenRequest(p, false),
                new GetChildrenResponse(), Conformance::fmtResponse);
            a.raw("getChildren2 " + q, ZooDefs.OpCode.getChildren2, new GetChildren2Request(p, false),
                new GetChildren2Response(), Conformance::fmtResponse);
            a.raw("getACL " + q, ZooDefs.OpCode.getACL, new GetACLRequest(p),
                new GetACLResponse(), Conformance::fmtResponse);
            a.raw("getAllChildrenNumber " + q, ZooDefs.OpCode.getAllChildrenNumber,
                new GetAllChildrenNumberRequest(p), new GetAllChildrenNumberResponse(), Conformance::fmtResponse);
            flush();
        }
        a.raw("create sequential " + quote("/bad_paths/"), ZooDefs.OpCode.create,
            new CreateRequest("/bad_paths/", bytes(""), OPEN, 2), new CreateResponse(), Conformance::fmtResponse);
        a.raw("create sequential " + quote("/bad_paths/x/../"), ZooDefs.OpCode.create,
            new CreateRequest("/bad_paths/x/../", bytes(""), OPEN, 2), new CreateResponse(), Conformance::fmtResponse);
        a.raw("create sequential " + quote("/bad_paths//"), ZooDefs.OpCode.create,
            new CreateRequest("/bad_paths//", bytes(""), OPEN, 2), new CreateResponse(), Conformance::fmtResponse);
        a.raw("addWatch " + quote("bad"), ZooDefs.OpCode.addWatch, new AddWatchRequest("bad", 0),
            new ErrorResponse(), Conformance::fmtResponse);
        a.getChildren2("/bad_paths", false);
        flush();
    }

    /** Writes under /zookeeper/quota: the quota subtree is writable like any node (enforcement
     *  is off), creating zookeeper_limits/zookeeper_stats registers a quota, and the server then
     *  rewrites zookeeper_stats itself when nodes below the quota root change. */
    static void quotaNodes() throws Exception {
        Client a = client("A");
        a.create("/quota_nodes", "", OPEN, PERSISTENT);
        a.create("/zookeeper/quota/quota_nodes", "", OPEN, PERSISTENT);
        a.create("/zookeeper/quota/quota_nodes/zookeeper_limits", "count=2,bytes=10", OPEN, PERSISTENT);
        a.create("/zookeeper/quota/quota_nodes/zookeeper_stats", "count=1,bytes=0", OPEN, PERSISTENT);
        flush();
        a.create("/quota_nodes/a", "12345", OPEN, PERSISTENT);
        a.create("/quota_nodes/b", "1234567890", OPEN, PERSISTENT);
        a.create("/quota_nodes/c", "over", OPEN, PERSISTENT);
        a.setData("/quota_nodes/a", "123456789012345", -1);
        a.delete("/quota_nodes/b", -1);
        flush();
        a.getData("/zookeeper/quota/quota_nodes/zookeeper_stats", false);
        a.getData("/zookeeper/quota/quota_nodes/zookeeper_limits", false);
        a.getAllChildrenNumber("/zookeeper/quota");
        a.setData("/zookeeper/quota", "x", -1);
        a.getData("/zookeeper/quota", false);
        a.setData("/zookeeper/quota", (byte[]) null, -1);
        a.delete("/zookeeper/quota", -1);
        flush();
    }

    /** Data sizes: a 1,000,000-byte value round-trips; a request frame over jute.maxbuffer
     *  (1 MiB - 1) makes the server drop the connection, the request fails with CONNECTIONLOSS
     *  and the client reconnects to the same session. */
    static void largeData() throws Exception {
        Client a = client("A");
        a.create("/large_data", "", OPEN, PERSISTENT);
        a.setData("/large_data", new byte[1_000_000], -1);
        a.getData("/large_data", false);
        flush();
        a.offline = true;
        a.create("/large_data/too-big", new byte[1_048_576], OPEN, PERSISTENT);
        a.await();
        a.waitFor("SyncConnected", SERVER_CLOCK_DEADLINE_MS);
        a.offline = false;
        flush();
        a.exists("/large_data/too-big", false);
        a.getChildren2("/large_data", false);
        flush();
    }

    /** An opcode the server does not know: UNIMPLEMENTED(-6), then the server closes the
     *  connection and the client reconnects to the same session. */
    static void unknownOpcode() throws Exception {
        Client a = client("A");
        a.create("/unknown_opcode", "", OPEN, PERSISTENT);
        flush();
        a.offline = true;
        a.raw("op 999", 999, new SyncRequest("/unknown_opcode"), null, null);
        a.await();
        a.waitFor("SyncConnected", SERVER_CLOCK_DEADLINE_MS);
        a.offline = false;
        flush();
        a.getData("/unknown_opcode", false);
        flush();
    }

    /** Containers: never deleted while never used (cversion 0), deleted
     *  by the server (a deleteContainer txn, zxid consumed) once their last child goes, also
     *  when that child was an ephemeral removed by closeSession. */
    static void container() throws Exception {
        Client a = client("A");
        Client w = client("W");
        a.create("/container", "", OPEN, PERSISTENT);
        a.create2("/container/c", "c", OPEN, CONTAINER, -1);
        a.create2("/container/unused", "u", OPEN, CONTAINER, -1);
        a.create("/container/c/child", "", OPEN, PERSISTENT);
        a.create("/container/c/child2", "", OPEN, PERSISTENT);
        flush();
        w.exists("/container/c", true);
        w.getChildren("/container", true);
        flush();
        a.delete("/container/c/child", -1);
        flush();
        a.delete("/container/c/child2", -1);
        a.await();
        w.waitFor("NodeDeleted /container/c", SERVER_CLOCK_DEADLINE_MS);
        w.waitFor("NodeChildrenChanged /container", SERVER_CLOCK_DEADLINE_MS);
        flush();
        w.getChildren2("/container", false);
        flush();
        a.create("/container/c/child", "", OPEN, PERSISTENT);
        flush();

        Client e = client("E");
        e.create2("/container/e", "", OPEN, CONTAINER, -1);
        e.create("/container/e/eph", "", OPEN, EPHEMERAL);
        flush();
        w.exists("/container/e", true);
        flush();
        e.close();
        w.waitFor("NodeDeleted /container/e", SERVER_CLOCK_DEADLINE_MS);
        flush();
        w.getChildren2("/container", false);
        w.exists("/container/unused", false);
        flush();
    }

    /** TTL nodes: ephemeralOwner encodes the TTL, the server deletes an expired childless TTL
     *  node (a deleteContainer txn, zxid consumed), sequential TTL nodes too, and one with a
     *  child stays until the child is gone (proved without sleeping: it is older and has the
     *  shorter TTL, so it would have gone before /ttl/t did). */
    static void ttl() throws Exception {
        Client a = client("A");
        Client w = client("W");
        a.create("/ttl", "", OPEN, PERSISTENT);
        a.multi("keeper-with-child", List.of(
            Op.create("/ttl/keeper", bytes(""), OPEN, PERSISTENT_WITH_TTL, 300),
            Op.create("/ttl/keeper/child", bytes(""), OPEN, PERSISTENT)));
        flush();
        w.addWatch("/ttl", AddWatchMode.PERSISTENT);
        w.addWatch("/ttl/keeper", AddWatchMode.PERSISTENT);
        w.addWatch("/ttl/t", AddWatchMode.PERSISTENT);
        flush();
        a.create2("/ttl/t", "t", OPEN, PERSISTENT_WITH_TTL, 500);
        a.await();
        w.waitFor("NodeDeleted /ttl/t", SERVER_CLOCK_DEADLINE_MS);
        flush();
        w.exists("/ttl/keeper", false);
        w.getData("/ttl/keeper/child", false);
        flush();
        a.create2("/ttl/s-", "", OPEN, PERSISTENT_SEQUENTIAL_WITH_TTL, 400);
        a.await();
        w.waitFor("NodeChildrenChanged /ttl", 2, SERVER_CLOCK_DEADLINE_MS);
        flush();
        a.delete("/ttl/keeper/child", -1);
        a.await();
        w.waitFor("NodeDeleted /ttl/keeper", SERVER_CLOCK_DEADLINE_MS);
        flush();
        w.getChildren2("/ttl", false);
        flush();
    }

    /** Reconnect with watches: while A is cut off by its proxy, M changes watched nodes; when A
     *  reconnects (same session) its client sends setWatches (op 101, only standard watches) or
     *  setWatches2 (op 105, with persistent ones) with relativeZxid = last zxid it saw, and the
     *  server fires what changed. Unchanged watches stay armed; persistent watches are restored
     *  but what happened while away is not replayed. Auth is replayed too. */
    static void setWatchesOnReconnect() throws Exception {
        Client a = client("A");
        Client m = client("M");
        m.create("/set_watches_on_reconnect", "", OPEN, PERSISTENT);
        for (String n : List.of("d", "c", "same", "gone", "p", "r", "same-child")) {
            m.create("/set_watches_on_reconnect/" + n, n, OPEN, PERSISTENT);
        }
        flush();
        a.addAuth("digest", "sw:pw");
        a.getData("/set_watches_on_reconnect/d", true);
        a.exists("/set_watches_on_reconnect/missing", true);
        a.getChildren("/set_watches_on_reconnect/c", true);
        a.getData("/set_watches_on_reconnect/same", true);
        a.getChildren("/set_watches_on_reconnect/same-child", true);
        a.exists("/set_watches_on_reconnect/gone", true);
        flush();

        cutOff(a);
        m.setData("/set_watches_on_reconnect/d", "d1", -1);
        m.create("/set_watches_on_reconnect/missing", "", OPEN, PERSISTENT);
        m.create("/set_watches_on_reconnect/c/x", "", OPEN, PERSISTENT);
        m.delete("/set_watches_on_reconnect/gone", -1);
        flush();
        reconnect(a);
        m.setData("/set_watches_on_reconnect/same", "s1", -1);
        m.create("/set_watches_on_reconnect/same-child/y", "", OPEN, PERSISTENT);
        flush();
        a.whoAmI();
        flush();

        a.addWatch("/set_watches_on_reconnect/p", AddWatchMode.PERSISTENT);
        a.addWatch("/set_watches_on_reconnect/r", AddWatchMode.PERSISTENT_RECURSIVE);
        a.getData("/set_watches_on_reconnect/d", true);
        a.exists("/set_watches_on_reconnect/later", true);
        flush();
        cutOff(a);
        m.setData("/set_watches_on_reconnect/p", "p1", -1);
        m.create("/set_watches_on_reconnect/r/y", "", OPEN, PERSISTENT);
        m.setData("/set_watches_on_reconnect/d", "d2", -1);
        m.create("/set_watches_on_reconnect/later", "", OPEN, PERSISTENT);
        flush();
        reconnect(a);
        m.setData("/set_watches_on_reconnect/p", "p2", -1);
        m.create("/set_watches_on_reconnect/r/z", "", OPEN, PERSISTENT);
        flush();
    }

    /** Session expiry: E (2 s session) is blackholed by its proxy; the server expires it
     *  (closeSession txn, its ephemerals deleted, W's watch fires); when E's traffic flows again
     *  the server answers its reconnect with timeout 0 / session 0 / zero password and E gets
     *  Expired; E's later requests fail locally with SESSIONEXPIRED. */
    static void sessionExpiry() throws Exception {
        Client w = client("W");
        w.create("/session_expiry", "", OPEN, PERSISTENT);
        flush();
        Client e = client("E", SHORT_SESSION_MS);
        e.create("/session_expiry/e1", "", OPEN, EPHEMERAL);
        e.create("/session_expiry/e2", "", OPEN, EPHEMERAL_SEQUENTIAL);
        e.getData("/session_expiry/e1", true);
        flush();
        w.exists("/session_expiry/e1", true);
        flush();
        e.offline = true;
        e.proxy.blackhole();
        w.waitFor("NodeDeleted /session_expiry/e1", SERVER_CLOCK_DEADLINE_MS);
        e.waitFor("Disconnected", SERVER_CLOCK_DEADLINE_MS);
        flush();
        e.proxy.restore();
        e.waitFor("Expired", SERVER_CLOCK_DEADLINE_MS);
        e.terminal = true;
        e.getData("/session_expiry", false);
        flush();
        w.getChildren2("/session_expiry", false);
        flush();
    }

    /** Absolute zxids at the end: every write of the run, including createSession/closeSession,
     *  failed writes (error txns), and server-initiated deletes, consumed exactly one zxid. */
    static void zxidAccounting() throws Exception {
        Client a = client("A");
        a.getData("/", false);
        a.getChildren2("/", false);
        a.exists("/zookeeper", false);
        flush();
    }

    // ================================================================== scenario helpers

    static Client client(String name) throws Exception {
        return client(name, SESSION_MS);
    }

    /** Creating a session is a write, so everything before it is flushed first. */
    static Client client(String name, int timeoutMs) throws Exception {
        if (!CLIENTS.isEmpty()) {
            flush();
        }
        Client c = new Client(name, timeoutMs);
        CLIENTS.add(c);
        return c;
    }

    /** Cuts the client off (its proxy drops the connection and refuses new ones). */
    static void cutOff(Client c) throws Exception {
        c.offline = true;
        c.proxy.cut();
        c.waitFor("Disconnected", STEP_DEADLINE_MS);
        flush();
    }

    /** Lets the client connect again and waits for its session to be re-established. */
    static void reconnect(Client c) throws Exception {
        c.proxy.up();
        c.waitFor("SyncConnected", SERVER_CLOCK_DEADLINE_MS);
        c.offline = false;
        flush();
    }

    static void rawCreateTtl(Client c, String path, int flags, long ttl) {
        c.raw("createTTL " + path + " flags=" + flags + " ttl=" + ttl, ZooDefs.OpCode.createTTL,
            new CreateTTLRequest(path, bytes("t"), OPEN, flags, ttl), new Create2Response(),
            Conformance::fmtResponse);
    }

    /** Waits for all callbacks, fences every connected client, prints and clears all buffers. */
    static void flush() throws Exception {
        for (Client c : CLIENTS) {
            c.await();
        }
        for (Client c : CLIENTS) {
            if (!c.offline && !c.terminal && !c.closed) {
                c.barrier();
            }
        }
        printBuffers();
    }

    static void printBuffers() {
        for (Client c : CLIENTS) {
            c.print();
        }
    }

    static void closeAll() throws Exception {
        for (int i = CLIENTS.size() - 1; i >= 0; i--) {
            Client c = CLIENTS.get(i);
            if (!c.closed) {
                c.close();
                flush();
            }
        }
        CLIENTS.clear();
    }

    /** After an abort: close everything without printing, without waiting long. */
    static void abandonAll() {
        for (Client c : CLIENTS) {
            c.abandon();
        }
        CLIENTS.clear();
    }

    // ================================================================== formatting

    static byte[] bytes(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    static List<ACL> acl(int perms, String scheme, String id) {
        return List.of(new ACL(perms, new Id(scheme, id)));
    }

    /** The digest ACL id for user:password: user:base64(sha1("user:password")). */
    static String digestId(String user, String password) throws Exception {
        MessageDigest sha1 = MessageDigest.getInstance("SHA1");
        byte[] h = sha1.digest((user + ":" + password).getBytes(StandardCharsets.UTF_8));
        return user + ":" + Base64.getEncoder().encodeToString(h);
    }

    static String opName(int op) {
        String n = OP_NAMES.get(op);
        return (n == null ? "op" : n) + "(" + op + ")";
    }

    static String code(int rc) {
        Code c = Code.get(rc);
        return (c == null ? "UNKNOWN" : c.name()) + "(" + rc + ")";
    }

    static String zx(long z) {
        long b = base;
        if (z == -1) {
            return "-1";
        }
        if (b < 0 || z < b) {
            return "0x" + Long.toHexString(z);
        }
        return "B+" + (z - b);
    }

    static String time(long t) {
        if (t == 0) {
            return "0";
        }
        return Math.abs(System.currentTimeMillis() - t) < 600_000 ? "now" : "odd(" + t + ")";
    }

    static String owner(long o) {
        if (o == 0) {
            return "0";
        }
        if (o == Long.MIN_VALUE) {
            return "container(0x8000000000000000)";
        }
        if ((o & 0xff00000000000000L) == 0xff00000000000000L) {
            return "ttl(0x" + Long.toHexString(o) + ")";
        }
        return session(o);
    }

    static String session(long id) {
        String n = SESSION_NAMES.get(id);
        return n == null ? "session(?)" : "session(" + n + ")";
    }

    static String stat(Stat s) {
        if (s == null) {
            return "null";
        }
        return "{czxid=" + zx(s.getCzxid()) + " mzxid=" + zx(s.getMzxid()) + " pzxid=" + zx(s.getPzxid())
               + " ctime=" + time(s.getCtime()) + " mtime=" + time(s.getMtime())
               + " version=" + s.getVersion() + " cversion=" + s.getCversion() + " aversion=" + s.getAversion()
               + " ephemeralOwner=" + owner(s.getEphemeralOwner())
               + " dataLength=" + s.getDataLength() + " numChildren=" + s.getNumChildren() + "}";
    }

    static String data(byte[] d) {
        if (d == null) {
            return "null";
        }
        if (d.length > 64) {
            CRC32 crc = new CRC32();
            crc.update(d);
            return "<" + d.length + " bytes crc32=" + Long.toHexString(crc.getValue()) + ">";
        }
        boolean printable = true;
        for (byte b : d) {
            printable &= b >= 0x20 && b < 0x7f;
        }
        if (printable) {
            return "\"" + new String(d, StandardCharsets.US_ASCII) + "\"";
        }
        StringBuilder sb = new StringBuilder("0x");
        for (byte b : d) {
            sb.append(String.format("%02x", b & 0xff));
        }
        return sb.toString();
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
                sb.append(ch);
            } else {
                sb.append(String.format("\\u%04x", (int) ch));
            }
        }
        return sb.append('"').toString();
    }

    static String perms(int p) {
        StringBuilder sb = new StringBuilder();
        sb.append((p & ZooDefs.Perms.CREATE) != 0 ? "c" : "");
        sb.append((p & ZooDefs.Perms.DELETE) != 0 ? "d" : "");
        sb.append((p & ZooDefs.Perms.READ) != 0 ? "r" : "");
        sb.append((p & ZooDefs.Perms.WRITE) != 0 ? "w" : "");
        sb.append((p & ZooDefs.Perms.ADMIN) != 0 ? "a" : "");
        if (sb.length() == 0) {
            sb.append("-");
        }
        if ((p & ~ZooDefs.Perms.ALL) != 0) {
            sb.append("+0x").append(Integer.toHexString(p & ~ZooDefs.Perms.ALL));
        }
        return sb.toString();
    }

    static String acls(List<ACL> list) {
        if (list == null) {
            return "null";
        }
        List<String> parts = new ArrayList<>();
        for (ACL a : list) {
            parts.add(a.getId().getScheme() + ":" + a.getId().getId() + "=" + perms(a.getPerms()));
        }
        return parts.toString();
    }

    static List<String> sorted(List<String> in) {
        if (in == null) {
            return null;
        }
        List<String> out = new ArrayList<>(in);
        Collections.sort(out);
        return out;
    }

    static String result(OpResult r) {
        String t = opName(r.getType());
        if (r instanceof OpResult.CreateResult cr) {
            return t + "{path=" + cr.getPath() + (cr.getStat() == null ? "" : " stat=" + stat(cr.getStat())) + "}";
        } else if (r instanceof OpResult.SetDataResult sr) {
            return t + "{stat=" + stat(sr.getStat()) + "}";
        } else if (r instanceof OpResult.ErrorResult er) {
            return t + "{" + code(er.getErr()) + "}";
        } else if (r instanceof OpResult.GetDataResult gr) {
            return t + "{data=" + data(gr.getData()) + " stat=" + stat(gr.getStat()) + "}";
        } else if (r instanceof OpResult.GetChildrenResult gr) {
            return t + "{children=" + sorted(gr.getChildren()) + "}";
        }
        return t;
    }

    static String describeOp(Op op) {
        Record r = op.toRequestRecord();
        String s = opName(op.getType()) + " " + op.getPath();
        if (r instanceof CreateRequest cr) {
            s += " flags=" + cr.getFlags();
        } else if (r instanceof CreateTTLRequest cr) {
            s += " flags=" + cr.getFlags() + " ttl=" + cr.getTtl();
        } else if (r instanceof SetDataRequest sr) {
            s += " data=" + data(sr.getData()) + " version=" + sr.getVersion();
        } else if (r instanceof DeleteRequest dr) {
            s += " version=" + dr.getVersion();
        } else if (r instanceof CheckVersionRequest cr) {
            s += " version=" + cr.getVersion();
        }
        return s;
    }

    /** Formats the body of a raw reply. */
    static String fmtResponse(Record r) {
        if (r instanceof CreateResponse cr) {
            return "path=" + quote(cr.getPath());
        } else if (r instanceof Create2Response cr) {
            return "path=" + quote(cr.getPath()) + " stat=" + stat(cr.getStat());
        } else if (r instanceof SetDataResponse sr) {
            return "stat=" + stat(sr.getStat());
        } else if (r instanceof SetACLResponse sr) {
            return "stat=" + stat(sr.getStat());
        } else if (r instanceof ExistsResponse er) {
            return "stat=" + stat(er.getStat());
        } else if (r instanceof GetDataResponse gr) {
            return "data=" + data(gr.getData()) + " stat=" + stat(gr.getStat());
        } else if (r instanceof GetChildrenResponse gr) {
            return "children=" + sorted(gr.getChildren());
        } else if (r instanceof GetChildren2Response gr) {
            return "children=" + sorted(gr.getChildren()) + " stat=" + stat(gr.getStat());
        } else if (r instanceof GetACLResponse gr) {
            return "acl=" + acls(gr.getAcl()) + " stat=" + stat(gr.getStat());
        } else if (r instanceof GetAllChildrenNumberResponse gr) {
            return "number=" + gr.getTotalNumber();
        } else if (r instanceof SyncResponse sr) {
            return "path=" + quote(sr.getPath());
        } else if (r instanceof ErrorResponse er) {
            return "err=" + er.getErr();
        }
        return String.valueOf(r);
    }

    // ================================================================== client

    /** What a callback delivered, for scenarios that need a value to go on. */
    static final class Res {
        final Client owner;
        volatile List<String> children;

        Res(Client owner) {
            this.owner = owner;
        }

        Res await() throws Exception {
            owner.await();
            return this;
        }
    }

    /** The official client, with access to its connection so raw requests can be queued. */
    static final class Zk extends ZooKeeper {
        Zk(String connect, int timeoutMs, Watcher watcher) throws IOException {
            super(connect, timeoutMs, watcher);
        }

        /** A second handle of an existing session (its id and password). */
        Zk(String connect, int timeoutMs, Watcher watcher, long sessionId, byte[] passwd) throws IOException {
            super(connect, timeoutMs, watcher, sessionId, passwd);
        }

        ClientCnxn connection() {
            return cnxn;
        }
    }

    /** One session: the ZooKeeper handle, its proxy, and the lines its EventThread logged. */
    static final class Client implements Watcher {
        final String name;
        final Wire wire;
        final Proxy proxy;
        final Zk zk;
        private final List<String> lines = new ArrayList<>();
        private int outstanding;
        volatile boolean offline;
        volatile boolean terminal;
        volatile boolean closed;
        volatile boolean closing;
        boolean sortNextFlush;

        Client(String name, int timeoutMs) throws Exception {
            this(name, timeoutMs, new InetSocketAddress(upstreamHost, upstreamPort), 0, null);
        }

        /** A client whose proxy forwards to `server`; with a session id, a second handle of
         *  that session (it keeps the name of the client that created the session). */
        Client(String name, int timeoutMs, InetSocketAddress server, long sessionId, byte[] passwd) throws Exception {
            this.name = name;
            this.wire = new Wire();
            this.proxy = new Proxy(wire, name, server);
            String connect = "127.0.0.1:" + proxy.port();
            this.zk = sessionId == 0 ? new Zk(connect, timeoutMs, this)
                                     : new Zk(connect, timeoutMs, this, sessionId, passwd);
            try {
                waitFor("SyncConnected", STEP_DEADLINE_MS);
            } catch (Exception e) {
                abandon(); // or it would keep trying, and might create a session later
                throw e;
            }
            SESSION_NAMES.putIfAbsent(zk.getSessionId(), name);
        }

        // ---- logging and waiting

        @Override
        public void process(WatchedEvent e) {
            synchronized (lines) {
                if (closing) {
                    return;
                }
                if (e.getType() == Event.EventType.None) {
                    if (terminal) {
                        return;
                    }
                    if (e.getState() == Event.KeeperState.Expired || e.getState() == Event.KeeperState.AuthFailed) {
                        terminal = true;
                    }
                    lines.add("event None " + e.getState());
                } else {
                    String st = e.getState() == Event.KeeperState.SyncConnected ? "" : " state=" + e.getState();
                    lines.add("event " + e.getType() + " " + e.getPath() + st);
                }
                lines.notifyAll();
            }
        }

        void note(String line) {
            synchronized (lines) {
                lines.add(line);
                lines.notifyAll();
            }
        }

        private void begin() {
            synchronized (lines) {
                outstanding++;
            }
        }

        /**
         * Records a result. Results normally arrive on the EventThread in reply order; a result
         * delivered on the scenario thread itself (the client answered without asking the
         * server) first waits for every earlier callback, so the buffer stays in issue order.
         */
        private void done(String desc, int rc, Supplier<String> details) {
            boolean local = Thread.currentThread() == mainThread;
            if (local) {
                synchronized (lines) {
                    outstanding--;
                }
                try {
                    await();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
            String line;
            try {
                String d = details == null ? null : details.get();
                line = desc + " -> " + code(rc) + (d == null ? "" : " " + d) + " " + wire.takeReply(rc);
            } catch (Throwable t) {
                line = desc + " -> formatting failed: " + t;
            }
            synchronized (lines) {
                lines.add(line);
                if (!local) {
                    outstanding--;
                }
                lines.notifyAll();
            }
        }

        /** The Java client refused the call before sending anything. */
        private void rejected(String desc, RuntimeException e) {
            synchronized (lines) {
                outstanding--;
            }
            try {
                await();
            } catch (Exception ex) {
                throw new IllegalStateException(ex);
            }
            note(desc + " -> client rejected: " + e.getClass().getSimpleName());
        }

        /** Waits until every callback issued so far has run. */
        void await() throws Exception {
            long end = System.currentTimeMillis() + STEP_DEADLINE_MS;
            synchronized (lines) {
                while (outstanding > 0) {
                    long left = end - System.currentTimeMillis();
                    if (left <= 0) {
                        throw new IllegalStateException(name + ": " + outstanding + " callbacks still missing");
                    }
                    lines.wait(left);
                }
            }
        }

        void waitFor(String needle, long deadlineMs) throws Exception {
            waitFor(needle, 1, deadlineMs);
        }

        /** Waits until the unprinted buffer holds `count` lines containing `needle`. */
        void waitFor(String needle, int count, long deadlineMs) throws Exception {
            long end = System.currentTimeMillis() + deadlineMs;
            synchronized (lines) {
                while (true) {
                    int seen = 0;
                    for (String l : lines) {
                        if (l.contains(needle)) {
                            seen++;
                        }
                    }
                    if (seen >= count) {
                        return;
                    }
                    long left = end - System.currentTimeMillis();
                    if (left <= 0) {
                        throw new IllegalStateException(name + ": timed out waiting for '" + needle + "'");
                    }
                    lines.wait(left);
                }
            }
        }

        /** A sync whose reply proves every earlier notification for this session has arrived. */
        void barrier() throws Exception {
            final boolean[] finished = new boolean[1];
            zk.sync("/", (rc, path, ctx) -> {
                wire.takeReply(rc);
                synchronized (lines) {
                    finished[0] = true;
                    lines.notifyAll();
                }
            }, null);
            long end = System.currentTimeMillis() + STEP_DEADLINE_MS;
            synchronized (lines) {
                while (!finished[0]) {
                    long left = end - System.currentTimeMillis();
                    if (left <= 0) {
                        throw new IllegalStateException(name + ": barrier sync timed out");
                    }
                    lines.wait(left);
                }
            }
        }

        void print() {
            List<String> copy;
            synchronized (lines) {
                copy = new ArrayList<>(lines);
                lines.clear();
            }
            boolean sortWire = sortNextFlush;
            if (sortNextFlush && !copy.isEmpty()) {
                Collections.sort(copy);
                OUT.println(name + ": (the next " + copy.size() + " lines and the wire lines are sorted)");
            }
            sortNextFlush = false;
            for (String l : copy) {
                OUT.println(name + ": " + l);
            }
            List<String> wireLines = wire.drainLines();
            if (sortWire) {
                Collections.sort(wireLines);
            }
            for (String l : wireLines) {
                OUT.println(name + "~ " + l);
            }
        }

        // ---- operations; each logs one line from the EventThread when its reply arrives

        Res create(String path, String data, List<ACL> acl, CreateMode mode) {
            return create(path, bytes(data), acl, mode);
        }

        Res create(String path, byte[] data, List<ACL> acl, CreateMode mode) {
            String d = "create " + path + " " + mode + aclNote(acl) + " data=" + data(data);
            begin();
            try {
                zk.create(path, data, acl, mode,
                    (AsyncCallback.StringCallback) (rc, p, ctx, nm) -> done(d, rc, () -> rc == 0 ? "name=" + nm : null),
                    null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res create2(String path, String data, List<ACL> acl, CreateMode mode, long ttl) {
            return create2(path, bytes(data), acl, mode, ttl);
        }

        Res create2(String path, byte[] data, List<ACL> acl, CreateMode mode, long ttl) {
            String d = "create2 " + path + " " + mode + (ttl >= 0 ? " ttl=" + ttl : "") + aclNote(acl)
                       + " data=" + data(data);
            begin();
            try {
                zk.create(path, data, acl, mode, (AsyncCallback.Create2Callback) (rc, p, ctx, nm, st) ->
                    done(d, rc, () -> rc == 0 ? "name=" + nm + " stat=" + stat(st) : null), null, ttl);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res delete(String path, int version) {
            String d = "delete " + path + " version=" + version;
            begin();
            try {
                zk.delete(path, version, (rc, p, ctx) -> done(d, rc, null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res exists(String path, boolean watch) {
            String d = "exists " + path + (watch ? " watch" : "");
            begin();
            try {
                zk.exists(path, watch, (rc, p, ctx, st) -> done(d, rc, () -> "stat=" + stat(st)), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res getData(String path, boolean watch) {
            String d = "getData " + path + (watch ? " watch" : "");
            begin();
            try {
                zk.getData(path, watch, (rc, p, ctx, data, st) ->
                    done(d, rc, () -> rc == 0 ? "data=" + data(data) + " stat=" + stat(st) : null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res setData(String path, String data, int version) {
            return setData(path, bytes(data), version);
        }

        Res setData(String path, byte[] data, int version) {
            String d = "setData " + path + " data=" + data(data) + " version=" + version;
            begin();
            try {
                zk.setData(path, data, version, (rc, p, ctx, st) ->
                    done(d, rc, () -> rc == 0 ? "stat=" + stat(st) : null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res getACL(String path) {
            String d = "getACL " + path;
            begin();
            try {
                zk.getACL(path, new Stat(), (rc, p, ctx, acl, st) -> done(d, rc, () -> rc == 0
                    ? "acl=" + acls(acl) + " stat=" + stat(st) : null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res setACL(String path, List<ACL> acl, int aversion) {
            String d = "setACL " + path + " acl=" + acls(acl) + " aversion=" + aversion;
            begin();
            try {
                zk.setACL(path, acl, aversion, (rc, p, ctx, st) ->
                    done(d, rc, () -> rc == 0 ? "stat=" + stat(st) : null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res getChildren(String path, boolean watch) {
            String d = "getChildren " + path + (watch ? " watch" : "");
            Res res = new Res(this);
            begin();
            try {
                zk.getChildren(path, watch, (AsyncCallback.ChildrenCallback) (rc, p, ctx, kids) -> {
                    res.children = kids;
                    done(d, rc, () -> rc == 0 ? "children=" + sorted(kids) : null);
                }, null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return res;
        }

        Res getChildren2(String path, boolean watch) {
            String d = "getChildren2 " + path + (watch ? " watch" : "");
            Res res = new Res(this);
            begin();
            try {
                zk.getChildren(path, watch, (AsyncCallback.Children2Callback) (rc, p, ctx, kids, st) -> {
                    res.children = kids;
                    done(d, rc, () -> rc == 0 ? "children=" + sorted(kids) + " stat=" + stat(st) : null);
                }, null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return res;
        }

        Res getAllChildrenNumber(String path) {
            String d = "getAllChildrenNumber " + path;
            begin();
            try {
                zk.getAllChildrenNumber(path, (rc, p, ctx, n) -> done(d, rc, () -> rc == 0 ? "number=" + n : null),
                    null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        /** prefix null uses the no-prefix API overload. */
        Res getEphemerals(String prefix) {
            String d = "getEphemerals" + (prefix == null ? "" : " prefix=" + quote(prefix));
            begin();
            try {
                AsyncCallback.EphemeralsCallback cb = (rc, ctx, paths) ->
                    done(d, rc, () -> rc == 0 ? "paths=" + sorted(paths) : null);
                if (prefix == null) {
                    zk.getEphemerals(cb, null);
                } else {
                    zk.getEphemerals(prefix, cb, null);
                }
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res multi(String label, List<Op> ops) {
            List<String> desc = new ArrayList<>();
            for (Op op : ops) {
                desc.add(describeOp(op));
            }
            String d = "multi " + label + " " + desc;
            begin();
            try {
                zk.multi(ops, (rc, p, ctx, results) -> done(d, rc, () -> {
                    if (results == null) {
                        return "results=null";
                    }
                    List<String> rs = new ArrayList<>();
                    for (OpResult r : results) {
                        rs.add(result(r));
                    }
                    return "results=" + rs;
                }), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res sync(String path) {
            String d = "sync " + path;
            begin();
            try {
                zk.sync(path, (rc, p, ctx) -> done(d, rc, () -> "path=" + p), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        Res addWatch(String path, AddWatchMode mode) {
            String d = "addWatch " + path + " " + mode;
            begin();
            try {
                zk.addWatch(path, mode, (rc, p, ctx) -> done(d, rc, null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        /** zk.removeWatches: checkWatches (op 17) on the server, then local removal. */
        Res removeWatches(String path, WatcherType type, boolean local) {
            String d = "removeWatches " + path + " " + type + (local ? " local" : "");
            begin();
            try {
                zk.removeWatches(path, this, type, local, (rc, p, ctx) -> done(d, rc, null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        /** zk.removeAllWatches: removeWatches (op 18) on the server, then local removal. */
        Res removeAllWatches(String path, WatcherType type, boolean local) {
            String d = "removeAllWatches " + path + " " + type + (local ? " local" : "");
            begin();
            try {
                zk.removeAllWatches(path, type, local, (rc, p, ctx) -> done(d, rc, null), null);
            } catch (RuntimeException e) {
                rejected(d, e);
            }
            return new Res(this);
        }

        /** Queues an auth packet (xid -4, no callback); its reply shows in the wire lines. */
        void addAuth(String scheme, String auth) throws Exception {
            await();
            note("addAuthInfo " + scheme + " " + auth.replaceAll(":.*", ":***"));
            zk.addAuthInfo(scheme, bytes(auth));
        }

        /** zk.whoAmI() is synchronous only; nothing else is in flight when it is called. */
        void whoAmI() throws Exception {
            await();
            List<ClientInfo> infos = zk.whoAmI();
            List<String> s = new ArrayList<>();
            if (infos != null) {
                for (ClientInfo ci : infos) {
                    s.add(ci.getAuthScheme() + ":" + ci.getUser());
                }
            }
            note("whoAmI -> " + (infos == null ? "null" : s.toString()) + " " + wire.takeReply(0));
        }

        /**
         * Sends a request record as is, bypassing the client's validation. The reply is handled
         * on the EventThread like any other (the callback type only has to match what
         * ClientCnxn dispatches on for this response type).
         */
        Res raw(String desc, int op, Record request, Record response, Function<Record, String> fmt) {
            String d = "raw " + desc;
            RequestHeader h = new RequestHeader();
            h.setType(op);
            ReplyHeader r = new ReplyHeader();
            Runnable finish = () -> done(d, r.getErr(), () -> r.getErr() == 0 && fmt != null ? fmt.apply(response) : null);
            begin();
            zk.connection().queuePacket(h, r, request, response, callbackFor(response, finish), null, null, null, null);
            return new Res(this);
        }

        void close() throws Exception {
            await();
            if (!offline && !terminal) {
                barrier();
            }
            print();
            synchronized (lines) {
                closing = true;
            }
            boolean sendsCloseSession = !terminal;
            zk.close();
            closed = true;
            if (sendsCloseSession) {
                OUT.println(name + ": close -> " + wire.takeReply(0));
            } else {
                OUT.println(name + ": close (session already dead, nothing sent)");
            }
            for (String l : wire.drainLines()) {
                OUT.println(name + "~ " + l);
            }
            proxy.shutdown();
        }

        void abandon() {
            closing = true;
            closed = true;
            Thread t = new Thread(() -> {
                try {
                    zk.close(2000);
                } catch (Exception ignored) {
                    // best effort after an aborted scenario
                }
            });
            t.setDaemon(true);
            t.start();
            try {
                t.join(3000);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            proxy.shutdown();
        }

        /** The last zxid the server has processed, as seen in a read's reply header. */
        long lastZxid() throws Exception {
            RequestHeader h = new RequestHeader();
            h.setType(ZooDefs.OpCode.exists);
            ReplyHeader r = zk.connection().submitRequest(h, new ExistsRequest("/", false), new ExistsResponse(), null);
            wire.takeReply(r.getErr());
            synchronized (lines) {
                lines.clear();
            }
            wire.drainLines();
            if (r.getErr() != 0) {
                throw new IllegalStateException("ctl exists / failed: " + code(r.getErr()));
            }
            return r.getZxid();
        }

        private static String aclNote(List<ACL> acl) {
            return acl == OPEN ? "" : " acl=" + acls(acl);
        }
    }

    /** A callback of the interface ClientCnxn's EventThread casts to for this response type. */
    static AsyncCallback callbackFor(Record response, Runnable finish) {
        if (response instanceof ExistsResponse || response instanceof SetDataResponse
            || response instanceof SetACLResponse) {
            return (AsyncCallback.StatCallback) (rc, p, ctx, st) -> finish.run();
        } else if (response instanceof GetDataResponse) {
            return (AsyncCallback.DataCallback) (rc, p, ctx, d, st) -> finish.run();
        } else if (response instanceof GetACLResponse) {
            return (AsyncCallback.ACLCallback) (rc, p, ctx, a, st) -> finish.run();
        } else if (response instanceof GetChildrenResponse) {
            return (AsyncCallback.ChildrenCallback) (rc, p, ctx, k) -> finish.run();
        } else if (response instanceof GetAllChildrenNumberResponse) {
            return (AsyncCallback.AllChildrenNumberCallback) (rc, p, ctx, n) -> finish.run();
        } else if (response instanceof GetChildren2Response) {
            return (AsyncCallback.Children2Callback) (rc, p, ctx, k, st) -> finish.run();
        } else if (response instanceof CreateResponse) {
            return (AsyncCallback.StringCallback) (rc, p, ctx, n) -> finish.run();
        } else if (response instanceof Create2Response) {
            return (AsyncCallback.Create2Callback) (rc, p, ctx, n, st) -> finish.run();
        }
        return (AsyncCallback.VoidCallback) (rc, p, ctx) -> finish.run();
    }

    // ================================================================== wire capture

    /** What the proxy saw on one client's connections, decoded. */
    static final class Wire {
        private final ArrayDeque<long[]> replies = new ArrayDeque<>();
        private final Map<Integer, Integer> opByXid = new HashMap<>();
        /** xids of requests no callback will ever consume (setWatches on reconnect). */
        private final Set<Integer> wireOnly = new HashSet<>();
        /** Decoded frames, one list per direction: the two directions are pumped by two
         *  threads, so only the order within a direction is deterministic. */
        private final List<Supplier<String>> sent = new ArrayList<>();
        private final List<Supplier<String>> received = new ArrayList<>();

        /** Pops the oldest unconsumed reply (xid > 0) and describes it. */
        synchronized String takeReply(int rc) {
            long[] r = replies.poll();
            if (r == null) {
                return "{no reply on the wire}";
            }
            int xid = (int) r[0];
            Integer op = opByXid.remove(xid);
            String s = "{" + (op == null ? "op=?" : "op=" + opName(op)) + " zxid=" + zx(r[1]);
            if ((int) r[2] != rc) {
                s += " wireErr=" + code((int) r[2]);
            }
            return s + "}";
        }

        /** Everything decoded since the last call: first what the client sent, then what it
         *  received. */
        synchronized List<String> drainLines() {
            List<String> out = new ArrayList<>();
            for (Supplier<String> s : sent) {
                out.add(s.get());
            }
            for (Supplier<String> s : received) {
                out.add(s.get());
            }
            sent.clear();
            received.clear();
            return out;
        }

        private synchronized void sentLine(Supplier<String> s) {
            sent.add(s);
        }

        private synchronized void receivedLine(Supplier<String> s) {
            received.add(s);
        }

        /** A frame from the client towards the server. */
        void clientFrame(boolean first, ByteBuffer bb) {
            try {
                if (first) {
                    int len = bb.remaining();
                    int proto = bb.getInt();
                    long lastZxid = bb.getLong();
                    int timeout = bb.getInt();
                    long session = bb.getLong();
                    int plen = bb.getInt();
                    bb.position(bb.position() + Math.max(plen, 0));
                    String ro = bb.hasRemaining() ? String.valueOf(bb.get() != 0) : "absent";
                    sentLine(() -> ">connect protocolVersion=" + proto + " lastZxidSeen=" + zx(lastZxid)
                               + " timeOut=" + timeout + " session=" + (session == 0 ? "new" : session(session))
                               + " passwd=" + plen + "B readOnly=" + ro + " len=" + len);
                    return;
                }
                int xid = bb.getInt();
                int type = bb.getInt();
                if (DEBUG) {
                    System.err.println("c2s xid=" + xid + " type=" + type + " len=" + (bb.remaining() + 8));
                }
                if (xid == -2) {
                    return;
                }
                boolean reconnectOp = type == ZooDefs.OpCode.setWatches || type == ZooDefs.OpCode.setWatches2;
                if (xid > 0 && !reconnectOp) {
                    synchronized (this) {
                        opByXid.put(xid, type);
                    }
                    return;
                }
                if (xid > 0) {
                    synchronized (this) {
                        wireOnly.add(xid);
                    }
                }
                String body = "";
                if (type == ZooDefs.OpCode.setWatches) {
                    SetWatches sw = new SetWatches();
                    sw.deserialize(archive(bb), "req");
                    body = " relativeZxid=" + zx(sw.getRelativeZxid()) + " data=" + sorted(sw.getDataWatches())
                           + " exist=" + sorted(sw.getExistWatches()) + " child=" + sorted(sw.getChildWatches());
                } else if (type == ZooDefs.OpCode.setWatches2) {
                    SetWatches2 sw = new SetWatches2();
                    sw.deserialize(archive(bb), "req");
                    body = " relativeZxid=" + zx(sw.getRelativeZxid()) + " data=" + sorted(sw.getDataWatches())
                           + " exist=" + sorted(sw.getExistWatches()) + " child=" + sorted(sw.getChildWatches())
                           + " persistent=" + sorted(sw.getPersistentWatches())
                           + " persistentRecursive=" + sorted(sw.getPersistentRecursiveWatches());
                } else if (type == ZooDefs.OpCode.auth) {
                    bb.getInt();
                    int slen = bb.getInt();
                    byte[] scheme = new byte[slen];
                    bb.get(scheme);
                    body = " scheme=" + new String(scheme, StandardCharsets.UTF_8);
                }
                String b = body;
                sentLine(() -> ">request xid=" + xid + " " + opName(type) + b);
            } catch (Exception e) {
                sentLine(() -> ">undecodable frame: " + e);
            }
        }

        /** A frame from the server towards the client. */
        void serverFrame(boolean first, ByteBuffer bb) {
            try {
                if (first) {
                    int len = bb.remaining();
                    int proto = bb.getInt();
                    int timeout = bb.getInt();
                    long session = bb.getLong();
                    int plen = bb.getInt();
                    boolean zeros = true;
                    for (int i = 0; i < Math.max(plen, 0); i++) {
                        zeros &= bb.get() == 0;
                    }
                    String ro = bb.hasRemaining() ? String.valueOf(bb.get() != 0) : "absent";
                    boolean z = zeros;
                    receivedLine(() -> "<connect protocolVersion=" + proto + " timeOut=" + timeout + " session="
                               + (session == 0 ? "0" : session(session)) + " passwd=" + plen + "B"
                               + (z && plen > 0 ? "(all zero)" : "") + " readOnly=" + ro + " len=" + len);
                    return;
                }
                int xid = bb.getInt();
                long zxid = bb.getLong();
                int err = bb.getInt();
                if (DEBUG) {
                    System.err.println("s2c xid=" + xid + " zxid=" + zxid + " err=" + err);
                }
                if (xid == -2) {
                    return;
                }
                if (xid > 0) {
                    boolean replyToReconnectOp;
                    synchronized (this) {
                        replyToReconnectOp = wireOnly.remove(xid);
                        if (!replyToReconnectOp) {
                            replies.add(new long[] {xid, zxid, err});
                        }
                    }
                    if (!replyToReconnectOp) {
                        return;
                    }
                }
                if (xid == -1) {
                    WatcherEvent ev = new WatcherEvent();
                    ev.deserialize(archive(bb), "event");
                    receivedLine(() -> "<notification zxid=" + zx(zxid) + " err=" + err + " type="
                               + Watcher.Event.EventType.fromInt(ev.getType()) + " state="
                               + Watcher.Event.KeeperState.fromInt(ev.getState()) + " path=" + ev.getPath());
                    return;
                }
                receivedLine(() -> "<reply xid=" + xid + " zxid=" + zx(zxid) + " err=" + code(err));
            } catch (Exception e) {
                receivedLine(() -> "<undecodable frame: " + e);
            }
        }

        private static BinaryInputArchive archive(ByteBuffer bb) {
            return BinaryInputArchive.getArchive(
                new ByteArrayInputStream(bb.array(), bb.arrayOffset() + bb.position(), bb.remaining()));
        }
    }

    /** Splits a byte stream into length-prefixed frames. */
    static final class FrameSplitter {
        interface Sink {
            void frame(boolean first, ByteBuffer frame);
        }

        private static final int MAX_FRAME = 16 << 20;
        private final Sink sink;
        private byte[] buf = new byte[4096];
        private int len;
        private boolean first = true;
        private boolean broken;

        FrameSplitter(Sink sink) {
            this.sink = sink;
        }

        void feed(byte[] b, int n) {
            if (broken) {
                return;
            }
            if (len + n > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
            }
            System.arraycopy(b, 0, buf, len, n);
            len += n;
            int off = 0;
            while (len - off >= 4) {
                int flen = ByteBuffer.wrap(buf, off, 4).getInt();
                if (flen < 0 || flen > MAX_FRAME) {
                    broken = true;
                    return;
                }
                if (len - off - 4 < flen) {
                    break;
                }
                byte[] frame = Arrays.copyOfRange(buf, off + 4, off + 4 + flen);
                sink.frame(first, ByteBuffer.wrap(frame));
                first = false;
                off += 4 + flen;
            }
            System.arraycopy(buf, off, buf, 0, len - off);
            len -= off;
        }
    }

    // ================================================================== proxy

    /**
     * A loopback TCP proxy in front of the server for one client. UP forwards (and decodes frames
     * into the Wire before forwarding them, so a record exists before the client sees the bytes);
     * DOWN drops all connections and refuses new ones; BLACKHOLE keeps connections open but
     * silently discards everything in both directions.
     */
    static final class Proxy {
        enum Mode { UP, DOWN, BLACKHOLE }

        private final Wire wire;
        private final String name;
        private volatile InetSocketAddress server;
        private final ServerSocket listener;
        private final List<Link> links = new ArrayList<>();
        private Mode mode = Mode.UP;

        private static final class Link {
            final Socket client;
            volatile Socket server;
            volatile boolean blackholed;

            Link(Socket client) {
                this.client = client;
            }

            void close() {
                closeQuietly(client);
                if (server != null) {
                    closeQuietly(server);
                }
            }
        }

        Proxy(Wire wire, String name, InetSocketAddress server) throws IOException {
            this.wire = wire;
            this.name = name;
            this.server = server;
            listener = new ServerSocket();
            listener.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
            daemon("proxy-accept-" + name, this::acceptLoop);
        }

        int port() {
            return listener.getLocalPort();
        }

        synchronized void cut() {
            mode = Mode.DOWN;
            closeLinks();
        }

        synchronized void up() {
            mode = Mode.UP;
        }

        /** From now on, new connections go to `to` (another member of an ensemble). */
        synchronized void retarget(InetSocketAddress to) {
            server = to;
        }

        synchronized void blackhole() {
            mode = Mode.BLACKHOLE;
            for (Link l : links) {
                l.blackholed = true;
            }
        }

        /** Ends the blackhole: drops the dead connections and forwards again. */
        synchronized void restore() {
            mode = Mode.UP;
            closeLinks();
        }

        synchronized void shutdown() {
            mode = Mode.DOWN;
            closeQuietly(listener);
            closeLinks();
        }

        private void closeLinks() {
            for (Link l : links) {
                l.close();
            }
            links.clear();
        }

        private void acceptLoop() {
            while (!listener.isClosed()) {
                Socket c;
                try {
                    c = listener.accept();
                } catch (IOException e) {
                    return;
                }
                try {
                    admit(c);
                } catch (IOException e) {
                    closeQuietly(c);
                }
            }
        }

        private synchronized void admit(Socket c) throws IOException {
            if (mode == Mode.DOWN) {
                c.close();
                return;
            }
            c.setTcpNoDelay(true);
            Link link = new Link(c);
            links.add(link);
            if (mode == Mode.BLACKHOLE) {
                link.blackholed = true;
                daemon("proxy-drain-" + name, () -> pump(link, c, null, null));
                return;
            }
            Socket s = new Socket();
            s.setTcpNoDelay(true);
            s.connect(server, 5000);
            link.server = s;
            daemon("proxy-c2s-" + name, () -> pump(link, c, s, new FrameSplitter(wire::clientFrame)));
            daemon("proxy-s2c-" + name, () -> pump(link, s, c, new FrameSplitter(wire::serverFrame)));
        }

        private void pump(Link link, Socket from, Socket to, FrameSplitter splitter) {
            byte[] buf = new byte[64 * 1024];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to == null ? null : to.getOutputStream();
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (link.blackholed || out == null) {
                        continue;
                    }
                    splitter.feed(buf, n);
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // the link is going away
            }
            if (!link.blackholed) {
                link.close();
                synchronized (this) {
                    links.remove(link);
                }
            }
        }
    }

    static void daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
    }

    static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // nothing useful to do
        }
    }
}
