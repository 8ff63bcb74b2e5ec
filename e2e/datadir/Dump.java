/*
 * Prints a server's whole data tree, for the zab-node durability tests (e2e/datadir).
 *
 * Usage: java Dump <host:port>
 *
 * Output, in this order:
 *   srvr-before-connect Zxid: 0x...      the server's last zxid as restored from disk (four-letter
 *                                       word srvr, sent before this program opens a session)
 *   one block per znode, sorted by path:
 *     <path>
 *       data <null | "" | "printable ASCII" | hex:<bytes> | len=<n> sha256=<hex>>
 *       stat czxid=0x.. mzxid=0x.. pzxid=0x.. ctime=<ms> mtime=<ms> version=.. cversion=..
 *            aversion=.. ephemeralOwner=0x.. dataLength=.. numChildren=..   (one line)
 *       acl <perms>:<scheme>:<id>, ...   (in the server's order; perms as cdrwa letters)
 *   getAllChildrenNumber / = <n>
 *   srvr-after-dump Zxid: 0x...          the same after the walk (this session's createSession
 *                                       is a txn, so it is one more than before)
 *
 * Nothing is masked: two servers that open copies of the same data directory must print the same
 * text, times included (ctime and mtime come from the txn headers). The session authenticates as
 * the super user (digest super:test), so every ACL lets it read. It only reads.
 */

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

public final class Dump {

    static final long CONNECT_DEADLINE_MS = 30_000;

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java Dump <host:port>");
            System.exit(2);
        }
        String hostPort = args[0];
        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        out.println("srvr-before-connect " + srvrZxid(hostPort));

        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hostPort, 30_000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(CONNECT_DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            System.err.println("Dump: no connection to " + hostPort);
            System.exit(1);
        }
        zk.addAuthInfo("digest", "super:test".getBytes(StandardCharsets.UTF_8));

        List<String> paths = new ArrayList<>();
        Deque<String> todo = new ArrayDeque<>();
        todo.add("/");
        while (!todo.isEmpty()) {
            String path = todo.poll();
            paths.add(path);
            for (String child : zk.getChildren(path, false)) {
                todo.add(path.equals("/") ? "/" + child : path + "/" + child);
            }
        }
        Collections.sort(paths);
        for (String path : paths) {
            Stat stat = new Stat();
            byte[] data = zk.getData(path, false, stat);
            Stat aclStat = new Stat();
            List<ACL> acl = zk.getACL(path, aclStat);
            out.println(path);
            out.println("  data " + data(data));
            out.println("  stat " + stat(stat));
            if (!aclStat.equals(stat)) {
                out.println("  stat-of-getACL " + stat(aclStat) + "   (changed between reads!)");
            }
            out.println("  acl " + acl(acl));
        }
        out.println("getAllChildrenNumber / = " + zk.getAllChildrenNumber("/"));
        out.println("srvr-after-dump " + srvrZxid(hostPort));
        out.flush();
        zk.close();
    }

    static String stat(Stat s) {
        return String.format("czxid=0x%x mzxid=0x%x pzxid=0x%x ctime=%d mtime=%d version=%d cversion=%d "
                + "aversion=%d ephemeralOwner=0x%x dataLength=%d numChildren=%d",
            s.getCzxid(), s.getMzxid(), s.getPzxid(), s.getCtime(), s.getMtime(), s.getVersion(),
            s.getCversion(), s.getAversion(), s.getEphemeralOwner(), s.getDataLength(), s.getNumChildren());
    }

    static String acl(List<ACL> acl) {
        StringBuilder sb = new StringBuilder();
        for (ACL a : acl) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            int p = a.getPerms();
            String letters = ((p & 4) != 0 ? "c" : "") + ((p & 8) != 0 ? "d" : "") + ((p & 1) != 0 ? "r" : "")
                + ((p & 2) != 0 ? "w" : "") + ((p & 16) != 0 ? "a" : "");
            if ((p & ~31) != 0 || letters.isEmpty()) {
                letters += "(" + p + ")";
            }
            sb.append(letters).append(':').append(a.getId().getScheme()).append(':').append(a.getId().getId());
        }
        return "[" + sb + "]";
    }

    static String data(byte[] d) throws Exception {
        if (d == null) {
            return "null";
        }
        boolean printable = d.length <= 256;
        for (int i = 0; printable && i < d.length; i++) {
            printable = d[i] >= 0x20 && d[i] < 0x7f;
        }
        if (printable) {
            String s = new String(d, StandardCharsets.US_ASCII);
            return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        }
        if (d.length <= 4096) {
            return "hex:" + hex(d);
        }
        return "len=" + d.length + " sha256=" + hex(MessageDigest.getInstance("SHA-256").digest(d));
    }

    static String hex(byte[] d) {
        StringBuilder sb = new StringBuilder(d.length * 2);
        for (byte b : d) {
            sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return sb.toString();
    }

    /** The "Zxid: 0x..." line of the four-letter word srvr, or a note saying it was missing. */
    static String srvrZxid(String hostPort) throws IOException {
        int colon = hostPort.lastIndexOf(':');
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(hostPort.substring(0, colon),
                Integer.parseInt(hostPort.substring(colon + 1))), 5_000);
            s.setSoTimeout(10_000);
            OutputStream o = s.getOutputStream();
            o.write("srvr".getBytes(StandardCharsets.US_ASCII));
            o.flush();
            InputStream in = s.getInputStream();
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            byte[] chunk = new byte[4096];
            for (int n; (n = in.read(chunk)) > 0; ) {
                buf.write(chunk, 0, n);
            }
            for (String line : buf.toString(StandardCharsets.UTF_8).split("\n")) {
                if (line.startsWith("Zxid:")) {
                    return line.trim();
                }
            }
            return "Zxid: <no Zxid line in srvr answer: " + buf.toString(StandardCharsets.UTF_8).trim() + ">";
        }
    }
}
