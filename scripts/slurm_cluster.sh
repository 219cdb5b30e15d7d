#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for hpsweep's SLURM tests and for trying the launcher.
#
#   scripts/slurm_cluster.sh start    # install (Debian packages) if needed, configure, start; idempotent
#   scripts/slurm_cluster.sh stop     # stop only the daemons this script started
#   scripts/slurm_cluster.sh status
#
# Daemons: munged (as user munge), MariaDB (as mysql, for slurmdbd), slurmdbd (so that sacct works:
# without it submitit waits forever on a job killed hard), slurmctld and slurmd. No systemd: started
# by hand, their pids kept in $STATE.
set -euo pipefail

STATE=${HPSWEEP_SLURM_STATE:-/var/lib/hpsweep-slurm}
PIDS=$STATE/pids
HOST=$(hostname)
CPUS=$(nproc)
MEMORY_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client slurmdbd munge \
    mariadb-server >/dev/null
}

write_configs() {
  mkdir -p /etc/slurm /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd "$STATE"
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=hpsweep
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again once its credential expires: 120 s by default, 10 here for the tests
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
KillWait=5
NodeName=$HOST CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
CONF
  chmod 600 /etc/slurm/slurmdbd.conf
}

running() { [ -f "$PIDS/$1" ] && kill -0 "$(cat "$PIDS/$1")" 2>/dev/null; }

start_munge() {
  running munged && return
  mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  chmod 400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --force
  pgrep -u munge -n munged > "$PIDS/munged"
}

start_mariadb() {
  running mariadbd && return
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  chown -R mysql:mysql /var/lib/mysql
  runuser -u mysql -- /usr/sbin/mariadbd --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
    --skip-networking=0 --bind-address=127.0.0.1 >/var/log/slurm/mariadb.log 2>&1 &
  echo $! > "$PIDS/mariadbd"
  for _ in $(seq 100); do mariadb -e "select 1" >/dev/null 2>&1 && break; sleep 0.2; done
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_daemon() {  # name, command...
  local name=$1; shift
  running "$name" && return
  "$@"
  for _ in $(seq 50); do [ -s "/run/$name.pid" ] && break; sleep 0.2; done
  cp "/run/$name.pid" "$PIDS/$name"
}

start() {
  install_packages
  write_configs
  mkdir -p "$PIDS"
  start_munge
  start_mariadb
  start_daemon slurmdbd /usr/sbin/slurmdbd
  for _ in $(seq 50); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -i add cluster hpsweep >/dev/null 2>&1 || true
  start_daemon slurmctld /usr/sbin/slurmctld
  start_daemon slurmd /usr/sbin/slurmd
  for _ in $(seq 100); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed|alloc" && break; sleep 0.2; done
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  sinfo
}

stop() {
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    if running "$name"; then kill "$(cat "$PIDS/$name")"; fi
    rm -f "$PIDS/$name"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) for name in munged mariadbd slurmdbd slurmctld slurmd; do
            running "$name" && echo "$name running" || echo "$name stopped"; done ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
