/*
 * Proxy: a TCP relay on 127.0.0.1 in front of one member, so a scenario can cut a client off
 * without touching the server: freeze() makes every open connection and every new one a black
 * hole (bytes from either side are read and dropped, nothing is closed by the proxy), thaw()
 * forwards new connections again. While frozen the proxy notes whether the member closed its side
 * of a connection it had relayed — what ZooKeeper does when the session of that connection is
 * expired or closed by the leader. Only relays to the one target it was given; threads are
 * daemons and close() ends them.
 */
package zab.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

final class Proxy implements AutoCloseable {
    private final String host;
    private final int port;
    private final ServerSocket server;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final List<Relay> relays = new CopyOnWriteArrayList<>();
    private final AtomicInteger closedByMemberWhileFrozen = new AtomicInteger();
    private volatile boolean frozen;

    /** One relayed connection; dead once frozen (its bytes are dropped from then on). */
    private static final class Relay {
        volatile boolean dead;
    }

    Proxy(String target) throws IOException {
        int colon = target.lastIndexOf(':');
        host = target.substring(0, colon);
        port = Integer.parseInt(target.substring(colon + 1));
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::acceptLoop, "proxy-accept");
        t.setDaemon(true);
        t.start();
    }

    String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    void freeze() {
        frozen = true;
        relays.forEach(r -> r.dead = true);
    }

    void thaw() {
        frozen = false;
    }

    /** How many relayed connections the member closed after freeze(). */
    int closedByMemberWhileFrozen() {
        return closedByMemberWhileFrozen.get();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                sockets.add(client);
                Relay r = new Relay();
                if (frozen) {
                    r.dead = true;
                    pump(client.getInputStream(), null, r, false, client);
                    continue;
                }
                Socket member = new Socket();
                sockets.add(member);
                member.connect(new InetSocketAddress(host, port), 5_000);
                relays.add(r);
                pump(client.getInputStream(), member.getOutputStream(), r, false, client);
                pump(member.getInputStream(), client.getOutputStream(), r, true, member);
            } catch (IOException e) {
                // accept failed (closed) or the member refused: the client sees its connection fail
            }
        }
    }

    /** Copies IN to OUT until EOF; drops the bytes once R is dead. FROM_MEMBER: IN is the member's side. */
    private void pump(InputStream in, OutputStream out, Relay r, boolean fromMember, Socket source) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try {
                for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
                    if (!r.dead && out != null) {
                        out.write(buf, 0, n);
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // a reset counts as a close
            }
            if (fromMember && r.dead) {
                closedByMemberWhileFrozen.incrementAndGet();
            }
            if (!r.dead) {
                // a live relay ends on either side's close, as a direct connection would
                closeQuietly(source);
                if (out != null) {
                    try {
                        out.close();
                    } catch (IOException e) {
                        // already closed
                    }
                }
            }
        }, "proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(java.io.Closeable s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }

    @Override
    public void close() {
        closeQuietly(server);
        sockets.forEach(Proxy::closeQuietly);
    }
}
