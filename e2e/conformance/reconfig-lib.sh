# shellcheck shell=bash disable=SC2034 # WORK, SUPER_DIGEST and KEEP are for the sourcing script
# reconfig-lib.sh — the common start of reconfig.sh and reconfig_membership.sh (sourced, not
# run): their arguments (--zab-bin PATH, --keep, -h), e2e/lib.sh, the tools they need (java,
# Debian's ZooKeeper jars, kazoo, zab-node), the work directory WORK (removed at exit unless
# --keep or something failed) and the super user the ensembles are given (SUPER_PASSWORD and
# its SUPER_DIGEST). The sourcing script sets HERE and ROOT and passes its arguments.

ZAB_BIN="$ROOT/target/release/zab-node"
KEEP=0
SCRIPT=${0##*/}

# usage: the script's header comment (up to its first line that is not a comment).
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

# shellcheck disable=SC2034 # KEEP is read at exit, by on_exit's command
while [[ $# -gt 0 ]]; do
    case "$1" in
        --zab-bin) ZAB_BIN=${2:?--zab-bin needs a path}; shift 2 ;;
        --zab-bin=*) ZAB_BIN=${1#*=}; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$SCRIPT: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
require_tools java "$PY"
require_jars "apt-get install zookeeper" zookeeper.jar zookeeper-jute.jar slf4j-simple.jar
"$PY" -c 'import kazoo' 2>/dev/null || { log "python3-kazoo missing (apt-get install python3-kazoo)"; exit 2; }
need_zab_bin 0
# shellcheck disable=SC2034 # read by lib.sh's poll_ready: up once srvr shows a Zxid
READY_ZXID=1
WORK=$(mktemp -d "/tmp/${SCRIPT%.sh}.XXXXXX")
# shellcheck disable=SC2016 # expanded at exit
on_exit 'remove_work $((KEEP + FAILED))'

SUPER_PASSWORD=reconfig-secret
SUPER_DIGEST=$("$PY" -c 'import base64, hashlib, sys; print("super:" + base64.b64encode(hashlib.sha1(("super:" + sys.argv[1]).encode()).digest()).decode())' "$SUPER_PASSWORD")

# compare_results WANT_DIR GOT_DIR LABEL: each file of WANT_DIR (ZooKeeper's results) against
# the file of the same name in GOT_DIR, one ok/FAIL line each (the diff shown on a failure,
# kept as $WORK/results/LABEL-NAME.diff), counted by tally.
compare_results() {
    local f name
    for f in "$1"/*; do
        name=${f##*/}
        if diff -u "$f" "$2/$name" >"$WORK/results/$3-$name.diff"; then
            echo "  ok   $3: $name"
            tally 0
        else
            echo "  FAIL $3: $name"
            sed 's/^/      /' "$WORK/results/$3-$name.diff" | head -40
            tally 1
        fi
    done
}
