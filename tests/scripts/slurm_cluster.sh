# Sourced by the Slurm tests: starts a throwaway single-node Slurm (munged, slurmctld, slurmd)
# with its config, state, spool, logs and munge key in a temporary directory, on free ports (and
# MaxArraySize=401, so that a 1000-trial sweep splits into three arrays), and
# stops only the daemons it started (on exit). Exits 77 (ctest: skipped) with the reason when the
# packages are missing or a daemon does not come up.
#   source tests/scripts/slurm_cluster.sh; slurm_start; ...; (slurm_stop runs on EXIT)
skip() { echo "SKIPPED: $*"; exit 77; }

slurm_start() {
  for b in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v "$b" > /dev/null || [[ -x /usr/sbin/$b ]] || skip "$b not found (make test-slurm, or scripts/install-deps.sh --slurm, installs slurm-wlm and munge)"
  done
  [[ $(id -u) == 0 ]] || skip "the throwaway Slurm runs its daemons as root (SlurmUser=root); run as root"
  SL=$(mktemp -d /tmp/mnemo-slurm-XXXXXX)
  mkdir -p "$SL"/{munge,state,spool,log}
  trap slurm_stop EXIT
  head -c 1024 /dev/urandom > "$SL/munge/munge.key"
  chmod 600 "$SL/munge/munge.key"
  /usr/sbin/munged --key-file="$SL/munge/munge.key" --socket="$SL/munge/sock" --pid-file="$SL/munge/pid" \
    --log-file="$SL/munge/log" --seed-file="$SL/munge/seed" --force || skip "munged did not start: $(tail -3 "$SL/munge/log")"
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    ss -ltn | grep -q ":$port \|:$((port + 1)) " || break
  done
  local host
  host=$(hostname -s)
  export SLURM_CONF=$SL/slurm.conf
  cat > "$SLURM_CONF" <<CONF
ClusterName=mnemotest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$SL/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd.pid
SlurmctldLogFile=$SL/log/slurmctld.log
SlurmdLogFile=$SL/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=30
MaxArraySize=401
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  /usr/sbin/slurmctld -f "$SLURM_CONF" || skip "slurmctld did not start: $(tail -3 "$SL/log/slurmctld.log")"
  /usr/sbin/slurmd -f "$SLURM_CONF" || skip "slurmd did not start: $(tail -3 "$SL/log/slurmd.log")"
  local deadline=$((SECONDS + 60))
  until sinfo -h -o %t 2>/dev/null | grep -q idle; do
    ((SECONDS < deadline)) || skip "the node did not become idle within 60 s: $(sinfo 2>&1 | tail -1); $(tail -2 "$SL/log/slurmd.log")"
    sleep 1
  done
  echo "slurm: a throwaway cluster in $SL (slurmctld port $port)"
}

slurm_stop() {
  [[ -n ${SL:-} ]] || return 0
  # The jobs first, so that none of their processes outlives the cluster; then whatever is left of
  # them (every one names a path under $SL).
  scancel --quiet --user "$(id -un)" 2> /dev/null
  local deadline=$((SECONDS + 30))
  while squeue -h -o %A 2> /dev/null | grep -q . && ((SECONDS < deadline)); do sleep 0.5; done
  pkill -9 -f "$SL/" 2> /dev/null
  for pidfile in "$SL/slurmd.pid" "$SL/slurmctld.pid" "$SL/munge/pid"; do
    [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2> /dev/null
  done
  sleep 1
  for pidfile in "$SL/slurmd.pid" "$SL/slurmctld.pid" "$SL/munge/pid"; do
    [[ -f $pidfile ]] && kill -9 "$(cat "$pidfile")" 2> /dev/null
  done
  rm -rf "$SL"
}

# Waits until `cmd` succeeds or `seconds` pass (then fails with `what`).
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" > /dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "FAILED: $what not within $seconds s"
      squeue 2>&1 | head -20
      return 1
    fi
    sleep 1
  done
}
