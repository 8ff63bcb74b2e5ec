/*
 * What a Curator client sees of the server itself: ACLs and digest authentication across members
 * (CREATOR_ALL_ACL, world and ip ids, NOAUTH for the others, setACL's aversion), and the ensemble
 * configuration (getConfig, /zookeeper's children, the connection string Curator's EnsembleTracker
 * derives from /zookeeper/config), with ports replaced by the member they belong to.
 */
package zab.e2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

final class ServerScenarios {
    private ServerScenarios() {}

    private static String acls(List<ACL> l) {
        return l.stream().map(a -> a.getId().getScheme() + ":" + a.getId().getId() + "=" + a.getPerms())
                .collect(Collectors.joining(" "));
    }

    private static String tryRead(CuratorFramework c, String path) {
        try {
            return "'" + new String(c.getData().forPath(path), StandardCharsets.UTF_8) + "'";
        } catch (Exception e) {
            return Env.describe(e);
        }
    }

    private static String tryWrite(CuratorFramework c, String path, String data) {
        try {
            Stat s = c.setData().forPath(path, data.getBytes(StandardCharsets.UTF_8));
            return "ok, version " + s.getVersion();
        } catch (Exception e) {
            return Env.describe(e);
        }
    }

    private static CuratorFramework authed(Env env, int member, String user) throws InterruptedException {
        return env.client(member, b -> b.authorization("digest", user.getBytes(StandardCharsets.UTF_8)));
    }

    static void aclAuth(Env env) throws Exception {
        String path = env.path("private");
        CuratorFramework alice = authed(env, 0, "alice:secret");
        CuratorFramework anon = env.client(1);
        CuratorFramework bob = authed(env, 2, "bob:other");
        CuratorFramework alice3 = authed(env, 2, "alice:secret");
        alice.create().creatingParentsIfNeeded().withACL(ZooDefs.Ids.CREATOR_ALL_ACL).forPath(path, "secret".getBytes(StandardCharsets.UTF_8));
        Env.until("member 2 has the znode", () -> Env.exists(anon, path));
        Stat s = new Stat();
        try {
            anon.getACL().forPath(path);
            Env.line("anonymous getACL: ok");
        } catch (Exception e) {
            Env.line("anonymous getACL (needs READ or ADMIN): " + Env.describe(e));
        }
        Env.line("acl seen by alice on member 3: " + acls(alice3.getACL().storingStatIn(s).forPath(path)) + " aversion " + s.getAversion());
        Env.line("anonymous read: " + tryRead(anon, path));
        Env.line("bob's write: " + tryWrite(bob, path, "bob"));
        Env.line("alice's read through member 3: " + tryRead(alice3, path));
        List<ACL> open = new ArrayList<>(alice.getACL().forPath(path));
        open.add(new ACL(ZooDefs.Perms.READ, ZooDefs.Ids.ANYONE_ID_UNSAFE));
        alice.setACL().withACL(open).forPath(path);
        Env.until("member 2 has the new ACL", () -> tryRead(anon, path).startsWith("'"));
        anon.getACL().storingStatIn(s).forPath(path);
        Env.line("after setACL: " + acls(anon.getACL().forPath(path)) + " aversion " + s.getAversion());
        Env.line("anonymous read: " + tryRead(anon, path));
        Env.line("anonymous write: " + tryWrite(anon, path, "anon"));
        try {
            anon.create().forPath(path + "/child");
            Env.line("!! anonymous create of a child succeeded");
        } catch (Exception e) {
            Env.line("anonymous create of a child: " + Env.describe(e));
        }
        Env.line("alice's write: " + tryWrite(alice, path, "new"));
        String ipPath = env.path("by-ip");
        alice.create().withACL(List.of(new ACL(ZooDefs.Perms.READ | ZooDefs.Perms.WRITE, new Id("ip", "127.0.0.1")),
                new ACL(ZooDefs.Perms.ALL, new Id("ip", "10.0.0.0/8")))).forPath(ipPath, "ip".getBytes(StandardCharsets.UTF_8));
        Env.until("member 2 has the ip znode", () -> Env.exists(anon, ipPath));
        Env.line("ip acl: " + acls(anon.getACL().forPath(ipPath)));
        Env.line("anonymous read from 127.0.0.1: " + tryRead(anon, ipPath));
        Env.line("anonymous write from 127.0.0.1: " + tryWrite(anon, ipPath, "w"));
        try {
            anon.delete().forPath(ipPath);
            Env.line("anonymous delete (a parent's ACL decides): ok");
        } catch (Exception e) {
            Env.line("anonymous delete (a parent's ACL decides): " + Env.describe(e));
        }
        try {
            alice.create().withACL(List.of()).forPath(env.path("empty-acl"));
            Env.line("create with an empty ACL: ok");
        } catch (Exception e) {
            Env.line("create with an empty ACL: " + Env.describe(e));
        }
    }

    /** TEXT with each member's client port replaced by "client<i>" and every other port by "port". */
    private static String normalize(Env env, String text) {
        for (int i = 0; i < 3; i++) {
            String m = env.member(i);
            text = text.replace(m, "member" + (i + 1));
            String port = m.substring(m.lastIndexOf(':') + 1);
            text = text.replaceAll(":" + port + "(?![0-9])", ":client" + (i + 1));
        }
        return text.replaceAll(":[0-9]{2,5}(?![0-9])", ":port");
    }

    static void ensembleConfig(Env env) throws Exception {
        CuratorFramework c = env.client(0);
        List<String> kids = new ArrayList<>(c.getChildren().forPath("/zookeeper"));
        kids.sort(null);
        Env.line("/zookeeper's children: " + kids);
        Stat s = new Stat();
        String cfg = new String(c.getConfig().storingStatIn(s).forEnsemble(), StandardCharsets.UTF_8);
        Env.line("getConfig:");
        for (String l : cfg.split("\n")) {
            Env.line("  " + normalize(env, l));
        }
        Env.line("config znode: version " + s.getVersion() + ", ephemeral " + (s.getEphemeralOwner() != 0));
        Env.line("acl of /zookeeper/config: " + acls(c.getACL().forPath("/zookeeper/config")));
        try {
            c.setData().forPath("/zookeeper/config", new byte[0]);
            Env.line("!! setData of /zookeeper/config succeeded");
        } catch (Exception e) {
            Env.line("setData of /zookeeper/config: " + Env.describe(e));
        }
        String now = c.getZookeeperClient().getCurrentConnectionString();
        List<String> hosts = new ArrayList<>(List.of(normalize(env, now).split(",")));
        hosts.sort(null);
        Env.line("Curator's connection string after its EnsembleTracker read the config: " + hosts);
        Env.line("Curator's current config: " + c.getCurrentConfig().getAllMembers().keySet());
    }
}
