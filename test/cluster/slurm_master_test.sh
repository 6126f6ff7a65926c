#!/usr/bin/env bash
# Master `slurm` on the multi-host test bed (test/cluster/testbed.sh) with three hosts: the word
# count driver runs in an `sbatch -N3 --ntasks-per-node=1 -c1` job with `--master slurm` and starts
# its three executors itself as srun steps of that job. Checked from outside: the counts equal the
# shell's, the executors registered from three different node names, shuffle blocks were fetched
# between hosts; `scancel` of an executor's step while the job runs brings a replacement executor
# (a new step) and still the exact counts; outside an allocation master slurm fails with one clear
# line; after each job no ember process is left on any host; after a SIGKILL of the driver no
# executor dir is left, and after scancel of the whole job no dir at all (the driver's shutdown
# hook). Needs root and EMBER_WORDCOUNT:
# skipped (exit 77) otherwise.
set -uo pipefail
shopt -s extglob

if [ "$(id -u)" -ne 0 ] || [ -z "${EMBER_WORDCOUNT:-}" ] || [ -z "${EMBER_TEST_APP:-}" ]; then
    echo "SKIP: needs root (the test bed), EMBER_WORDCOUNT and EMBER_TEST_APP"
    exit 77
fi

bed=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/testbed.sh
export EMBER_TESTBED_PREFIX=embersl$$
export EMBER_TESTBED_DIR=/run/$EMBER_TESTBED_PREFIX-testbed
export EMBER_TESTBED_CPUS=2 EMBER_TESTBED_MEMORY=2048
P=$EMBER_TESTBED_PREFIX
DIR=$EMBER_TESTBED_DIR
H1=$P-h1 H2=$P-h2 H3=$P-h3

# check, expect_eq, wait_for, now, elapsed, on, alive, bed_up, only_slurmd
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ember_left() { local h p; for h in "$H1" "$H2" "$H3"; do for p in $(ip netns pids "$h"); do
    alive "$p" && tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null |
        grep -q -e "${EMBER_WORDCOUNT##*/}" -e "${EMBER_TEST_APP##*/}" && echo "$h:$p"; done; done; }
# The jobs that are signalled or cancelled mid-run use ember-test-app's word count, whose map tasks
# sleep 1 s each (12 tasks on 3 one-core executors: about 4 s), so each part hits a running job.
SLOW=("$EMBER_TEST_APP" wordcount --ms 1000)

bed_up 3

mkdir -p "$DIR/input"
for f in 1 2 3 4 5 6; do
    awk -v f="$f" 'BEGIN { for (i = 0; i < 900000; i++) printf "w%d%s", (i * 7919 + f) % 5003, (i % 10 == 9 ? "\n" : " ") }' \
        > "$DIR/input/part$f.txt"
done
awk '{ for (i = 1; i <= NF; i++) n[$i]++ } END { for (w in n) print w "\t" n[w] }' "$DIR"/input/* | sort > "$DIR/expected"

# run NAME [wordcount args]: the word count (the command in $APP, default the wordcount example)
# with --master slurm in an sbatch job of three nodes, one task of one CPU per node; sets $job;
# its output is $DIR/NAME.out
run() {
    local name=$1
    shift
    mkdir -p "$DIR/$name-events" "$DIR/$name-local"
    if [ "$name" = wc ] && [ -n "${EMBER_SUBMIT:-}" ]; then  # the first run as a user submits it
        cat > "$DIR/$name.sh" <<END
#!/bin/bash
exec "$EMBER_SUBMIT" --master slurm --num-executors 3 --conf ember.eventLog.enabled=true \\
    --conf ember.eventLog.dir="$DIR/$name-events" --conf ember.local.dir="$DIR/$name-local" \\
    "$EMBER_WORDCOUNT" --partitions 12 --output "$DIR/$name-output" $* "$DIR/input"
END
    else
        cat > "$DIR/$name.sh" <<END
#!/bin/bash
exec ${APP:-"$EMBER_WORDCOUNT"} --master slurm --conf ember.eventLog.enabled=true --conf ember.eventLog.dir="$DIR/$name-events" \\
    --conf ember.local.dir="$DIR/$name-local" --partitions 12 --output "$DIR/$name-output" $* "$DIR/input"
END
    fi
    job=$(on h1 sbatch --parsable -N3 --ntasks-per-node=1 -c1 -o "$DIR/$name.out" "$DIR/$name.sh")
}
job_state() { on ctl scontrol show job "$job" | grep -o 'JobState=[A-Z]*'; }
job_ended() { [[ $(job_state) != *@(PENDING|RUNNING|CONFIGURING|COMPLETING) ]]; }
executor_hosts() {  # the hosts of the executors that registered in run $1, one per line
    grep -h '"Event":"SparkListenerExecutorAdded"' "$DIR/$1-events"/* 2> /dev/null | sed -n 's/.*"Host":"\([^"]*\)".*/\1/p'
}
executors() {  # "ID HOST" of the executors that registered in run $1, one per line
    grep -h '"Event":"SparkListenerExecutorAdded"' "$DIR/$1-events"/* 2> /dev/null |
        sed -n 's/.*"Executor ID":"\([^"]*\)".*"Host":"\([^"]*\)".*/\1 \2/p'
}
counts_exact() { cat "$DIR/$1-output"/part-* 2> /dev/null | sort | cmp -s "$DIR/expected" -; }

# 1. The word count across the three hosts, submitted with ember-submit --master slurm
#    --num-executors 3 (when EMBER_SUBMIT is given, as meson does).
t=$(now)
run wc
wait_for 120 job_ended
echo "time: word count with --master slurm took $(elapsed "$t") s"
expect_eq "the word count job completed" "JobState=COMPLETED" "$(job_state)"
check "word counts equal the shell's ($(wc -l < "$DIR/expected") words)" counts_exact wc
expect_eq "executors registered from the three node names" "$(printf '%s\n' "$H1" "$H2" "$H3")" "$(executor_hosts wc | sort)"
remote=$(sed -n 's/.*remote [0-9.]* [KMGi]*B (\([0-9]*\) B).*/\1/p' "$DIR/wc.out" | awk '{ s += $1 } END { print s + 0 }')
check "shuffle blocks were fetched between hosts ($remote B)" test "$remote" -gt 0
check "no ember process or step is left on the hosts" wait_for 10 only_slurmd
((failed == 0)) || { echo "word count job output:"; cat "$DIR/wc.out"; }

# 2. scancel of an executor's step while the job runs: the driver starts a replacement executor
# as a new step of the job, the lost tasks run again and the counts are still exact.
f0=$failed
APP="${SLOW[*]}" run cancel
started() { grep -q '^started' "$DIR/$1.out" 2> /dev/null || job_ended; }
check "the driver started three executors" wait_for 60 started cancel
step=$(on ctl squeue -h -s -j "$job" -o '%i %j' | awk '$2 ~ /-executor-1$/ { print $1 }')
check "executor 1 runs as a step of the job ($step)" test -n "$step"
t=$(now)
on ctl scancel "$step"
wait_for 120 job_ended
echo "time: scancel to the job's end took $(elapsed "$t") s"
expect_eq "the job completed after the scancel" "JobState=COMPLETED" "$(job_state)"
check "word counts equal the shell's" counts_exact cancel
executor_host() { executors cancel | awk -v id="$1" '$1 == id { print $2 }'; }
expect_eq "executors 0-3 registered: executor 3 replaced executor 1, on its node" "0 1 2 3 $(executor_host 1)" \
    "$(executors cancel | awk '{ print $1 }' | sort -n | tr '\n' ' ')$(executor_host 3)"
check "no ember process or step is left on the hosts" wait_for 10 only_slurmd
if grep -q 'Lost executor 1: .* while running task' "$DIR/cancel.out"; then
    echo "info: the scancel hit executor 1 while it ran a task"
else
    echo "info: the scancel hit executor 1 between tasks"
fi
((failed == f0)) || { echo "cancel job output:"; cat "$DIR/cancel.out"; }

# 3. SIGKILL of the driver while the job runs, in a batch script that outlives it: each executor
# sees its driver's connection drop and exits by itself, removing its dirs, and its srun step
# ends with it, so no executor and no executor dir is left although the allocation still runs.
# (srun is not signalled when the driver dies: it answers SIGTERM by cancelling its step at once,
# which kills the executor before it cleans up.)
f0=$failed
mkdir -p "$DIR/kill-local"
cat > "$DIR/kill.sh" <<END
#!/bin/bash
${SLOW[*]} --master slurm --conf ember.local.dir="$DIR/kill-local" --partitions 12 --output "$DIR/kill-output" "$DIR/input"
echo "driver exit \$?"
sleep 300
END
job=$(on h1 sbatch --parsable -N3 --ntasks-per-node=1 -c1 -o "$DIR/kill.out" "$DIR/kill.sh")
check "the driver started three executors" wait_for 60 started kill
driver=$(for p in $(ip netns pids "$H1"); do
    [[ $(tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null) == "${SLOW[*]} --master slurm"* ]] && echo "$p"; done)
check "the driver runs on $H1 (pid $driver)" test -n "$driver"
t=$(now)
kill -KILL $driver
no_ember() { test -z "$(ember_left)"; }
killed() { grep -q '^driver exit 137$' "$DIR/kill.out"; }
check "the driver died of the SIGKILL, mid-job (exit 137)" wait_for 10 killed
check "no executor is left on any host after the driver's SIGKILL" wait_for 20 no_ember
echo "time: SIGKILL of the driver to no executor left took $(elapsed "$t") s"
expect_eq "the allocation still runs" "JobState=RUNNING" "$(job_state)"
only_batch_step() { [ "$(on ctl squeue -h -s -j "$job" -o %i)" = "$job.batch" ]; }
check "and has no step left but its batch step" wait_for 10 only_batch_step
# The driver's own dir stays (nothing runs in a SIGKILLed process, in Spark neither); the three
# executors' dirs are gone.
expect_eq "only the SIGKILLed driver's own blockmgr dir is left" 1 \
    "$(find "$DIR/kill-local" -maxdepth 1 -name 'blockmgr-*' | wc -l)"
expect_eq "no blockmgr dir is left by the two complete runs" "" "$(cd "$DIR" && ls -d wc-local/blockmgr-* cancel-local/blockmgr-* 2> /dev/null)"
on ctl scancel "$job"
wait_for 30 job_ended
check "nothing but slurmd runs on the hosts after scancel of the job" wait_for 10 only_slurmd
((failed == f0)) || { echo "kill job output:"; cat "$DIR/kill.out"; }

# 3b. scancel of the whole job while the driver runs: Slurm sends SIGTERM to the driver and to
# every executor; the driver's shutdown hook stops its SparkContext (Spark's), so nothing is
# left: no process, no blockmgr dir of the driver or of an executor.
f0=$failed
mkdir -p "$DIR/term-local"
cat > "$DIR/term.sh" <<END
#!/bin/bash
exec ${SLOW[*]} --master slurm --conf ember.local.dir="$DIR/term-local" --partitions 12 --output "$DIR/term-output" "$DIR/input"
END
job=$(on h1 sbatch --parsable -N3 --ntasks-per-node=1 -c1 -o "$DIR/term.out" "$DIR/term.sh")
check "the driver started three executors" wait_for 60 started term
t=$(now)
on ctl scancel "$job"
wait_for 30 job_ended
echo "time: scancel of the job to its end took $(elapsed "$t") s"
check "the job was still running when it was cancelled" eval '! grep -q "^done" "$DIR/term.out"'
check "the driver stopped its context from its shutdown hook" grep -q 'Invoking stop() from shutdown hook' "$DIR/term.out"
check "nothing but slurmd runs on the hosts" wait_for 10 only_slurmd
expect_eq "no blockmgr dir is left, the driver's included" "" "$(find "$DIR/term-local" -maxdepth 1 -name 'blockmgr-*')"
((failed == f0)) || { echo "term job output:"; cat "$DIR/term.out"; }

# 4. Outside an allocation: one clear line, exit 1, nothing started.
out=$(on h1 "$EMBER_WORDCOUNT" --master slurm "$DIR/input" 2>&1)
status=$?
expect_eq "outside an allocation master slurm fails with exit 1" 1 "$status"
check "and says so in one line ($(grep -c . <<< "$out") lines)" \
    grep -q 'master slurm needs a Slurm allocation: run the driver with sbatch or salloc' <<< "$out"
expect_eq "no ember process is left" "" "$(ember_left)"
