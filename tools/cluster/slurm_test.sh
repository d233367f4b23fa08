#!/usr/bin/env bash
# slurm_test.sh — the Slurm job array end to end on a one-node cluster.
#
# Goal: tools/cluster/slurm_sweep.sbatch, submitted as a job array, runs a
# sweep's shards under a real slurmctld and slurmd, and `vmbsim merge` gives
# exactly the single-machine result. Method: bring up munge and Slurm
# (Debian slurm-wlm 22.05) on localhost by hand, without systemd, under a
# temporary directory; sbatch --array=0-2; wait; merge; cmp.
#
# When this machine cannot run Slurm (not root, the packages cannot be
# installed, the daemons do not come up) the test prints "SKIPPED: <why>"
# and passes: it never pretends to have run the job array.
#
# Usage: slurm_test.sh VMBSIM SLURM_SWEEP_SBATCH (from the runfiles root).
set -uo pipefail
# The daemons and mungekey live in sbin, which a test's PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
vmbsim=$(realpath "$1")
sbatch_script=$(realpath "$2")
scenarios=$PWD/scenarios
skip() { echo "SKIPPED: $*"; exit 0; }
[[ $(id -u) -eq 0 ]] || skip "needs root to run slurmctld and slurmd (uid $(id -u))"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # Another test may be installing at the same time: wait for the dpkg lock.
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends slurm-wlm munge >/dev/null 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends slurm-wlm munge >/dev/null 2>&1; } ||
    skip "cannot install slurm-wlm and munge with apt-get"
fi
# Unix socket paths are short: not under TEST_TMPDIR.
base=$(mktemp -d /tmp/vmbsim-slurm.XXXXXX)
host=$(hostname -s)
export SLURM_CONF=$base/etc/slurm.conf
mkdir -p "$base/etc" "$base/munge" "$base/state/ctld" "$base/state/d" "$base/log" "$base/out"
chmod 755 "$base" "$base/munge"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$base"
}
trap cleanup EXIT
show_logs() { tail -n 20 "$base"/log/* 2>/dev/null; }
mungekey --create --keyfile="$base/munge/munge.key" >/dev/null 2>&1 || skip "mungekey failed"
munged -F --key-file="$base/munge/munge.key" --socket="$base/munge/munge.socket.2" \
  --pid-file="$base/munge/munged.pid" --seed-file="$base/munge/munged.seed" \
  --log-file="$base/log/munged.log" >"$base/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -S $base/munge/munge.socket.2 ]] && break; sleep 0.1; done
[[ -S $base/munge/munge.socket.2 ]] || { show_logs; skip "munged did not start"; }
# Ports of their own, so that a Slurm already on this machine is not disturbed.
cat >"$SLURM_CONF" <<CONF
ClusterName=vmbsimtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$base/munge/munge.socket.2
StateSaveLocation=$base/state/ctld
SlurmdSpoolDir=$base/state/d
SlurmctldPidFile=$base/state/slurmctld.pid
SlurmdPidFile=$base/state/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=batch_sched_delay=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -i >"$base/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D >"$base/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do [[ "$(sinfo -h -N -o %t 2>/dev/null)" == idle ]] && break; sleep 0.5; done
[[ "$(sinfo -h -N -o %t 2>/dev/null)" == idle ]] || { show_logs; skip "the one-node cluster did not become idle"; }
echo "slurm: one node ($host) idle"

sweep=(dispatch_vs_passive --grid channels.0.interrupt_latency_100ns=0,1000 --seeds 3)
job=$(VMBSIM=$vmbsim VMBSIM_SCENARIO_DIR=$scenarios sbatch --parsable --chdir "$base/out" --export=ALL \
  -o "$base/log/job-%A_%a.out" --array=0-2 "$sbatch_script" "$base/out/sweep" "${sweep[@]}") ||
  { echo "FAIL: sbatch refused the job array"; show_logs; exit 1; }
echo "slurm: job array $job submitted"
for _ in $(seq 240); do
  [[ -z "$(squeue -h -j "$job" 2>/dev/null)" ]] && break
  sleep 0.5
done
[[ -z "$(squeue -h -j "$job" 2>/dev/null)" ]] || { echo "FAIL: the job array did not finish in 120 s"; show_logs; exit 1; }
cat "$base"/log/job-*.out
"$vmbsim" merge "$base"/out/sweep/shard-* --out "$base/out/merged" || { echo "FAIL: merge exit $?"; show_logs; exit 1; }
VMBSIM_SCENARIO_DIR=$scenarios "$vmbsim" sweep "${sweep[@]}" --jobs 2 --out "$base/out/single" >/dev/null 2>&1
for f in plan.txt runs.csv runs.json points.csv points.json; do
  cmp "$base/out/single/$f" "$base/out/merged/$f" || { echo "FAIL: $f differs"; exit 1; }
done
echo PASS
