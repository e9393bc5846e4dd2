#!/usr/bin/env bash
# A single-node SLURM cluster with accounting, from Debian packages, on a fresh machine, as root.
#
#   .ci/slurm_up.sh            install (apt) if needed, configure, start; exit 0 when a job runs
#   .ci/slurm_up.sh --down     stop the daemons this script started
#
# What it sets up (what an admin of a real cluster provides): munge (authentication), MariaDB +
# slurmdbd (accounting: sacct rows for finished, cancelled and preempted jobs), slurmctld and
# slurmd on this host, NodeName=$(hostname -s) with all its CPUs, proctrack/linuxproc, task/none,
# select/cons_tres (no cgroups needed, so it runs in containers), two partitions: `debug`
# (default) and `urgent`, whose jobs preempt `debug` jobs by requeueing them (SIGCONT + SIGTERM,
# SIGKILL after KillWait = 10 s; Slurm lets a requeued job start again about 2 min later). No
# systemd needed: the daemons are started directly; `--down` stops them by their pid files.
# On failure it prints one line saying which step failed and why (details in $LOG) and exits 1.
set -uo pipefail
LOG=${SLURM_UP_LOG:-/var/log/mer-slurm-up.log}
CLUSTER=mer
DB_PASS=mer-ci-only  # a throwaway database on a throwaway machine, reachable from localhost only
NODE=$(hostname -s)
CPUS=${SLURM_CPUS:-$(nproc)}
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
T0=$(date +%s)

fail() {  # one line: the step and the last thing it said
  echo "slurm_up: $1 failed: $(grep -v '^\s*$' "$LOG" 2>/dev/null | tail -1 | cut -c1-200) (log: $LOG)"
  exit 1
}
step() {  # step NAME COMMAND...: run it, logging everything, and stop at the first failure
  local name=$1; shift
  echo "== $name" >>"$LOG"
  "$@" >>"$LOG" 2>&1 || fail "$name"
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
  local secs=$1 what=$2; shift 2
  for _ in $(seq $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "timed out after ${secs}s waiting for $what" >>"$LOG"
  return 1
}

PIDS=(/run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid)
down() {  # by the pid files of the daemons this script started
  for f in "${PIDS[@]}"; do
    [[ -s $f ]] && kill "$(cat "$f")" 2>/dev/null && echo "stopped $(basename "$f" .pid)"
  done
  return 0
}
[[ ${1:-} == --down ]] && { down; exit 0; }

[[ $(id -u) == 0 ]] || { echo "slurm_up: needs root (it installs packages and starts daemons)"; exit 1; }
: >"$LOG" || { echo "slurm_up: cannot write $LOG"; exit 1; }

if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && sacct -n -X -S now >/dev/null 2>&1; then
  echo "slurm_up: already up ($(sinfo -h -o 'node %n, %c CPUs, partitions' | head -1) $(sinfo -h -o %P | paste -sd' '))"
  exit 0
fi

install() {
  command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null \
    && command -v munged >/dev/null && return 0
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    slurm-wlm slurmdbd munge mariadb-server
}
step "apt-get install slurm-wlm slurmdbd munge mariadb-server" install

start_munge() {
  [[ -s /etc/munge/munge.key ]] || mungekey --create --force
  chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
  wait_for 20 "munged" bash -c 'munge -n | unmunge'
}
step "munge" start_munge

start_mariadb() {
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql
  pgrep -x mariadbd >/dev/null || (setsid /usr/sbin/mariadbd --user=mysql \
    --bind-address=127.0.0.1 --pid-file=/run/mysqld/mysqld.pid >>/var/log/mer-mariadb.log 2>&1 &)
  wait_for 60 "mariadbd" mariadb -e 'select 1'
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}
step "mariadb" start_mariadb

write_configs() {
  mkdir -p /etc/slurm /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  chown slurm:slurm /var/log/slurm /var/lib/slurm/slurmctld
  cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
EOF
  chown slurm:slurm /etc/slurm/slurmdbd.conf && chmod 600 /etc/slurm/slurmdbd.conf
  cat >/etc/slurm/slurm.conf <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$NODE
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
JobRequeue=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=$NODE MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
}
step "write /etc/slurm/slurm.conf and slurmdbd.conf" write_configs

start_slurm() {
  pgrep -x slurmdbd >/dev/null || /usr/sbin/slurmdbd
  wait_for 60 "slurmdbd" sacctmgr -n list cluster
  sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER"
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
  wait_for 60 "slurmctld" scontrol ping
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
  wait_for 60 "node $NODE idle" bash -c "sinfo -h -n $NODE -o %T | grep -qE '^(idle|mixed)'"
}
step "start slurmdbd, slurmctld, slurmd" start_slurm

check_job() {  # a real job end to end, and its accounting row
  local out
  out=$(timeout 60 srun -t 1 -N1 -n1 hostname) || return 1
  [[ $out == "$NODE"* ]] || { echo "srun ran on '$out', expected $NODE"; return 1; }
  wait_for 30 "the job's sacct row" bash -c 'sacct -n -X -S now-5minutes -o State | grep -q COMPLETED'
}
step "a test job (srun hostname, then its sacct row)" check_job

echo "slurm_up: up in $(($(date +%s) - T0)) s: cluster $CLUSTER, node $NODE ($CPUS CPUs), partitions debug (default) and urgent (preempts debug), accounting via slurmdbd"
