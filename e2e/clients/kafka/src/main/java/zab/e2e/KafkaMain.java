/*
 * KafkaMain: the client side of the Kafka scenario (kafka.sh drives the broker and the ensemble).
 * Each subcommand does one step against the broker (AdminClient, producer, consumer of
 * kafka-clients 3.9) or reads the broker's znodes (the ZooKeeper client Kafka 3.9 uses) and prints
 * deterministic transcript lines on stdout; a failed check prints a line starting with "!!".
 * Every wait is bounded (DEADLINE_MS); exit status 1 when a step could not be done at all.
 *
 *   create-topic BOOTSTRAP TOPIC PARTITIONS
 *   produce BOOTSTRAP TOPIC FROM COUNT ACKFILE [HALF_FILE GO_FILE]   (pauses at COUNT/2 until GO_FILE)
 *   consume-group BOOTSTRAP TOPIC GROUP
 *   verify BOOTSTRAP TOPIC ACKFILE
 *   wait-broker BOOTSTRAP TOPIC...
 *   zk-wait-gone CONNECT PATH
 *   zk-state CONNECT
 *
 * It talks only to the addresses it is given (127.0.0.1) and writes only ACKFILE / HALF_FILE.
 */
package zab.e2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

public final class KafkaMain {
    static final long DEADLINE_MS = 120_000;

    private KafkaMain() {}

    static void line(String s) {
        System.out.println(s);
        System.out.flush();
    }

    static void check(boolean cond, String what) {
        line((cond ? "ok " : "!! check failed: ") + what);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: KafkaMain SUBCOMMAND ARGS... (see the file's header)");
            System.exit(2);
        }
        List<String> a = Arrays.asList(args).subList(1, args.length);
        try {
            switch (args[0]) {
                case "create-topic" -> KafkaSteps.createTopic(a.get(0), a.get(1), Integer.parseInt(a.get(2)));
                case "produce" -> KafkaSteps.produce(a.get(0), a.get(1), Integer.parseInt(a.get(2)),
                        Integer.parseInt(a.get(3)), Path.of(a.get(4)),
                        a.size() > 6 ? Path.of(a.get(5)) : null, a.size() > 6 ? Path.of(a.get(6)) : null);
                case "consume-group" -> KafkaSteps.consumeGroup(a.get(0), a.get(1), a.get(2));
                case "verify" -> KafkaSteps.verify(a.get(0), a.get(1), Path.of(a.get(2)));
                case "wait-broker" -> KafkaSteps.waitBroker(a.get(0), a.subList(1, a.size()));
                case "zk-wait-gone" -> ZkSteps.waitGone(a.get(0), a.get(1));
                case "zk-state" -> ZkSteps.state(a.get(0));
                default -> {
                    System.err.println("unknown subcommand " + args[0]);
                    System.exit(2);
                }
            }
        } catch (Exception e) {
            e.printStackTrace();
            line("!! " + args[0] + " aborted: " + e.getClass().getSimpleName());
            System.exit(1);
        }
        System.exit(0);
    }

    /** Lines of FILE, sorted (for reading an ack file written in completion order). */
    static List<String> sortedLines(Path file) throws java.io.IOException {
        List<String> l = new ArrayList<>(Files.readAllLines(file));
        Collections.sort(l);
        return l;
    }
}
