/*
 * The Kafka client steps of KafkaMain: topic creation and broker checks (AdminClient), producing
 * with acks=all (each acknowledged record's partition, offset and number go to an ack file),
 * consuming with a consumer group (commits), and the exactly-once-in-order check of every
 * acknowledged record against a full read of the topic. Record n goes to partition n % P with
 * value "v" + n, so what each partition holds is fixed and the transcript is the same each run.
 */
package zab.e2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

final class KafkaSteps {
    private KafkaSteps() {}

    private static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        return Admin.create(p);
    }

    private static long deadline() {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(KafkaMain.DEADLINE_MS);
    }

    private static void tick(long deadline, String what) throws InterruptedException {
        if (System.nanoTime() > deadline) {
            throw new IllegalStateException("timed out: " + what);
        }
        Thread.sleep(100);
    }

    /** Leader broker ids of TOPIC's partitions, in partition order (-1: none). */
    private static List<Integer> leaders(Admin admin, String topic) {
        try {
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic);
            List<Integer> out = new ArrayList<>();
            for (TopicPartitionInfo p : d.partitions()) {
                out.add(p.leader() == null || p.leader().isEmpty() ? -1 : p.leader().id());
            }
            return out;
        } catch (Exception e) {
            return List.of();
        }
    }

    private static boolean allLed(List<Integer> leaders) {
        return !leaders.isEmpty() && leaders.stream().allMatch(l -> l >= 0);
    }

    static void createTopic(String bootstrap, String topic, int partitions) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(60, TimeUnit.SECONDS);
            long dl = deadline();
            while (!allLed(leaders(admin, topic))) {
                tick(dl, "every partition of " + topic + " has a leader");
            }
            KafkaMain.line("topic " + topic + " created: " + partitions + " partitions, replication 1, leaders "
                    + leaders(admin, topic));
            try {
                admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(60, TimeUnit.SECONDS);
                KafkaMain.line("!! creating " + topic + " twice succeeded");
            } catch (java.util.concurrent.ExecutionException e) {
                KafkaMain.line("creating it again: " + e.getCause().getClass().getSimpleName());
            }
        }
    }

    static void waitBroker(String bootstrap, List<String> topics) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            long dl = deadline();
            while (true) {
                try {
                    Collection<Node> nodes = admin.describeCluster().nodes().get(10, TimeUnit.SECONDS);
                    Node controller = admin.describeCluster().controller().get(10, TimeUnit.SECONDS);
                    if (!nodes.isEmpty() && controller != null && !controller.isEmpty()
                            && topics.stream().allMatch(t -> allLed(leaders(admin, t)))) {
                        KafkaMain.line("brokers " + nodes.stream().map(Node::id).sorted().collect(Collectors.toList())
                                + ", controller " + controller.id());
                        break;
                    }
                } catch (Exception e) {
                    // not up yet: the broker is (re)starting
                }
                tick(dl, "the broker serves " + topics);
            }
            for (String t : topics) {
                KafkaMain.line("topic " + t + ": leaders " + leaders(admin, t));
            }
        }
    }

    static void produce(String bootstrap, String topic, int from, int count, Path ackFile, Path halfFile, Path goFile)
            throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        List<String> acks = new ArrayList<>();
        TreeMap<String, Integer> errors = new TreeMap<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            int partitions = producer.partitionsFor(topic).size();
            for (int i = from; i < from + count; i++) {
                int n = i;
                producer.send(new ProducerRecord<>(topic, n % partitions, "k" + n, "v" + n), (md, ex) -> {
                    synchronized (acks) {
                        if (ex == null) {
                            acks.add(md.partition() + " " + md.offset() + " " + n);
                        } else {
                            errors.merge(ex.getClass().getSimpleName(), 1, Integer::sum);
                        }
                    }
                });
                if ((i - from + 1) % 100 == 0) {
                    producer.flush();
                }
                if (halfFile != null && i - from + 1 == count / 2) {
                    producer.flush();
                    Files.writeString(halfFile, "half\n");
                    long dl = deadline();
                    while (!Files.exists(goFile)) {
                        tick(dl, "the signal to produce the second half");
                    }
                }
            }
            producer.flush();
        }
        synchronized (acks) {
            Files.write(ackFile, acks, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            KafkaMain.line("produced " + count + " records with acks=all: " + acks.size() + " acknowledged, errors " + errors);
        }
    }

    private static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    /** Every record from the consumer's positions up to the end offsets at the start, by partition. */
    private static Map<Integer, List<ConsumerRecord<String, String>>> readToEnd(KafkaConsumer<String, String> c,
            Collection<TopicPartition> parts) throws InterruptedException {
        Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(60));
        Map<Integer, List<ConsumerRecord<String, String>>> got = new TreeMap<>();
        for (TopicPartition tp : parts) {
            got.put(tp.partition(), new ArrayList<>());
        }
        long dl = deadline();
        while (true) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                got.get(r.partition()).add(r);
            }
            boolean done = !c.assignment().isEmpty();
            for (TopicPartition tp : parts) {
                done &= c.assignment().contains(tp) && c.position(tp) >= end.get(tp);
            }
            if (done) {
                return got;
            }
            tick(dl, "reading up to the end offsets " + end.values());
        }
    }

    private static List<TopicPartition> partitions(KafkaConsumer<String, String> c, String topic) {
        return c.partitionsFor(topic, Duration.ofSeconds(60)).stream()
                .map(i -> new TopicPartition(topic, i.partition()))
                .sorted((x, y) -> Integer.compare(x.partition(), y.partition()))
                .collect(Collectors.toList());
    }

    private static int number(ConsumerRecord<String, String> r) {
        return Integer.parseInt(r.value().substring(1));
    }

    static void consumeGroup(String bootstrap, String topic, String group) throws Exception {
        try (KafkaConsumer<String, String> c = consumer(bootstrap, group)) {
            List<TopicPartition> parts = partitions(c, topic);
            c.subscribe(List.of(topic));
            Map<Integer, List<ConsumerRecord<String, String>>> got = readToEnd(c, parts);
            c.commitSync(Duration.ofSeconds(60));
            List<Integer> per = new ArrayList<>();
            TreeSet<Integer> numbers = new TreeSet<>();
            int total = 0;
            for (List<ConsumerRecord<String, String>> l : got.values()) {
                per.add(l.size());
                total += l.size();
                l.forEach(r -> numbers.add(number(r)));
            }
            KafkaMain.line("group " + group + " read " + total + " records " + per + " per partition, numbers "
                    + (numbers.isEmpty() ? "none" : numbers.first() + ".." + numbers.last())
                    + ", distinct " + numbers.size() + "; committed");
        }
    }

    static void verify(String bootstrap, String topic, Path ackFile) throws Exception {
        List<String> acks = KafkaMain.sortedLines(ackFile);
        try (KafkaConsumer<String, String> c = consumer(bootstrap, null)) {
            List<TopicPartition> parts = partitions(c, topic);
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<Integer, List<ConsumerRecord<String, String>>> got = readToEnd(c, parts);
            Map<String, Integer> at = new HashMap<>();
            Map<Integer, Integer> times = new HashMap<>();
            int outOfOrder = 0;
            List<Integer> per = new ArrayList<>();
            for (Map.Entry<Integer, List<ConsumerRecord<String, String>>> e : got.entrySet()) {
                int last = -1;
                per.add(e.getValue().size());
                for (ConsumerRecord<String, String> r : e.getValue()) {
                    int n = number(r);
                    at.put(r.partition() + " " + r.offset(), n);
                    times.merge(n, 1, Integer::sum);
                    if (n <= last) {
                        outOfOrder++;
                    }
                    last = n;
                }
            }
            int exactlyOnce = 0;
            int missing = 0;
            int wrongPlace = 0;
            for (String a : acks) {
                String[] f = a.split(" ");
                int n = Integer.parseInt(f[2]);
                Integer there = at.get(f[0] + " " + f[1]);
                if (there == null) {
                    missing++;
                } else if (there != n) {
                    wrongPlace++;
                } else if (times.get(n) == 1) {
                    exactlyOnce++;
                }
            }
            long duplicated = times.values().stream().filter(t -> t > 1).count();
            KafkaMain.line("topic " + topic + " holds " + at.size() + " records " + per + " per partition");
            KafkaMain.line("acknowledged " + acks.size() + ": read exactly once at their offset " + exactlyOnce
                    + ", missing " + missing + ", another record at their offset " + wrongPlace);
            KafkaMain.line("numbers read more than once " + duplicated + ", out of order within a partition " + outOfOrder);
            KafkaMain.check(exactlyOnce == acks.size() && duplicated == 0 && outOfOrder == 0,
                    "every acknowledged record exactly once, in order per partition");
        }
    }
}
