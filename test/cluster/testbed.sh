#!/usr/bin/env bash
# A multi-host Slurm test bed on one machine, for tests across real (namespaced) hosts:
#
#   test/cluster/testbed.sh up N          N hosts, a Slurm controller and one slurmd per host
#   test/cluster/testbed.sh exec HOST CMD...  run CMD on HOST (ctl, h1..hN, 1..N or the full name)
#   test/cluster/testbed.sh cut HOST PEER     nftables in HOST's namespace drops traffic with PEER
#   test/cluster/testbed.sh heal HOST         remove every cut made in HOST's namespace
#   test/cluster/testbed.sh status            hosts, addresses, daemons and Slurm's node states
#   test/cluster/testbed.sh env               the bed's variables, as shell assignments
#   test/cluster/testbed.sh addr HOST         HOST's address
#   test/cluster/testbed.sh down              stop and remove everything `up` made (idempotent)
#
# Every host is a network namespace PREFIX-hI with its own UTS namespace (hostname PREFIX-hI),
# loopback and one veth interface eth0 with address SUBNET.I/24 on a bridge. The controller is one
# more such host, PREFIX-ctl at SUBNET.254, running slurmctld and munged. The bridge lives in its
# own namespace PREFIX-br, and no host has a route beyond the subnet, so the bed's traffic stays in
# namespaces this script made (the root namespace has no address in the subnet). All hosts share
# one mount namespace that puts the bed's own /etc/hosts over the machine's, so the host names
# resolve on every host. Several beds run side by side with different prefixes (and state dirs);
# they may use the same subnet, since each has its own bridge namespace.
#
# Slurm is Debian 12's 22.05: slurm.conf, munge's key and socket, logs, spool and state live in
# the state dir (SLURM_CONF points there; /etc/slurm and /etc/munge are not used). Nodes are
# named after their hosts (PREFIX-h1..), each with CPUS CPUs and MEMORY MiB (select/cons_tres,
# CR_Core_Memory), all in partition PREFIX; no cgroups (proctrack/linuxproc, task/none). Daemons
# are entered with nsenter (not `ip netns exec`, which remounts /sys and hides /sys/fs/cgroup,
# after which slurmd refuses to start).
#
# Environment (all optional):
#   EMBER_TESTBED_PREFIX  name prefix of namespaces, hosts and nodes [ember]
#   EMBER_TESTBED_DIR     state dir [/run/PREFIX-testbed]
#   EMBER_TESTBED_SUBNET  first three octets of the /24 [10.77.0]
#   EMBER_TESTBED_CPUS    CPUs per node [2];  EMBER_TESTBED_MEMORY  MiB per node [2048]
# Needs root; `up` installs munge, slurmctld, slurmd, slurm-client and nftables when missing.
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=${EMBER_TESTBED_PREFIX:-ember}
DIR=${EMBER_TESTBED_DIR:-/run/$PREFIX-testbed}
SUBNET=${EMBER_TESTBED_SUBNET:-10.77.0}
CPUS=${EMBER_TESTBED_CPUS:-2}
MEMORY=${EMBER_TESTBED_MEMORY:-2048}
NS=$DIR/ns
CTL=$PREFIX-ctl
BR=$PREFIX-br
PACKAGES=(munge slurmctld slurmd slurm-client nftables iproute2 util-linux procps)

die() { echo "testbed: $*" >&2; exit 1; }
log() { echo "testbed: $*" >&2; }

[[ $PREFIX =~ ^[a-z][a-z0-9-]{0,19}$ ]] || die "EMBER_TESTBED_PREFIX '$PREFIX': want a lowercase letter, then up to 19 of [a-z0-9-]"
[[ $SUBNET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "EMBER_TESTBED_SUBNET '$SUBNET': want three octets, e.g. 10.77.0"
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "EMBER_TESTBED_CPUS '$CPUS': want a positive integer"
[[ $MEMORY =~ ^[1-9][0-9]*$ ]] || die "EMBER_TESTBED_MEMORY '$MEMORY': want a positive integer (MiB)"

hosts_up() {  # number of hosts of the running bed
    cat "$DIR/hosts.count" 2>/dev/null || echo 0
}

# host NAME: the full host name for ctl, hI, I or PREFIX-hI (error if it is not in the bed)
host() {
    local h=$1 n
    n=$(hosts_up)
    case $h in
        ctl|"$CTL") echo "$CTL"; return ;;
        "$PREFIX"-h*) h=${h#"$PREFIX"-h} ;;
        h*) h=${h#h} ;;
    esac
    [[ $h =~ ^[1-9][0-9]*$ ]] && ((h <= n)) || die "no host '$1' in the bed (ctl, h1..h$n)"
    echo "$PREFIX-h$h"
}

addr() {  # addr HOST: the host's address
    local h
    h=$(host "$1")
    if [ "$h" = "$CTL" ]; then echo "$SUBNET.254"; else echo "$SUBNET.${h#"$PREFIX"-h}"; fi
}

# on HOST CMD...: CMD in HOST's network, UTS and the bed's mount namespace
on() {
    local h=$1
    shift
    nsenter --net="/run/netns/$h" --uts="$NS/$h.uts" --mount="$NS/mnt" --wd="$PWD" -- \
        env SLURM_CONF="$DIR/slurm.conf" "$@"
}

# daemon NAME HOST CMD...: starts CMD (in the foreground mode of the daemon) in its own session,
# on HOST, logging to log/NAME.out; records its PID in pids/NAME
daemon() {
    local name=$1 h=$2
    shift 2
    setsid nsenter --net="/run/netns/$h" --uts="$NS/$h.uts" --mount="$NS/mnt" --wd="$DIR" -- \
        env SLURM_CONF="$DIR/slurm.conf" "$@" < /dev/null > "$DIR/log/$name.out" 2>&1 &
    echo $! > "$DIR/pids/$name"
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.1 s until it succeeds; fails at once if a
# daemon `up` started has exited
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2 name
    shift 2
    until "$@" > /dev/null 2>&1; do
        for name in "$DIR"/pids/*; do
            [ -e "$name" ] || continue
            alive "$(cat "$name")" || { log "${name##*/} exited (see $DIR/log/${name##*/}.out)"; return 1; }
        done
        ((SECONDS < deadline)) || { log "timed out waiting for $what"; return 1; }
        sleep 0.1
    done
}

write_slurm_conf() {
    local n=$1 i
    {
        echo "# Written by test/cluster/testbed.sh for the test bed $PREFIX; removed by its down."
        echo "ClusterName=$PREFIX"
        echo "SlurmctldHost=$CTL($SUBNET.254)"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "AuthType=auth/munge"
        echo "CredType=cred/munge"
        echo "AuthInfo=socket=$DIR/munge/munge.socket"
        echo "StateSaveLocation=$DIR/slurmctld"
        echo "SlurmdSpoolDir=$DIR/slurmd/%n"
        echo "SlurmctldPidFile=$DIR/slurmctld/slurmctld.pid"
        echo "SlurmdPidFile=$DIR/slurmd/%n.pid"
        echo "SlurmctldLogFile=$DIR/log/slurmctld.log"
        echo "SlurmdLogFile=$DIR/log/slurmd-%n.log"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "JobCompType=jobcomp/none"
        echo "SwitchType=switch/none"
        echo "MpiDefault=none"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_Core_Memory"
        echo "DefMemPerCPU=$((MEMORY / CPUS / 2))"
        # The nodes are what this file says, whatever the machine has (no drain for "low memory").
        echo "SlurmdParameters=config_overrides"
        echo "ReturnToService=2"
        # scancel: SIGKILL 2 s after SIGTERM (default 30 s).
        echo "KillWait=2"
        echo "InactiveLimit=0"
        echo "MinJobAge=30"
        echo "SlurmdTimeout=30"
        echo "MessageTimeout=10"
        echo "MailProg=/bin/true"
        for ((i = 1; i <= n; i++)); do
            echo "NodeName=$PREFIX-h$i NodeHostname=$PREFIX-h$i NodeAddr=$SUBNET.$i CPUs=$CPUS RealMemory=$MEMORY State=UNKNOWN"
        done
        echo "PartitionName=$PREFIX Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } > "$DIR/slurm.conf"
}

# make_host NAME ADDRESS: network namespace with lo and eth0 on the bridge, and a UTS namespace
make_host() {
    local h=$1 a=$2 port=${1#"$PREFIX"-}
    ip netns add "$h"
    ip link add eth0 netns "$h" type veth peer name "$port" netns "$BR"
    ip -n "$BR" link set "$port" master br0 up
    ip -n "$h" link set lo up
    ip -n "$h" addr add "$a/24" dev eth0
    ip -n "$h" link set eth0 up
    touch "$NS/$h.uts"
    unshare --uts="$NS/$h.uts" hostname "$h"
}

cmd_up() {
    local n=${1:-}
    [[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 250)) || die "up N: want a host count from 1 to 250, got '${n}'"
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, daemons as root and munge)"
    if [ -e "$DIR" ] || [ -e "/run/netns/$BR" ]; then
        die "a bed '$PREFIX' exists already ($DIR); run 'down' first"
    fi
    local start=$SECONDS i
    # shellcheck source=../../apps/bootstrap.sh
    source "$here/../../apps/bootstrap.sh" --no-build
    # Debian starts munge and Slurm's system services on install unless policy-rc.d says no
    # (Docker-style images have one); they would run beside the bed with /etc's config and key.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# testbed.sh: no service starts during its install\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        ember_install "${PACKAGES[@]}" || { rm -f /usr/sbin/policy-rc.d; die "installing ${PACKAGES[*]} failed"; }
        rm -f /usr/sbin/policy-rc.d
    else
        ember_install "${PACKAGES[@]}"
    fi

    mkdir -p "$DIR"/{ns,log,pids,slurmctld,slurmd,munge}
    echo "$n" > "$DIR/hosts.count"
    trap 'trap - ERR; log "up failed (logs were in $DIR/log); cleaning up"; tail -n 5 "$DIR"/log/*.out >&2 || true; cmd_down || true; exit 1' ERR

    # One mount namespace for all hosts: the bed's /etc/hosts. Its handle is a bind mount, which
    # needs a private mount under it.
    {
        echo "127.0.0.1 localhost"
        echo "$SUBNET.254 $CTL"
        for ((i = 1; i <= n; i++)); do echo "$SUBNET.$i $PREFIX-h$i"; done
    } > "$DIR/hosts"
    mount --bind "$NS" "$NS"
    mount --make-private "$NS"
    touch "$NS/mnt"
    unshare --mount="$NS/mnt" --propagation slave mount --bind "$DIR/hosts" /etc/hosts

    ip netns add "$BR"
    ip -n "$BR" link add br0 type bridge
    ip -n "$BR" link set br0 up
    make_host "$CTL" "$SUBNET.254"
    for ((i = 1; i <= n; i++)); do make_host "$PREFIX-h$i" "$SUBNET.$i"; done

    # munged as munge, with a key of this bed, its socket, log, seed and pid in the state dir.
    chown munge:munge "$DIR/munge"
    chmod 0755 "$DIR/munge"
    mungekey --create --keyfile="$DIR/munge/munge.key" --bits=1024 > /dev/null
    chown munge:munge "$DIR/munge/munge.key"
    chmod 0400 "$DIR/munge/munge.key"
    install -o munge -g munge -m 0640 /dev/null "$DIR/log/munged.log"
    daemon munged "$CTL" setpriv --reuid=munge --regid=munge --clear-groups -- \
        munged --foreground --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
        --log-file="$DIR/log/munged.log" --pid-file="$DIR/munge/munged.pid" --seed-file="$DIR/munge/munged.seed"
    wait_for 10 munged test -S "$DIR/munge/munge.socket"

    write_slurm_conf "$n"
    daemon slurmctld "$CTL" slurmctld -D -i
    wait_for 20 slurmctld on "$CTL" scontrol ping
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$DIR/slurmd/$PREFIX-h$i"
        daemon "slurmd-$PREFIX-h$i" "$PREFIX-h$i" slurmd -D -N "$PREFIX-h$i"
    done
    wait_for 30 "$n idle nodes" all_idle "$n"
    trap - ERR
    log "up: $n hosts and a controller in $((SECONDS - start)) s; state in $DIR"
}

all_idle() {  # all_idle N: Slurm reports N nodes, all idle
    local states
    states=$(on "$CTL" sinfo -h -N -o '%N %T') || return 1
    [ "$(grep -c ' idle$' <<< "$states")" -eq "$1" ]
}

alive() {  # alive PID: the process exists and is not a zombie
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $s != Z* ]]
}

bed_namespaces() {  # the bed's network namespaces that exist
    local h
    for h in "/run/netns/$BR" "/run/netns/$CTL" /run/netns/"$PREFIX"-h*; do
        [ -e "$h" ] && [[ ${h##*/} =~ ^$PREFIX-(br|ctl|h[0-9]+)$ ]] && echo "${h##*/}"
    done
    return 0
}

bed_pids() {  # PIDs of every process in one of the bed's network namespaces
    local h
    for h in $(bed_namespaces); do ip netns pids "$h" 2>/dev/null || true; done
}

stop_pids() {  # stop_pids SECONDS PID...: SIGTERM, then SIGKILL whatever is left after SECONDS
    local secs=$1 p left deadline
    shift
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    deadline=$((SECONDS + secs))
    while :; do
        left=()
        for p in "$@"; do alive "$p" && left+=("$p"); done
        ((${#left[@]})) || return 0
        ((SECONDS < deadline)) || break
        sleep 0.1
    done
    log "SIGKILL to ${left[*]} ($(ps -o comm= -p "${left[*]// /,}" | tr '\n' ' '))"
    kill -KILL "${left[@]}" 2>/dev/null || true
    for p in "${left[@]}"; do
        while alive "$p"; do sleep 0.05; done
    done
}

cmd_down() {
    [ "$(id -u)" -eq 0 ] || die "needs root"
    local start=$SECONDS jobs name h
    # Jobs first: slurmstepd outlives slurmd, so cancel while the daemons still run.
    if [ -f "$DIR/pids/slurmctld" ] && alive "$(cat "$DIR/pids/slurmctld")"; then
        jobs=$(on "$CTL" squeue -h -o %A 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            on "$CTL" scancel $jobs 2>/dev/null || true
            wait_for 20 "jobs to end" no_steps || true
        fi
    fi
    # Then the daemons, by the PIDs `up` recorded: slurmds, slurmctld, munged last.
    for name in "$DIR"/pids/slurmd-* "$DIR/pids/slurmctld" "$DIR/pids/munged"; do
        [ -f "$name" ] || continue
        stop_pids 10 "$(cat "$name")"
    done
    # Anything else left in the bed's namespaces (a step whose slurmd died, a test's process).
    # shellcheck disable=SC2046  # one PID a word
    stop_pids 5 $(bed_pids)
    for h in $(bed_namespaces); do ip netns delete "$h"; done
    if [ -d "$NS" ]; then
        for h in "$NS"/*; do
            [ -e "$h" ] || continue
            umount "$h" 2>/dev/null || true
        done
        umount "$NS" 2>/dev/null || true
    fi
    rm -rf "$DIR"
    log "down in $((SECONDS - start)) s"
}

no_steps() {  # no process left in the hosts' namespaces but slurmd
    local h p
    for h in $(bed_namespaces); do
        [[ $h == "$PREFIX"-h* ]] || continue
        for p in $(ip netns pids "$h" 2>/dev/null); do
            [ "$(ps -o comm= -p "$p" 2>/dev/null)" = slurmd ] || { alive "$p" && return 1; }
        done
    done
    return 0
}

cmd_status() {
    local n h name
    n=$(hosts_up)
    if ((n == 0)); then
        echo "bed $PREFIX: down"
        return 0
    fi
    echo "bed $PREFIX: $n hosts, state in $DIR, SLURM_CONF=$DIR/slurm.conf"
    for h in "$CTL" $(for ((i = 1; i <= n; i++)); do echo "$PREFIX-h$i"; done); do
        printf '  %-16s %s\n' "$h" "$(addr "$h")"
    done
    for name in "$DIR"/pids/*; do
        if alive "$(cat "$name")"; then
            printf '  %-24s pid %s\n' "${name##*/}" "$(cat "$name")"
        else
            printf '  %-24s not running\n' "${name##*/}"
        fi
    done
    on "$CTL" sinfo -N -o '%N %T %c %m' || true
}

cmd_cut() {  # cut HOST PEER: in HOST's namespace, drop packets to and from PEER
    (($# == 2)) || die "cut HOST PEER"
    local h p
    h=$(host "$1")
    p=$(addr "$2")
    on "$h" nft -f - <<EOF
table inet ember_testbed {
    chain input { type filter hook input priority 0; policy accept; }
    chain output { type filter hook output priority 0; policy accept; }
}
add rule inet ember_testbed input ip saddr $p drop
add rule inet ember_testbed output ip daddr $p drop
EOF
}

cmd_heal() {  # heal HOST: remove every cut in HOST's namespace
    (($# == 1)) || die "heal HOST"
    local h
    h=$(host "$1")
    on "$h" nft list table inet ember_testbed > /dev/null 2>&1 || return 0
    on "$h" nft delete table inet ember_testbed
}

cmd_env() {
    local n i
    n=$(hosts_up)
    ((n > 0)) || die "the bed '$PREFIX' is not up"
    echo "SLURM_CONF=$DIR/slurm.conf"
    echo "EMBER_TESTBED_CONTROLLER=$CTL"
    echo "EMBER_TESTBED_HOSTS='$(for ((i = 1; i <= n; i++)); do printf '%s ' "$PREFIX-h$i"; done | sed 's/ $//')'"
    echo "EMBER_TESTBED_ADDRESSES='$(for ((i = 1; i <= n; i++)); do printf '%s ' "$SUBNET.$i"; done | sed 's/ $//')'"
}

command=${1:-}
shift || true
case $command in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    exec)
        (($# >= 2)) || die "exec HOST CMD..."
        h=$(host "$1")
        shift
        on "$h" "$@"
        ;;
    cut) cmd_cut "$@" ;;
    heal) cmd_heal "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    addr) (($# == 1)) || die "addr HOST"; addr "$1" ;;
    *) die "usage: testbed.sh up N | down | exec HOST CMD... | cut HOST PEER | heal HOST | status | env | addr HOST" ;;
esac
