/*
 * Loads snapshot files exactly as ZooKeeper 3.8's FileSnap.deserialize(DataTree, Map) does when
 * a server starts, for the zab-node durability tests (e2e/datadir).
 *
 * Usage: java SnapCheck <snapshot file>...
 *
 * SnapshotFormatter (the official dump tool) parses a snapshot but never checks its Adler32 seals,
 * and a starting server that finds a bad newest snapshot silently falls back to an older one. So
 * this program runs, per file, the same steps a starting server runs: SnapStream.isValidSnapshot
 * (the cheap tail check used to pick candidates), the header and DataTree/sessions via
 * FileSnap.deserialize, the first seal, the optional ZxidDigest section and its seal. It prints one
 * line per file:
 *
 *   OK <name> nodes=<n> sessions=<n> digest=<zxid hex>/<version>/<value>|none tree-digest=<value>
 *      trailing=<bytes after the last seal>
 *   BAD <name> <what failed>
 *
 * and exits 1 if any file is BAD. "trailing" is informational: 3.8 stops reading after the digest
 * seal (3.9 appends a lastProcessedZxid section there). The snapshot's ZxidDigest is the tree
 * digest at the zxid it names, which a fuzzy snapshot's tree may already have moved past, so
 * tree-digest is printed, not compared; a starting ZooKeeper compares it while replaying the log
 * (mntr zk_digest_mismatches_count).
 */

import java.io.File;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.CheckedInputStream;

import org.apache.jute.BinaryInputArchive;
import org.apache.jute.InputArchive;
import org.apache.zookeeper.server.DataTree;
import org.apache.zookeeper.server.persistence.FileSnap;
import org.apache.zookeeper.server.persistence.SnapStream;
import org.apache.zookeeper.server.persistence.Util;

public final class SnapCheck {

    public static void main(String[] args) {
        if (args.length == 0) {
            System.err.println("usage: java SnapCheck <snapshot file>...");
            System.exit(2);
        }
        int bad = 0;
        for (String name : args) {
            File f = new File(name);
            try {
                System.out.println("OK " + f.getName() + " " + check(f));
            } catch (Exception e) {
                System.out.println("BAD " + f.getName() + " " + e);
                bad++;
            }
        }
        System.exit(bad == 0 ? 0 : 1);
    }

    /** SnapStream.checkSealIntegrity (package-private in 3.8): the Adler32 of everything read so
     *  far, then a long that must equal it and the string "/" (read, not compared). */
    static void checkSeal(CheckedInputStream in, InputArchive ia) throws IOException {
        long sum = in.getChecksum().getValue();
        long val = ia.readLong("val");
        ia.readString("path");
        if (val != sum) {
            throw new IOException(String.format("CRC corruption: seal 0x%x, computed 0x%x", val, sum));
        }
    }

    static String check(File f) throws IOException {
        if (!SnapStream.isValidSnapshot(f)) {
            throw new IOException("SnapStream.isValidSnapshot is false (a server would skip this file)");
        }
        long nameZxid = Util.getZxidFromName(f.getName(), "snapshot");
        if (nameZxid < 0) {
            throw new IOException("no zxid in the file name");
        }
        try (CheckedInputStream in = SnapStream.getInputStream(f)) {
            InputArchive ia = BinaryInputArchive.getArchive(in);
            DataTree dt = new DataTree();
            Map<Long, Integer> sessions = new HashMap<>();
            new FileSnap(null).deserialize(dt, sessions, ia);
            checkSeal(in, ia);
            String digest = "none";
            if (dt.deserializeZxidDigest(ia, nameZxid)) {
                checkSeal(in, ia);
                DataTree.ZxidDigest zd = dt.getDigestFromLoadedSnapshot();
                digest = zd == null
                    ? "zxid<=0(ignored)"
                    : String.format("0x%x/%d/%d", zd.getZxid(), zd.getDigestVersion(), zd.getDigest());
            }
            long trailing = 0;
            while (in.read() >= 0) {
                trailing++;
            }
            return String.format("nodes=%d sessions=%d digest=%s tree-digest=%d trailing=%d",
                dt.getNodeCount(), sessions.size(), digest, dt.getTreeDigest(), trailing);
        }
    }
}
