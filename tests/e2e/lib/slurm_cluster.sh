# A private single-node Slurm on this machine for the end-to-end tests (sourced, not run).
# Recipe: docs/shared TOOLCHAIN.md section 11. Everything lives under one scratch folder: a
# private munged (own socket and key), slurmctld and slurmd on free ports, state, spool, logs.
# Nothing outside the folder is touched except /run/munge-style dirs we create inside it.
#
#   slurm_available            -> 0 when slurmctld, slurmd, sbatch and munged exist
#   slurm_start DIR            -> starts the daemons (as root), exports SLURM_CONF; waits until
#                                 the node is idle (or returns 1 with the logs printed)
#   slurm_stop                 -> stops exactly the daemons started here, by their pid files
#
# The partition is named "gpu" (so the sbatch scripts' default partition exists) and the node
# declares no GPUs; jobs run on CPU.

slurm_available() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v sbatch >/dev/null && command -v munged >/dev/null
}

_slurm_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

slurm_start() {
  SLURM_W="$1"
  mkdir -p "$SLURM_W"/{state,spool,log,munge,munge-run}
  local host mem cpus p1 p2
  host=$(hostname -s)
  cpus=$(nproc --all)  # plain nproc honours OMP_NUM_THREADS (1 in the test environment)
  mem=$(awk '/MemTotal/ {printf "%d", $2/1024 - 1024}' /proc/meminfo)
  p1=$(_slurm_free_port)
  p2=$(_slurm_free_port)
  while [ "$p2" = "$p1" ]; do p2=$(_slurm_free_port); done

  # munge: private key and socket, owned by the munge user as munged requires.
  chmod 755 "$SLURM_W"
  chown munge:munge "$SLURM_W/munge" "$SLURM_W/munge-run"
  chmod 700 "$SLURM_W/munge"
  chmod 755 "$SLURM_W/munge-run"  # munged wants the socket folder traversable by all
  dd if=/dev/urandom of="$SLURM_W/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$SLURM_W/munge/munge.key"
  chmod 400 "$SLURM_W/munge/munge.key"
  MUNGE_SOCKET="$SLURM_W/munge-run/munge.socket"
  su -s /bin/sh munge -c "/usr/sbin/munged --socket=$MUNGE_SOCKET --key-file=$SLURM_W/munge/munge.key \
      --pid-file=$SLURM_W/munge-run/munged.pid --log-file=$SLURM_W/munge/munged.log \
      --seed-file=$SLURM_W/munge/munged.seed" || { echo "slurm_start: munged failed" >&2; return 1; }
  if ! munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" >/dev/null; then
    echo "slurm_start: munge credential round trip failed" >&2
    cat "$SLURM_W/munge/munged.log" >&2
    return 1
  fi

  cat >"$SLURM_W/slurm.conf" <<CONF
ClusterName=tctest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$p1
SlurmdPort=$p2
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$SLURM_W/state
SlurmdSpoolDir=$SLURM_W/spool/slurmd-%n
SlurmctldPidFile=$SLURM_W/slurmctld.pid
SlurmdPidFile=$SLURM_W/slurmd.pid
SlurmctldLogFile=$SLURM_W/log/slurmctld.log
SlurmdLogFile=$SLURM_W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=gpu Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  export SLURM_CONF="$SLURM_W/slurm.conf"
  slurmctld -f "$SLURM_CONF" || { echo "slurm_start: slurmctld failed" >&2; cat "$SLURM_W/log/slurmctld.log" >&2; return 1; }
  slurmd -f "$SLURM_CONF" || { echo "slurm_start: slurmd failed" >&2; cat "$SLURM_W/log/slurmd.log" >&2; return 1; }
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then return 0; fi
    sleep 0.5
  done
  echo "slurm_start: the node did not become idle within 30 s; sinfo says: $(sinfo 2>&1)" >&2
  tail -20 "$SLURM_W/log/slurmctld.log" "$SLURM_W/log/slurmd.log" >&2
  return 1
}

_slurm_kill_pidfile() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

slurm_stop() {
  [ -n "${SLURM_W:-}" ] || return 0
  _slurm_kill_pidfile "$SLURM_W/slurmd.pid"
  _slurm_kill_pidfile "$SLURM_W/slurmctld.pid"
  _slurm_kill_pidfile "$SLURM_W/munge-run/munged.pid"
}
