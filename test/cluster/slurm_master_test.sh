#!/usr/bin/env bash
# Master `slurm` on the multi-host test bed (test/cluster/testbed.sh) with three hosts: the word
# count driver runs in an `sbatch -N3 --ntasks-per-node=1 -c1` job with `--master slurm` and starts
# its three executors itself as srun steps of that job. Checked from outside: the counts equal the
# shell's, the executors registered from three different node names, shuffle blocks were fetched
# between hosts; `scancel` of an executor's step while the job runs brings a replacement executor
# (a new step) and still the exact counts; outside an allocation master slurm fails with one clear
# line; after each job no ember process is left on any host. Needs root and EMBER_WORDCOUNT:
# skipped (exit 77) otherwise.
set -uo pipefail
shopt -s extglob

if [ "$(id -u)" -ne 0 ] || [ -z "${EMBER_WORDCOUNT:-}" ]; then
    echo "SKIP: needs root (the test bed) and EMBER_WORDCOUNT"
    exit 77
fi

bed=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/testbed.sh
export EMBER_TESTBED_PREFIX=embersl$$
export EMBER_TESTBED_DIR=/run/$EMBER_TESTBED_PREFIX-testbed
export EMBER_TESTBED_CPUS=2 EMBER_TESTBED_MEMORY=2048
P=$EMBER_TESTBED_PREFIX
DIR=$EMBER_TESTBED_DIR
H1=$P-h1 H2=$P-h2 H3=$P-h3

# check, expect_eq, wait_for, now, elapsed, on, alive
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# only_slurmd: no process but slurmd runs on the hosts (no driver, srun, slurmstepd or executor)
only_slurmd() { local h p; for h in "$H1" "$H2" "$H3"; do for p in $(ip netns pids "$h"); do
    alive "$p" && [ "$(ps -o comm= -p "$p")" != slurmd ] && return 1; done; done; return 0; }
ember_left() { local h p; for h in "$H1" "$H2" "$H3"; do for p in $(ip netns pids "$h"); do
    alive "$p" && tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null | grep -q -- "${EMBER_WORDCOUNT##*/}" && echo "$h:$p"; done; done; }

finish() {
    "$bed" down > /dev/null 2>&1 || true
    echo "$passed passed, $failed failed"
    ((failed == 0 && passed > 0))
}
trap 'finish; exit $?' EXIT
trap 'echo "FAILED: interrupted"; failed=$((failed + 1)); exit 143' TERM INT

t=$(now)
if ! "$bed" up 3; then
    echo "FAILED: testbed.sh up 3"
    failed=$((failed + 1))
    exit 1
fi
echo "time: up 3 took $(elapsed "$t") s"

mkdir -p "$DIR/input"
for f in 1 2 3 4 5 6; do
    awk -v f="$f" 'BEGIN { for (i = 0; i < 900000; i++) printf "w%d%s", (i * 7919 + f) % 5003, (i % 10 == 9 ? "\n" : " ") }' \
        > "$DIR/input/part$f.txt"
done
awk '{ for (i = 1; i <= NF; i++) n[$i]++ } END { for (w in n) print w "\t" n[w] }' "$DIR"/input/* | sort > "$DIR/expected"

# run NAME [wordcount args]: the word count with --master slurm in an sbatch job of three nodes,
# one task of one CPU per node; sets $job; its output is $DIR/NAME.out
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
exec "$EMBER_WORDCOUNT" --master slurm --conf ember.eventLog.enabled=true --conf ember.eventLog.dir="$DIR/$name-events" \\
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
run cancel
started() { grep -q '^Started 3 executor processes' "$DIR/cancel.out" 2> /dev/null || job_ended; }
check "the driver started three executors" wait_for 60 started
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

# 3. SIGKILL of the driver while the job runs, in a batch script that outlives it: its srun
# steps end (srun gets SIGTERM when the driver dies and forwards it to the executors), so no
# executor is left although the allocation still runs.
f0=$failed
mkdir -p "$DIR/kill-local"
cat > "$DIR/kill.sh" <<END
#!/bin/bash
"$EMBER_WORDCOUNT" --master slurm --conf ember.local.dir="$DIR/kill-local" --partitions 12 "$DIR/input"
echo "driver exit \$?"
sleep 300
END
job=$(on h1 sbatch --parsable -N3 --ntasks-per-node=1 -c1 -o "$DIR/kill.out" "$DIR/kill.sh")
started() { grep -q '^Started 3 executor processes' "$DIR/kill.out" 2> /dev/null || job_ended; }
check "the driver started three executors" wait_for 60 started
driver=$(for p in $(ip netns pids "$H1"); do
    [[ $(tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null) == "$EMBER_WORDCOUNT --master slurm"* ]] && echo "$p"; done)
check "the driver runs on $H1 (pid $driver)" test -n "$driver"
t=$(now)
kill -KILL $driver
no_ember() { test -z "$(ember_left)"; }
check "no executor is left on any host after the driver's SIGKILL" wait_for 20 no_ember
echo "time: SIGKILL of the driver to no executor left took $(elapsed "$t") s"
expect_eq "the allocation still runs" "JobState=RUNNING" "$(job_state)"
only_batch_step() { [ "$(on ctl squeue -h -s -j "$job" -o %i)" = "$job.batch" ]; }
check "and has no step left but its batch step" wait_for 10 only_batch_step
# (Not checked: srun forwards the SIGTERM, but the step is killed before the executors finish
# their clean-up, so blockmgr dirs of executors and driver stay after a driver's SIGKILL; counted
# for the record.)
echo "info: blockmgr dirs left after the driver's SIGKILL: $(cd "$DIR" && ls -d kill-local/blockmgr-* 2> /dev/null | wc -l)"
expect_eq "no blockmgr dir is left by the two complete runs" "" "$(cd "$DIR" && ls -d wc-local/blockmgr-* cancel-local/blockmgr-* 2> /dev/null)"
on ctl scancel "$job"
wait_for 30 job_ended
check "nothing but slurmd runs on the hosts after scancel of the job" wait_for 10 only_slurmd
((failed == f0)) || { echo "kill job output:"; cat "$DIR/kill.out"; }

# 4. Outside an allocation: one clear line, exit 1, nothing started.
out=$(on h1 "$EMBER_WORDCOUNT" --master slurm "$DIR/input" 2>&1)
status=$?
expect_eq "outside an allocation master slurm fails with exit 1" 1 "$status"
check "and says so in one line ($(grep -c . <<< "$out") lines)" \
    grep -q 'master slurm needs a Slurm allocation: run the driver with sbatch or salloc' <<< "$out"
expect_eq "no ember process is left" "" "$(ember_left)"
