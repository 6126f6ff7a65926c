#!/usr/bin/env bash
# The multi-host test bed (test/cluster/testbed.sh) with three hosts, checked from outside:
# Slurm runs jobs on the three hosts under their own hostnames, with the CPUs and memory asked for;
# every host reaches every other host's address and nothing outside the bed; a batch job runs two
# steps across two nodes; ember's word count runs its driver in a batch job and one executor per
# node through srun (EMBER_WORDCOUNT; skipped when unset), with exact counts and executors on three
# hosts; an nftables cut between two hosts stops their traffic and healing it restores it;
# scancel of a running step leaves no step daemon or task; `down` leaves no process, namespace,
# mount or state behind, and a second `down` does nothing. Needs root: skipped (exit 77)
# otherwise. Timings of `up` and `down` are printed.
set -uo pipefail
shopt -s extglob

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the test bed needs root (network namespaces, Slurm and munge daemons)"
    exit 77
fi

bed=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/testbed.sh
# A prefix and state dir of this run only, so a contributor's own bed (prefix ember) is untouched.
export EMBER_TESTBED_PREFIX=embertest$$
export EMBER_TESTBED_DIR=/run/$EMBER_TESTBED_PREFIX-testbed
export EMBER_TESTBED_CPUS=2 EMBER_TESTBED_MEMORY=2048  # the allocation check below expects these
P=$EMBER_TESTBED_PREFIX
DIR=$EMBER_TESTBED_DIR
H1=$P-h1 H2=$P-h2 H3=$P-h3

# check, expect_eq, wait_for, now, elapsed, on, alive, bed_up, only_slurmd
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# connects HOST PEER: a TCP connection from HOST to the Slurm daemon on PEER (slurmctld on ctl,
# slurmd on the others) is accepted
connects() {
    local port=6818
    [ "$2" = ctl ] && port=6817
    on "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$("$bed" addr "$2")/$port" 2> /dev/null
}
refused() { ! connects "$@"; }
none_alive() { local p; for p in "$@"; do alive "$p" && return 1; done; return 0; }
cmdline() { tr '\0' ' ' < "/proc/$1/cmdline" 2> /dev/null; }

bed_up 3
netns_inodes=()
for h in "$P-br" "$P-ctl" "$H1" "$H2" "$H3"; do netns_inodes+=("$(stat -L -c %i "/run/netns/$h")"); done
daemon_pids=$(cat "$DIR"/pids/*)
check "a second up of the same bed is refused" eval '! "$bed" up 3 2> /dev/null'
check "a host outside the bed is refused" eval '! on h4 true 2> /dev/null'
expect_eq "the daemons still run after the refused up" "$daemon_pids" \
    "$(for p in $daemon_pids; do alive "$p" && echo "$p"; done)"

# Slurm: one task per node lands on the three hosts, each under its own hostname, and the node
# names Slurm gives its tasks are those hostnames.
expect_eq "srun -N3 hostname gives the three hosts" "$(printf '%s\n' "$H1" "$H2" "$H3")" \
    "$(on ctl srun -N3 hostname | sort)"
expect_eq "SLURMD_NODENAME is the hostname on every node" "$(printf '%s=%s\n' "$H1" "$H1" "$H2" "$H2" "$H3" "$H3")" \
    "$(on h1 srun -N3 bash -c 'echo $SLURMD_NODENAME=$(hostname)' | sort)"
expect_eq "a whole node's CPUs and memory are allocated" "cpu=2,mem=2G" \
    "$(on h2 srun -N1 -n2 --mem=2048 -w "$H3" bash -c 'scontrol show node $SLURMD_NODENAME' | sort -u |
       sed -n 's/^ *AllocTRES=//p')"

# Addresses: every host reaches every other one, ctl included; the hosts have no route beyond the
# bed's subnet, and the root namespace has no address in it.
for a in ctl h1 h2 h3; do
    for b in ctl h1 h2 h3; do
        [ "$a" = "$b" ] || check "$a connects to $b ($("$bed" addr "$b"))" connects "$a" "$b"
    done
done
subnet=$("$bed" addr h1)
subnet=${subnet%.*}
expect_eq "hosts have no default route" "" "$(for h in ctl h1 h2 h3; do on "$h" ip route show default; done)"
expect_eq "the root namespace has no address in $subnet.0/24" "" "$(ip -4 -o addr show | grep -F " $subnet." || true)"

# Two steps of one batch job across two nodes: the batch script runs on the first node, each step
# runs one task on each node, and the steps are numbered 0 and 1.
out=$DIR/two-steps.out
cat > "$DIR/two-steps.sh" <<'EOF'
#!/bin/bash
echo "batch on $(hostname) nodes $SLURM_JOB_NODELIST"
srun -l hostname | sort
srun -l bash -c 'echo step $SLURM_STEP_ID on $SLURMD_NODENAME' | sort
EOF
t=$(now)
# (sbatch --wait polls every few seconds; scontrol shows the state at once.)
batch_job=$(on h1 sbatch --parsable -N2 --ntasks-per-node=1 -o "$out" "$DIR/two-steps.sh")
job_state() { on ctl scontrol show job "$batch_job" | grep -o 'JobState=[A-Z]*'; }
job_ended() { [[ $(job_state) != *@(PENDING|RUNNING|CONFIGURING|COMPLETING) ]]; }
wait_for 60 job_ended
expect_eq "the batch job completed" "JobState=COMPLETED" "$(job_state)"
echo "time: the two-step batch job took $(elapsed "$t") s"
first=$(sed -n 's/^batch on \([^ ]*\) .*/\1/p' "$out")
step0=$(sed -n '2,3s/^[01]: //p' "$out")
check "the batch script ran on one of the hosts ($first)" grep -qxE "$P-h[123]" <<< "$first"
expect_eq "step 0 ran one task on each of two hosts, task 0 on the batch host" "$first 2" \
    "$(head -1 <<< "$step0") $(sort -u <<< "$step0" | grep -cxE "$P-h[123]")"
expect_eq "step 1 ran on the same nodes" "$(printf '0: step 1 on %s\n1: step 1 on %s' $step0)" \
    "$(sed -n '4,5p' "$out")"

# ember across the hosts (when meson passes EMBER_WORDCOUNT): a batch job of three nodes runs the
# word count driver on its first node and one executor per node as the tasks of one srun step,
# each advertising its Slurm node name. The counts equal the shell's, the three executors
# registered from three hosts, shuffle blocks were fetched between hosts, and no executor is left.
if [ -n "${EMBER_WORDCOUNT:-}" ]; then
    mkdir -p "$DIR/wc-input" "$DIR/wc-events"
    for f in 1 2 3 4; do
        awk -v f="$f" 'BEGIN { for (i = 0; i < 20000; i++) printf "w%d%s", (i * 7919 + f) % 1009, (i % 10 == 9 ? "\n" : " ") }' \
            > "$DIR/wc-input/part$f.txt"
    done
    cat > "$DIR/wordcount.sh" <<END
#!/bin/bash
export EMBER_TEST_DRIVER=\$(hostname)
srun --exact -n 3 -c 1 --mem=512 bash -c 'exec "$EMBER_WORDCOUNT" --ember-executor \\
    --driver-url ember://CoarseGrainedScheduler@\$EMBER_TEST_DRIVER:7077 --executor-id \$((SLURM_PROCID + 1)) \\
    --cores 1 --memory 512 --hostname \$SLURMD_NODENAME' &
"$EMBER_WORDCOUNT" --master 'cluster[3]' --conf ember.driver.host=\$(hostname) --conf ember.driver.port=7077 \\
    --conf ember.eventLog.enabled=true --conf ember.eventLog.dir="$DIR/wc-events" \\
    --partitions 6 --output "$DIR/wc-output" "$DIR/wc-input"
status=\$?
wait
exit \$status
END
    t=$(now)
    batch_job=$(on h1 sbatch --parsable -N3 --ntasks-per-node=1 -c 2 --mem=1024 -o "$DIR/wc.out" "$DIR/wordcount.sh")
    wait_for 120 job_ended
    echo "time: word count across the bed took $(elapsed "$t") s"
    expect_eq "the word count job completed" "JobState=COMPLETED" "$(job_state)"
    cat "$DIR"/wc-input/* | tr -s ' \n' '\n\n' | sort | uniq -c | awk '{ print $2 "\t" $1 }' | sort > "$DIR/wc.expected"
    cat "$DIR"/wc-output/part-* 2> /dev/null | sort > "$DIR/wc.actual"
    check "word counts equal the shell's ($(wc -l < "$DIR/wc.expected") words)" cmp -s "$DIR/wc.expected" "$DIR/wc.actual"
    expect_eq "executors registered from the three hosts" "$(printf '%s\n' "$H1" "$H2" "$H3")" \
        "$(grep -h '"Event":"SparkListenerExecutorAdded"' "$DIR"/wc-events/* 2> /dev/null |
           sed -n 's/.*"Host":"\([^"]*\)".*/\1/p' | sort)"
    remote=$(sed -n 's/.*remote [0-9.]* [KMGi]*B (\([0-9]*\) B).*/\1/p' "$DIR/wc.out" | awk '{ s += $1 } END { print s + 0 }')
    check "shuffle blocks were fetched between hosts ($remote B)" test "$remote" -gt 0
    check "no executor is left on the hosts" wait_for 10 only_slurmd
    ((failed == 0)) || { echo "word count job output:"; cat "$DIR/wc.out"; }
fi

# A cut with nftables in h1's namespace: h1 and h2 no longer reach each other (either way), the
# others still do; healing restores it.
"$bed" cut h1 h2
check "cut: h1 cannot reach h2" refused h1 h2
check "cut: h2 cannot reach h1" refused h2 h1
check "cut: h1 still reaches h3" connects h1 h3
check "cut: h3 still reaches h2" connects h3 h2
"$bed" heal h1
check "healed: h1 reaches h2" connects h1 h2
check "healed: h2 reaches h1" connects h2 h1

# scancel of a running step: srun returns, and neither the task nor its slurmstepd is left.
on h1 srun -N1 -w "$H2" sleep 3141 > "$DIR/srun.out" 2>&1 &
srun_pid=$!
task_pid() { local p; for p in $(ip netns pids "$H2"); do [[ $(cmdline "$p") == *"sleep 3141"* ]] && echo "$p"; done; }
job() { on ctl squeue -h -t R -o %A -w "$H2"; }
task_running() { test -n "$(task_pid)"; }
check "the step's task runs on h2" wait_for 20 task_running
sleep_pid=$(task_pid)
stepd_pids=$(for p in $(ip netns pids "$H2"); do [[ $(cmdline "$p") == slurmstepd* ]] && echo "$p"; done)
check "a slurmstepd runs the step" test -n "$stepd_pids"
t=$(now)
on ctl scancel "$(job).0"
srun_done() { ! alive "$srun_pid"; }
check "srun returns after scancel" wait_for 20 srun_done
wait "$srun_pid"
check "the task is gone" wait_for 20 none_alive $sleep_pid
check "the step's slurmstepd is gone" wait_for 20 none_alive $stepd_pids
echo "time: scancel to no step left took $(elapsed "$t") s"
check "nothing but slurmd runs on the hosts" wait_for 10 only_slurmd
check "no job is left" test -z "$(on ctl squeue -h)"

# down: no process of the bed (daemons, steps, anything in its namespaces), no namespace, mount
# or state dir; a second down does nothing and succeeds.
t=$(now)
check "down succeeds" "$bed" down
echo "time: down took $(elapsed "$t") s"
# shellcheck disable=SC2086
check "the daemons are gone" none_alive $daemon_pids
in_bed=()
for p in /proc/[0-9]*; do
    i=$(stat -L -c %i "$p/ns/net" 2> /dev/null) || continue
    for n in "${netns_inodes[@]}"; do [ "$i" = "$n" ] && in_bed+=("${p#/proc/}"); done
done
expect_eq "no process is left in the bed's namespaces" "" "${in_bed[*]}"
expect_eq "no namespace of the bed is left" "" "$(ip netns list | grep "^$P-" || true)"
expect_eq "no mount of the bed is left" "" "$(grep -F "$DIR" /proc/mounts || true)"
check "the state dir is gone" test ! -e "$DIR"
check "a second down succeeds" "$bed" down
