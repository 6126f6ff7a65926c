#!/usr/bin/env bash
# ember across three real (namespaced) hosts of the test bed (test/cluster/testbed.sh), with the
# driver on h1 and one executor per host started by hand (`testbed.sh exec hI APP --ember-executor
# ...`, master cluster[3]); the app is ember-test-app (EMBER_TEST_APP): its word count, whose map
# tasks can be slowed down, with counts equal to the shell's (`sort | uniq -c`), and its locality
# job, with counts known in advance.
#   1. bind vs advertise: the driver listens on 0.0.0.0 and advertises its host name; executors on
#      the other hosts connect to that name's address, and each executor advertises (and listens
#      on) its own host; a cached RDD's second job reads it PROCESS_LOCAL; a reduce task whose
#      input is all on one host runs there NODE_LOCAL (ember-test-app locality).
#      Delay scheduling: tasks that all prefer h1, where one core is free, run NODE_LOCAL there
#      and fall back to ANY on h2 and h3 only after ember.locality.wait.
#   2. a network cut mid-job: nftables cuts h3 from the driver's host; the driver expires h3's
#      executor on heartbeat timeout, recomputes its work on h1 and h2, and the counts are exact;
#      after `heal`, h3's executor learns from its next heartbeat that it was removed, and exits.
#   3. SIGKILL of the driver mid-job, with tasks that do not stop when killed: no executor
#      process is left on any host within 15 s, and no blockmgr-* dir under ember.local.dir.
# Needs root: skipped (exit 77) otherwise. Prints the time of each part.
set -uo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the test bed needs root (network namespaces, Slurm and munge daemons)"
    exit 77
fi
APP=${EMBER_TEST_APP:?EMBER_TEST_APP must name the ember-test-app executable}

bed=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/testbed.sh
# A bed of this run only (prefix, state dir, subnet), beside testbed_test's or a contributor's.
export EMBER_TESTBED_PREFIX=embermh$$
export EMBER_TESTBED_DIR=/run/$EMBER_TESTBED_PREFIX-testbed
export EMBER_TESTBED_SUBNET=10.78.0
export EMBER_TESTBED_CPUS=2 EMBER_TESTBED_MEMORY=2048
P=$EMBER_TESTBED_PREFIX
DIR=$EMBER_TESTBED_DIR
H1=$P-h1 H2=$P-h2 H3=$P-h3
# Short heartbeats, so a cut executor is expired within seconds.
HEARTBEATS=(--conf ember.executor.heartbeatInterval=500ms --conf ember.network.timeout=4s
            --conf ember.network.timeoutInterval=1s)

# check, expect_eq, wait_for, now, elapsed, on, alive, bed_up, only_slurmd
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cmdline() { { tr "\0" " " < "/proc/$1/cmdline"; } 2> /dev/null; }
# app_pids HOST...: PIDs of ember-test-app processes (driver or executor) in the hosts' namespaces
app_pids() {
    local h p
    for h in "$@"; do
        for p in $(ip netns pids "$h" 2> /dev/null); do
            alive "$p" && [[ $(cmdline "$p") == "$APP "* ]] && echo "$p"
        done
    done
    return 0
}
no_app() { [ -z "$(app_pids "$H1" "$H2" "$H3")" ]; }
in_log() { grep -q -- "$2" "$1" 2> /dev/null; }

bed_up 3
A1=$("$bed" addr h1)

# Input: 6 files of 30000 words from 1009 distinct ones; the oracle is the shell's count.
mkdir -p "$DIR/input"
for f in 1 2 3 4 5 6; do
    awk -v f="$f" 'BEGIN { for (i = 0; i < 30000; i++) printf "w%d%s", (i * 7919 + f) % 1009, (i % 10 == 9 ? "\n" : " ") }' \
        > "$DIR/input/part$f.txt"
done
cat "$DIR"/input/* | tr -s ' \n' '\n' | sort | uniq -c | awk '{ print $2 "\t" $1 }' | sort > "$DIR/expected"

# run NAME PORT ARGS...: starts the driver (ember-test-app $SUBCOMMAND, default wordcount) on h1 (binding 0.0.0.0, advertising its host name) and
# one executor on each host, in the background; the run's files are in $DIR/NAME (driver.log,
# exec-I.log, events/, local/, out/). Executor I's block manager dir is local/blockmgr-exec-I
# (the driver's has a random name). Sets driver_job (testbed.sh's PID for the driver).
run() {
    local name=$1 port=$2 i
    shift 2
    local d=$DIR/$name
    local output=(--output "$d/out")
    [ "${SUBCOMMAND:-}" = sleep ] && output=()  # the sleep job writes nothing
    mkdir -p "$d/events" "$d/local"
    for i in 1 2 3; do
        on "h$i" env EMBER_BLOCKMGR_DIR_NAME="blockmgr-exec-$i" "$APP" --ember-executor --driver-url "ember://CoarseGrainedScheduler@$H1:$port" \
            --executor-id "$i" --cores 1 --memory 512 --hostname "$P-h$i" > "$d/exec-$i.log" 2>&1 &
    done
    on h1 "$APP" "${SUBCOMMAND:-wordcount}" --master 'cluster[3]' --conf ember.driver.bindAddress=0.0.0.0 \
        --conf ember.driver.host="$H1" --conf ember.driver.port="$port" \
        --conf ember.eventLog.enabled=true --conf ember.eventLog.dir="$d/events" \
        --conf ember.local.dir="$d/local" "${HEARTBEATS[@]}" "${output[@]}" "$@" \
        > "$d/driver.log" 2>&1 &
    driver_job=$!
}
# finished NAME [EXPECTED]: the driver's exit status is 0 and the output equals EXPECTED
# ($DIR/expected: the shell's word counts)
finished() {
    local d=$DIR/$1 expected=${2:-$DIR/expected}
    wait "$driver_job"
    local status=$?
    expect_eq "$1: the driver exits with 0" 0 "$status"
    cat "$d"/out/part-* 2> /dev/null | sort > "$d/actual"
    check "$1: the output equals the oracle's ($(wc -l < "$expected") lines)" cmp -s "$expected" "$d/actual"
    check "$1: no executor is left on the hosts" wait_for 15 no_app
    check "$1: no blockmgr-* dir is left" test -z "$(find "$d/local" -name 'blockmgr-*' 2> /dev/null)"
}
events() { cat "$DIR/$1"/events/* 2> /dev/null; }
# tasks FIELD [EXECUTOR]: the sum of FIELD (completedTasks, activeTasks) over the executors (or
# one executor) in the driver's REST API, queried on h1 while the driver runs
tasks() {
    on h1 python3 -c '
import json, sys, urllib.request
base = "http://%s:4040/api/v1/applications" % sys.argv[1]
app = json.load(urllib.request.urlopen(base, timeout=2))[0]["id"]
ex = json.load(urllib.request.urlopen("%s/%s/executors" % (base, app), timeout=2))
print(sum(e[sys.argv[2]] for e in ex if e["id"] != "driver" and sys.argv[3] in ("", e["id"])))' \
        "$H1" "$1" "${2:-}" 2> /dev/null || echo 0
}
# listening HOST: the local address:port of HOST's listening TCP sockets
listening() { on "$1" ss -Hltn | awk '{ print $4 }'; }
# peers HOST: the remote ends of HOST's established TCP connections
peers() { on "$1" ss -Htn state established | awk '{ print $4 }'; }
# record FILE COMMAND...: appends COMMAND's output to FILE every 0.1 s while the driver runs, so
# that a check made after a short job (or on a loaded machine, where each `on` is slow) still
# sees the ports its executors bound and the connections they made during it (an executor can
# connect, run its tasks and exit between two one-off looks)
record() {
    local file=$1
    shift
    while alive "$driver_job"; do "$@" >> "$file"; sleep 0.1; done
}

# 1. Bind vs advertise; a cached RDD read PROCESS_LOCAL. The lines are cached and counted in a
# first job; the word count's map tasks then read the cached blocks where they are.
t=$(now)
run bind 7101 --partitions 6 --ms 400 --cache "$DIR/input"
for i in 2 3; do
    record "$DIR/bind/listening-h$i" listening "h$i" &
    record "$DIR/bind/peers-h$i" peers "h$i" &
done
check "bind: the driver started" wait_for 30 in_log "$DIR/bind/driver.log" '^started'
expect_eq "bind: the driver listens on 0.0.0.0:7101" "0.0.0.0:7101" "$(listening h1 | grep ':7101$')"
for i in 2 3; do
    check "bind: the executor on h$i is connected to the driver at $H1's address ($A1:7101)" \
        wait_for 20 grep -qsx "$A1:7101" "$DIR/bind/peers-h$i"
    # Waits: an executor first fetches the app's configuration from the driver over a client-only
    # connection (Spark's driverPropsFetcher), and binds its own port only after that.
    check "bind: the executor on h$i listens on its own host's address" \
        wait_for 20 grep -qs "^$("$bed" addr "h$i"):" "$DIR/bind/listening-h$i"
done
finished bind
echo "time: bind vs advertise run took $(elapsed "$t") s"
expect_eq "bind: executors advertised the three hosts" "$(printf '%s\n' "$H1" "$H2" "$H3")" \
    "$(events bind | grep '"Event":"SparkListenerExecutorAdded"' | sed -n 's/.*"Host":"\([^"]*\)".*/\1/p' | sort)"
expect_eq "bind: the driver's block manager advertised $H1" "$H1" \
    "$(events bind | grep '"Event":"SparkListenerBlockManagerAdded"' | grep '"Executor ID":"driver"' |
       sed -n 's/.*"Host":"\([^"]*\)".*/\1/p')"
# The word count's map stage (stage 1, after the caching job's stage 0) read cached blocks.
expect_eq "bind: the cached RDD's second job ran PROCESS_LOCAL" "PROCESS_LOCAL 6" \
    "$(events bind | grep '"Event":"SparkListenerTaskEnd"' | grep '"Stage ID":1,' |
       sed -n 's/.*"Locality":"\([A-Z_]*\)".*/\1/p' | sort | uniq -c | awk '{ print $2, $1 }')"

# Reduce locality: reduce task k reads map task k's output only, so it prefers that task's host and
# runs there NODE_LOCAL (the executors have a free core each: no fall-back to ANY).
t=$(now)
SUBCOMMAND=locality run locality 7104 --partitions 6
for k in 0 1 2 3 4 5; do printf '%d\t1000\n' "$k"; done | sort > "$DIR/locality.expected"
finished locality "$DIR/locality.expected"
echo "time: locality run took $(elapsed "$t") s"
# "map task's host -> reduce task's host locality" per partition, from the event log's TaskEnds
expect_eq "locality: every reduce task ran NODE_LOCAL on its map task's host" \
    "$(printf 'same NODE_LOCAL\n%.0s' 1 2 3 4 5 6)" \
    "$(events locality | python3 -c '
import json, sys
tasks = {}
for line in sys.stdin:
    e = json.loads(line)
    if e.get("Event") == "SparkListenerTaskEnd" and not e["Task Info"]["Failed"]:
        tasks[(e["Stage ID"], e["Task Info"]["Index"])] = e["Task Info"]
for k in range(6):
    m, r = tasks.get((0, k)), tasks.get((1, k))
    print("same" if m and r and m["Host"] == r["Host"] else "different", r and r["Locality"])
')"

# Delay scheduling across hosts: six 1.5 s tasks all prefer h1, whose executor has one core; the
# first runs there NODE_LOCAL, and the others, finding no free core on h1 for ember.locality.wait
# (1 s), fall back to ANY on h2 and h3 (Spark's delay scheduling; placement_test checks the same
# on one host with a manual clock).
t=$(now)
SUBCOMMAND=sleep run fallback 7105 --tasks 6 --ms 1500 --prefer-host "$H1" --conf ember.locality.wait=1s
wait "$driver_job"
expect_eq "fallback: the driver exits with 0" 0 "$?"
check "fallback: all six tasks ran" in_log "$DIR/fallback/driver.log" '^done 6$'
check "fallback: no executor is left on the hosts" wait_for 15 no_app
echo "time: locality fall-back run took $(elapsed "$t") s"
# "h1: <levels of tasks on h1> elsewhere: <levels of the others> (N tasks, the first after W ms)"
placement=$(events fallback | python3 -c '
import json, sys
h1, submitted, tasks = sys.argv[1], None, []
for line in sys.stdin:
    e = json.loads(line)
    if e.get("Event") == "SparkListenerStageSubmitted":
        submitted = e["Stage Info"]["Submission Time"]
    elif e.get("Event") == "SparkListenerTaskEnd" and not e["Task Info"]["Failed"]:
        i = e["Task Info"]
        tasks.append((i["Host"], i["Locality"], i["Launch Time"]))
here = sorted({l for h, l, _ in tasks if h == h1})
away = [(l, t) for h, l, t in tasks if h != h1]
print("h1:", ",".join(here), "elsewhere:", ",".join(sorted({l for l, _ in away})),
      "(%d tasks, the first after %d ms)" % (len(away), min((t - submitted for _, t in away), default=-1)))' "$H1")
echo "info: fallback: $placement"
check "fallback: tasks ran NODE_LOCAL on h1 and ANY on h2 and h3 ($placement)" \
    eval '[[ $placement =~ ^h1:\ NODE_LOCAL\ elsewhere:\ ANY\ \(([2-5])\ tasks ]]'
first_away=$(sed -n 's/.*the first after \(-\?[0-9]*\) ms.*/\1/p' <<< "$placement")
check "fallback: no task left h1 before ember.locality.wait (first after $first_away ms)" test "${first_away:-0}" -ge 1000

# 2. A network cut mid-job: h3 loses the driver's host once one of its tasks has finished (so it
# holds map output), the driver expires it and recomputes; then the cut is healed.
t=$(now)
run cut 7102 --partitions 9 --ms 2000 "$DIR/input"
h3_finished() { (($(tasks completedTasks 3) > 0)); }
check "cut: a task finished on h3" wait_for 60 h3_finished
"$bed" cut h3 h1
tc=$(now)
expired() { in_log "$DIR/cut/driver.log" 'executor 3 with no recent heartbeats'; }
check "cut: the driver expired h3's executor on heartbeat timeout" wait_for 20 expired
echo "time: cut to expiry took $(elapsed "$tc") s"
"$bed" heal h3
told() { in_log "$DIR/cut/exec-3.log" 'Executor 3 was removed by the driver'; }
check "cut: after heal, h3's executor is told it was removed and exits" wait_for 10 told
finished cut
echo "time: network cut run took $(elapsed "$t") s"
check "cut: h3's executor was lost" eval "events cut | grep '\"Event\":\"SparkListenerExecutorRemoved\"' | grep -q '\"Executor ID\":\"3\"'"

# 3. SIGKILL of the driver once every executor runs a task: every executor exits and leaves no
# blockmgr-* dir.
t=$(now)
run kill 7103 --partitions 6 --ms 30000 "$DIR/input"
all_running() { (($(tasks activeTasks) >= 3)); }
check "kill: the job runs tasks" wait_for 60 all_running
expect_eq "kill: the executors' block manager dirs exist" "blockmgr-exec-1 blockmgr-exec-2 blockmgr-exec-3" \
    "$(cd "$DIR/kill/local" && echo blockmgr-exec-*)"
driver_pid=$(for p in $(app_pids "$H1"); do [[ $(cmdline "$p") == "$APP wordcount "* ]] && echo "$p"; done)
check "kill: the driver process is found" test -n "$driver_pid"
tk=$(now)
kill -KILL "$driver_pid"
wait "$driver_job"
check "kill: no executor is left on any host within 15 s" wait_for 15 no_app
echo "time: driver SIGKILL to no executor took $(elapsed "$tk") s"
# (The driver's own dir stays: nothing removes it after a SIGKILL, in Spark neither.)
expect_eq "kill: no executor's blockmgr-* dir is left" "" "$(find "$DIR/kill/local" -name 'blockmgr-exec-*' 2> /dev/null)"
echo "time: driver kill run took $(elapsed "$t") s"

if ((failed > 0)); then
    for f in "$DIR"/*/driver.log "$DIR"/*/exec-*.log; do echo "== $f"; tail -n 30 "$f"; done
fi
