#!/usr/bin/env bash
# cli_check.sh HOST:PORT — the ZooKeeper command-line clients against one server.
#
# Part 1 runs the C client (cli_mt, batch mode `--cmd`, one session per command)
# through create modes (+e +s +c +t=ttl, create2), ls/ls2, get/set, delete,
# sync, config and the server's refusals on /zookeeper and /. Part 2 feeds
# one script to the Java zkCli.sh on stdin (one session): create -e/-s/-c/-t,
# stat, get -s, set -v, ls -R/-s, getAllChildrenNumber, getEphemerals,
# whoami, addauth, getAcl/setAcl, one-shot and persistent watches (addWatch,
# get -w, ls -w, stat -w, removewatches), sync, delete -v and deleteall.
#
# Output is normalised (session ids, times, client timings masked; zxids and
# versions kept; list order sorted where the server's order is a hash order;
# zkCli watch events collected, in order, into one block because the event
# thread races the command output) and printed, each step followed by its
# assertions. Ends with `cli: N passed, M failed`; exits 1 if anything failed.
# Writes only below /cm and /cj, and removes both at the end.
set -u -o pipefail

HP=${1:?usage: cli_check.sh HOST:PORT}
CLI_MT=${CLI_MT:-/usr/lib/zookeeper/bin/cli_mt}
ZKCLI=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
export TZ=UTC

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# --- assertions -------------------------------------------------------------
# has FILE LINE...: every LINE occurs as a whole line of FILE.
has() {
    local file=$1 line
    shift
    for line in "$@"; do
        if grep -Fxq -- "$line" "$file"; then
            passed=$((passed + 1))
            echo "  ok   has: $line"
        else
            failed=$((failed + 1))
            echo "  FAIL missing: $line"
        fi
    done
}

# lacks FILE LINE...: no LINE occurs as a whole line of FILE.
lacks() {
    local file=$1 line
    shift
    for line in "$@"; do
        if grep -Fxq -- "$line" "$file"; then
            failed=$((failed + 1))
            echo "  FAIL unexpected: $line"
        else
            passed=$((passed + 1))
            echo "  ok   lacks: $line"
        fi
    done
}

# same FILE <<EOF: FILE equals the text on stdin, line for line.
same() {
    local file=$1
    if diff -u - "$file" >"$work/same.diff"; then
        passed=$((passed + 1))
        echo "  ok   same: $(grep -c '' "$file") lines as expected"
    else
        failed=$((failed + 1))
        echo "  FAIL differs (- want, + got):"
        sed 's/^/    /' "$work/same.diff"
    fi
}

# --- part 1: cli_mt ---------------------------------------------------------
# The C client prints its results on stderr. The connect lines come from the
# completion thread and race the main thread's "Creating ..." line, so they are
# replaced by one "session: connected" line on top. Child lists of ls/ls2 are
# in the server's hash order and are sorted.
norm_mt() {
    awk '
        /^Watcher SESSION_EVENT state = CONNECTED_STATE$/ { connected = 1; next }
        /^Got a new session id: 0x[0-9a-f]+$/ { sid = 1; next }
        /^Batch mode: / || /^Command length / || /^time = [0-9-]+ msec$/ { next }
        { sub(/^\t/, "") }
        /^[ ]*c?time = / || /^mtime=/ {
            if ($0 ~ /1970/) sub(/= ?[A-Z][a-z][a-z] .*/, "= <epoch0>"); else sub(/= ?[A-Z][a-z][a-z] .*/, "= <time>")
        }
        /^ephemeralOwner = / {
            v = $3
            if (v != "0" && !(length(v) == 16 && (substr(v, 1, 2) == "ff" || substr(v, 1, 2) == "80"))) $0 = "ephemeralOwner = <session>"
        }
        { lines[n++] = $0 }
        END {
            if (connected && sid) print "session: connected"; else print "session: NOT CONNECTED"
            for (i = 0; i < n; i++) print lines[i]
        }'
}

# sort_children: in ls/ls2 output sort the child names (the lines after
# "rc = ", up to the Stat block); stdin to stdout.
sort_children() {
    awk '
        function flush(   i, j, t) {
            for (i = 0; i < m; i++) for (j = i + 1; j < m; j++) if (kid[j] < kid[i]) { t = kid[i]; kid[i] = kid[j]; kid[j] = t }
            for (i = 0; i < m; i++) print kid[i]
            m = 0; kids = 0
        }
        kids && /^(ctime|czxid|mtime|mzxid|version|ephemeralOwner|exit status)/ { flush() }
        kids { kid[m++] = $0; next }
        { print }
        /: rc = / { kids = 1 }
        END { flush() }'
}

# mt NAME COMMAND: run one batch command, print and keep its normalised output.
mt() {
    local name=$1 cmd=$2 out=$work/mt.$1 rc=0
    timeout 20 "$CLI_MT" --host "$HP" --cmd "$cmd" >"$work/raw.$name" 2>&1 || rc=$?
    case $cmd in
        ls*) norm_mt <"$work/raw.$name" | sort_children >"$out" ;;
        *) norm_mt <"$work/raw.$name" >"$out" ;;
    esac
    if [ "$rc" -ne 0 ]; then echo "exit status $rc" >>"$out"; fi
    echo "--- mt $name: $cmd"
    sed 's/^/    /' "$out"
    CUR=$out
}

# Leftovers from an earlier run would change every answer below: remove them
# (on a fresh server this costs one session: two zxids, the same everywhere).
printf 'deleteall /cm\ndeleteall /cj\nclose\n' | timeout 60 "$ZKCLI" -server "$HP" >/dev/null 2>&1

echo "== cli_mt"
mt create_root 'create /cm'
has "$CUR" 'session: connected' 'Creating [/cm] node (mode: 0)' '[/cm]: rc = 0' 'name = /cm'
mt create_exists 'create /cm'
has "$CUR" '[/cm]: rc = -110'
mt create_no_parent 'create /cm/x/y'
has "$CUR" '[/cm/x/y]: rc = -101'
mt create_ephemeral 'create +e /cm/e'
has "$CUR" 'Creating [/cm/e] node (mode: 1)' '[/cm/e]: rc = 0'
mt ls_after_close 'ls /cm'
has "$CUR" '/cm: rc = 0'
lacks "$CUR" 'e'
mt create_sequential 'create +s /cm/s-'
has "$CUR" 'Creating [/cm/s-] node (mode: 2)' 'name = /cm/s-0000000001'
mt create2_ephemeral_sequential 'create2 +es /cm/es-'
has "$CUR" 'Creating [/cm/es-] node (mode: 3)' 'name = /cm/es-0000000002' \
    'ephemeralOwner = <session>' 'version=0	aversion=0'
mt create_container 'create +c /cm/cont'
has "$CUR" 'Creating [/cm/cont] node (mode: 4)' '[/cm/cont]: rc = 0'
mt create2_container 'create2 +c /cm/cont2'
# TTL and container nodes show ephemeralOwner 0 to clients (their owner
# field only carries the type on disk).
has "$CUR" '[/cm/cont2]: rc = 0' 'ephemeralOwner = 0'
mt create2_ttl 'create2 +t=600000 /cm/ttl'
has "$CUR" 'Creating [/cm/ttl] node (mode: 5)' '[/cm/ttl]: rc = 0' 'ephemeralOwner = 0'
mt create_sequential_ttl 'create +st=600000 /cm/sttl-'
mt ls 'ls /cm'
has "$CUR" '/cm: rc = 0' 'cont' 'cont2' 's-0000000001' 'ttl'
mt ls2 'ls2 /cm'
has "$CUR" '/cm: rc = 0' 'version=0	aversion=0' 'ephemeralOwner = 0'
mt set 'set /cm hello'
has "$CUR" '/cm: rc = 0 Stat:' 'version=1	aversion=0'
mt get 'get /cm'
has "$CUR" '/cm: rc = 0' ' value_len = 5' 'hello' 'version=1	aversion=0'
mt get_missing 'get /cm/nope'
has "$CUR" '/cm/nope: rc = -101' 'null'
mt set_missing 'set /cm/nope x'
has "$CUR" '/cm/nope: rc = -101 Stat:'
mt delete_not_empty 'delete /cm'
has "$CUR" '/cm: rc = -111'
mt delete_missing 'delete /cm/nope'
has "$CUR" '/cm/nope: rc = -101'
mt delete 'delete /cm/s-0000000001'
has "$CUR" '/cm/s-0000000001: rc = 0'
mt sync 'sync /cm'
has "$CUR" '[/cm]: rc = 0' 'name = /cm'
mt config 'config'
has "$CUR" '/zookeeper/config: rc = 0' 'ctime = <epoch0>' 'czxid=0'
mt delete_zookeeper 'delete /zookeeper'
has "$CUR" '/zookeeper: rc = -8'
mt delete_quota 'delete /zookeeper/quota'
has "$CUR" '/zookeeper/quota: rc = -8'
mt set_config 'set /zookeeper/config x'
has "$CUR" '/zookeeper/config: rc = -102 Stat:'
mt create_under_config 'create /zookeeper/config/x'
has "$CUR" '[/zookeeper/config/x]: rc = -102'
mt delete_root 'delete /'
has "$CUR" '/: rc = -8'
mt create_root_node 'create /'
has "$CUR" '[/]: rc = -110'
mt ls_zookeeper 'ls /zookeeper'
has "$CUR" '/zookeeper: rc = 0' 'config' 'quota'

# --- part 2: zkCli.sh -------------------------------------------------------
# One session reads the script below from stdin. "step NAME" lines become
# `stat /__step__/NAME`, a read of a missing node whose error line marks the
# start of that step in the output without touching any zxid.
script() {
    cat <<'EOF'
step create
create /cj data0
create /cj again
create /cj/a/b x
create -e /cj/eph e
create -s /cj/seq- s
create -e -s /cj/eseq- s
create -c /cj/cont
create -t 600000 /cj/ttl t
create -s -t 600000 /cj/sttl- t
create /cj/eph/child x
create /cj/dup d
step stat
stat /cj
stat /cj/ttl
stat /cj/cont
stat /cj/eph
step get
get -s /cj
get /cj/nope
step set
set /cj d1
set -v 5 /cj d2
set -s -v 1 /cj d2
get /cj
step ls
ls /cj
ls -s /cj
ls -R /cj
ls /cj/nope
step counts
getAllChildrenNumber /cj
getAllChildrenNumber /cj/dup
getAllChildrenNumber /zookeeper
step ephemerals
getEphemerals
getEphemerals /cj/e
getEphemerals /nope
step whoami
whoami
addauth digest alice:secret
whoami
step acl
create /cj/secret s digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa
getAcl /cj/secret
create /cj/mine m auth::cdrwa
getAcl /cj/mine
setAcl /cj/mine world:anyone:r
getAcl -s /cj/mine
set /cj/mine x
setAcl -v 0 /cj/mine world:anyone:cdrwa
setAcl -v 0 /cj/secret ip:127.0.0.1:cdrwa
getAcl /cj/secret
get /cj/secret
create /cj/badacl x world:anyone:q
getAcl /zookeeper/config
step watch
create /cj/pw p
create /cj/rw r
create /cj/ow o
addWatch -m PERSISTENT /cj/pw
addWatch -m PERSISTENT_RECURSIVE /cj/rw
get -w /cj/ow
ls -w /cj/ow
stat -w /cj/nx
set /cj/pw p1
create /cj/pw/c c
set /cj/pw/c c1
set /cj/rw r1
create /cj/rw/c c
create /cj/rw/c/d d
set /cj/rw/c/d d1
delete /cj/rw/c/d
set /cj/ow o1
set /cj/ow o2
create /cj/ow/k k
create /cj/nx n
removewatches /cj/pw -a
removewatches /cj/rw -a
removewatches /cj/nope -a
set /cj/pw p2
set /cj/rw r2
step sync
sync /cj
step delete
delete /cj
delete -v 9 /cj/ttl
delete -v 0 /cj/ttl
delete /cj/nope
delete /cj/eph
delete /cj/eseq-0000000002
delete /cj/badacl
deleteall /cj
deleteall /cm
ls /cj
step end
close
EOF
}

norm_zkcli() {
    awk '
        function flush_ids(   i, j, t) {
            for (i = 0; i < nid; i++) for (j = i + 1; j < nid; j++) if (ids[j] < ids[i]) { t = ids[i]; ids[i] = ids[j]; ids[j] = t }
            for (i = 0; i < nid; i++) print ids[i]
            whoami = 0; nid = 0
        }
        /^SLF4J: / || /^Connecting to / || /^Welcome to ZooKeeper!$/ || /^JLine support is / { next }
        /^WATCHER::$/ || /^$/ { next }
        /^WatchedEvent state:/ {
            if ($0 !~ /state:Closed /) events[ne++] = $0
            next
        }
        # whoami: ZooKeeper keeps the identities of a connection in a hash
        # set, so their order is hash order: sort the lines after the header
        whoami && /^[a-z][a-z0-9]*: / { ids[nid++] = $0; next }
        whoami { flush_ids() }
        /^Node does not exist: \/__step__\// { sub(/^Node does not exist: \/__step__\//, ""); print "== " $0; next }
        /^[cm]time = / { if ($0 ~ /1970/) sub(/= .*/, "= <epoch0>"); else sub(/= .*/, "= <time>") }
        /^ephemeralOwner = 0x/ {
            v = substr($3, 3)
            if (v != "0" && !(length(v) == 16 && (substr(v, 1, 2) == "ff" || substr(v, 1, 2) == "80"))) $0 = "ephemeralOwner = <session>"
        }
        /^Auth scheme: User$/ { print; whoami = 1; nid = 0; next }
        /^\[.*\]$/ {
            # a list in server order (getEphemerals): sort its items
            s = substr($0, 2, length($0) - 2); k = split(s, it, ", ")
            for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (it[j] < it[i]) { t = it[i]; it[i] = it[j]; it[j] = t }
            o = "["; for (i = 1; i <= k; i++) o = o (i > 1 ? ", " : "") it[i]; $0 = o "]"
        }
        { print }
        END { flush_ids(); print "== events"; for (i = 0; i < ne; i++) print events[i] }'
}

echo "== zkCli"
script | sed 's|^step \(.*\)$|stat /__step__/\1|' >"$work/zkcli.in"
rc=0
timeout 60 "$ZKCLI" -server "$HP" <"$work/zkcli.in" >"$work/zkcli.raw" 2>&1 || rc=$?
norm_zkcli <"$work/zkcli.raw" >"$work/zkcli.out"
[ "$rc" -eq 0 ] || echo "exit status $rc" >>"$work/zkcli.out"
# split into one file per step
awk -v dir="$work" '/^== / { f = dir "/step." substr($0, 4); next } f { print > f }' "$work/zkcli.out"

step() {
    local name=$1
    CUR=$work/step.$name
    [ -f "$CUR" ] || : >"$CUR"
    echo "--- zkCli $name"
    sed 's/^/    /' "$CUR"
}

step create
has "$CUR" 'Created /cj' 'Node already exists: /cj' 'Node does not exist: /cj/a/b' 'Created /cj/eph' \
    'Created /cj/seq-0000000001' 'Created /cj/eseq-0000000002' 'Created /cj/cont' 'Created /cj/ttl' \
    'Created /cj/sttl-0000000005' 'Ephemerals cannot have children: /cj/eph/child' 'Created /cj/dup'
step stat
has "$CUR" 'cversion = 7' 'numChildren = 7' 'dataLength = 5' 'ephemeralOwner = <session>' 'ephemeralOwner = 0x0'
step get
has "$CUR" 'data0' 'dataVersion = 0' 'Node does not exist: /cj/nope'
step set
has "$CUR" 'version No is not valid : /cj' 'dataVersion = 2' 'd2'
step ls
has "$CUR" '[cont, dup, eph, eseq-0000000002, seq-0000000001, sttl-0000000005, ttl]' '/cj' '/cj/ttl' \
    'Node does not exist: /cj/nope'
step counts
has "$CUR" '7' '0'
step ephemerals
has "$CUR" '[/cj/eph, /cj/eseq-0000000002]' '[]'
step whoami
has "$CUR" 'Auth scheme: User' 'ip: 127.0.0.1' 'digest: alice'
step acl
has "$CUR" "'digest,'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=" ': cdrwa' "'world,'anyone" ': r' \
    'aclVersion = 1' 'Insufficient permission : /cj/mine' "'ip,'127.0.0.1" 's'
step watch
has "$CUR" 'Created /cj/pw' 'Created /cj/nx'
step sync
has "$CUR" 'Sync is OK'
step delete
has "$CUR" 'Node not empty: /cj' 'version No is not valid : /cj/ttl' 'Node does not exist: /cj/nope' \
    'Node does not exist: /cj'
step events
# the whole sequence, in order: persistent (non-recursive) watches see data
# and child changes of their own node only; recursive ones see creates,
# changes and deletes below and never NodeChildrenChanged; one-shot watches
# fire once; removing a persistent watch gives a local PersistentWatchRemoved;
# nothing fires after removal
same "$CUR" <<'EOF2'
WatchedEvent state:SyncConnected type:None path:null
WatchedEvent state:SyncConnected type:NodeDataChanged path:/cj/pw
WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/cj/pw
WatchedEvent state:SyncConnected type:NodeDataChanged path:/cj/rw
WatchedEvent state:SyncConnected type:NodeCreated path:/cj/rw/c
WatchedEvent state:SyncConnected type:NodeCreated path:/cj/rw/c/d
WatchedEvent state:SyncConnected type:NodeDataChanged path:/cj/rw/c/d
WatchedEvent state:SyncConnected type:NodeDeleted path:/cj/rw/c/d
WatchedEvent state:SyncConnected type:NodeDataChanged path:/cj/ow
WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/cj/ow
WatchedEvent state:SyncConnected type:NodeCreated path:/cj/nx
WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:/cj/pw
WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:/cj/rw
EOF2

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
