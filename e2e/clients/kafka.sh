# shellcheck shell=bash
# kafka.sh — the Kafka scenario of e2e/clients/run.sh: a Kafka 3.9 broker in ZooKeeper mode on the
# running ensemble (ensemble.sh), driven through KafkaMain; sourced after ../lib.sh and ensemble.sh.
#
# run_kafka KIND DIR prints the transcript on stdout, in sections (## NAME) that run.sh compares:
#   kafka_produce_consume   a topic of 3 partitions (AdminClient), 600 records with acks=all, read by
#                           a consumer group that commits
#   kafka_leader_kill       1200 more records; at half of them the ensemble's leader (srvr "Mode:
#                           leader") is killed with kill -9 and the rest is produced while the
#                           ensemble elects another; then a second topic (a write through the new
#                           leader)
#   kafka_broker_restart    the broker is killed with kill -9; its registration must go with its
#                           session (expiry by the new leader); a new broker process starts on the
#                           same log dir and serves both topics
#   kafka_exactly_once      the group resumes at its committed offsets; a full read finds every
#                           acknowledged record exactly once, at its offset, in order per partition
#   kafka_zookeeper_state   the broker's znodes; the killed member restarts and rejoins as follower
#   kafka_session_member_kill  kill -9 of the member holding the broker's session (cons): the
#                           session moves; a third topic (controller writes), 100 records on the
#                           second, the registrations; the member restarts and rejoins
# One broker (id 0, replication 1), listener and log dir on 127.0.0.1 / under DIR. Broker pids go to
# PIDS and are stopped by pid here or by the exit trap. Logs: DIR/broker.log, DIR/kafka-client.log.

KAFKA_CP="$HERE/kafka/target/classes:$HERE/kafka/target/lib/*"
KAFKA_PID=0

# kafka_main ARGS...: one KafkaMain step; its transcript lines on stdout, its log appended to KLOG.
kafka_main() {
    timeout 300 java -Xmx256m -cp "$KAFKA_CP" zab.e2e.KafkaMain "$@" 2>>"$KLOG"
}

# start_broker: the broker on PROPS, pid in KAFKA_PID (and PIDS).
start_broker() {
    java -Xmx512m -Dlog4j.configuration="file:$HERE/kafka/log4j.properties" -cp "$KAFKA_CP" \
        kafka.Kafka "$PROPS" >>"$KDIR/broker.log" 2>&1 &
    KAFKA_PID=$!
    PIDS+=("$KAFKA_PID")
}

# write_broker_props PORT: server.properties of broker 0 on the current ensemble, chroot /kafka.
write_broker_props() {
    cat >"$PROPS" <<EOF
broker.id=0
listeners=PLAINTEXT://127.0.0.1:$1
advertised.listeners=PLAINTEXT://127.0.0.1:$1
log.dirs=$KDIR/kafka-logs
zookeeper.connect=$(connect_string)/kafka
zookeeper.session.timeout.ms=10000
zookeeper.connection.timeout.ms=30000
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
controlled.shutdown.enable=true
EOF
}

# kill_leader_at_half: waits for the producer's half-way file, kills the ensemble's leader with
# kill -9, lets the producer go on. Prints one transcript line; the member's number goes to the log.
kill_leader_at_half() {
    local deadline=$((SECONDS + 180)) leader
    while [[ ! -f $KDIR/half ]]; do
        if ((SECONDS >= deadline)); then
            echo "!! the producer never reached half-way"
            touch "$KDIR/go"
            return 1
        fi
        sleep 0.1
    done
    leader=$(leader_member)
    local i on=""
    for i in "${MEMBERS[@]}"; do
        # the broker holds the only session on the ensemble now (cons lists sessions as sid=0x...)
        four_letter "${CLIENT[i]}" cons | grep -q 'sid=0x' && on+="${on:+ }$i"
    done
    log "$ENSEMBLE_KIND: the broker's session is on member(s) ${on:-none}; the leader is member ${leader:-none}"
    if [[ -z $leader ]]; then
        echo "!! no member says it leads"
        touch "$KDIR/go"
        return 1
    fi
    kill -KILL "${MEMBER_PID[leader]}"
    wait "${MEMBER_PID[leader]}" 2>/dev/null || true
    MEMBER_PID[leader]=0
    KILLED_MEMBER=$leader
    log "$ENSEMBLE_KIND: killed the leader, member $leader"
    echo "killed the ensemble's leader with kill -9 half-way through"
    touch "$KDIR/go"
}

# kill_session_member: kill -9 of the member that holds the broker's ZooKeeper session (found with
# cons), so the session must move to another member; waits until the other two have a leader.
# Restarts the member a section killed (KILLED_MEMBER, if any) and says how it rejoined.
rejoin_killed_member() {
    [[ -n $KILLED_MEMBER ]] || return 0
    start_member "$KILLED_MEMBER"
    if wait_quorum; then
        echo "the killed member restarted and rejoined as $(member_mode "${CLIENT[KILLED_MEMBER]}")"
    else
        echo "!! the killed member did not rejoin"
        return 1
    fi
}

kill_session_member() {
    local i on=""
    for i in "${MEMBERS[@]}"; do
        four_letter "${CLIENT[i]}" cons | grep -q 'sid=0x' && on=$i && break
    done
    if [[ -z $on ]]; then
        echo "!! no member lists the broker's session"
        return 1
    fi
    log "$ENSEMBLE_KIND: killing member $on, which holds the broker's session ($(member_mode "${CLIENT[on]}"))"
    kill -KILL "${MEMBER_PID[on]}"
    wait "${MEMBER_PID[on]}" 2>/dev/null || true
    MEMBER_PID[on]=0
    KILLED_MEMBER=$on
    echo "killed the member holding the broker's ZooKeeper session with kill -9"
    wait_quorum || { echo "!! the other two members did not settle on a leader"; return 1; }
}

run_kafka() {
    local kind=$1 t0=$SECONDS port rc=0 zk
    KDIR="$2/kafka"
    KLOG="$KDIR/kafka-client.log"
    PROPS="$KDIR/server.properties"
    KILLED_MEMBER=""
    mkdir -p "$KDIR"
    port=$(free_port)
    write_broker_props "$port"
    local bs="127.0.0.1:$port"
    zk="$(connect_string)/kafka"

    echo "## kafka_produce_consume"
    start_broker
    kafka_main wait-broker "$bs" || rc=1
    kafka_main create-topic "$bs" t1 3 || rc=1
    kafka_main produce "$bs" t1 0 600 "$KDIR/acks" || rc=1
    kafka_main consume-group "$bs" t1 g1 || rc=1

    echo "## kafka_leader_kill"
    # not through kafka_main: $! must be the pid of timeout (which passes a SIGTERM on to java)
    timeout 300 java -Xmx256m -cp "$KAFKA_CP" zab.e2e.KafkaMain produce "$bs" t1 600 1200 "$KDIR/acks" \
        "$KDIR/half" "$KDIR/go" 2>>"$KLOG" &
    local producer=$!
    PIDS+=("$producer")
    kill_leader_at_half || rc=1
    wait "$producer" || rc=1
    kafka_main create-topic "$bs" t2 2 || rc=1
    log "$kind: the producer went through the leader kill; new leader member $(leader_member)"

    echo "## kafka_broker_restart"
    kill -KILL "$KAFKA_PID"
    wait "$KAFKA_PID" 2>/dev/null || true
    echo "killed the broker with kill -9"
    kafka_main zk-wait-gone "$zk" /brokers/ids/0 || rc=1
    start_broker
    kafka_main wait-broker "$bs" t1 t2 || rc=1

    echo "## kafka_exactly_once"
    kafka_main consume-group "$bs" t1 g1 || rc=1
    kafka_main verify "$bs" t1 "$KDIR/acks" || rc=1

    echo "## kafka_zookeeper_state"
    kafka_main zk-state "$zk" || rc=1
    rejoin_killed_member || rc=1

    echo "## kafka_session_member_kill"
    kill_session_member || rc=1
    kafka_main create-topic "$bs" t3 2 || rc=1
    kafka_main produce "$bs" t2 0 100 "$KDIR/acks-t2" || rc=1
    kafka_main verify "$bs" t2 "$KDIR/acks-t2" || rc=1
    kafka_main zk-state "$zk" | grep -E '^(brokers/ids|controller|brokers/topics):' || rc=1
    rejoin_killed_member || rc=1

    stop_pid "$KAFKA_PID"
    ((STOP_KILLED == 0)) || echo "!! the broker did not stop within ${STOP_SECS}s of SIGTERM"
    echo "broker stopped"
    log "$kind: Kafka scenario took $((SECONDS - t0))s"
    return $rc
}
