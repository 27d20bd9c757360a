#!/usr/bin/env bash
# End to end on a real Slurm: a one-node cluster on localhost (slurmctld and
# slurmd from Debian's slurm-wlm, authenticated by munge), a generated model
# converted to Q4_K_M as a 4-part array job plus its finalize through
# `mlmf-run submit slurm`, and the output compared byte for byte with a run
# in one process. Installs slurm-wlm and munge with apt-get if missing
# (needs root), starts only what is not running, and stops what it started.
#
#   scripts/slurm-e2e.sh            # KEEP=1 keeps the work folder and logs
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { echo "slurm-e2e: $*"; }
fail() { echo "slurm-e2e: FAILED: $*" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/mlmf-slurm-e2e.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    for log in "$work"/*.log "$work"/*.out; do
      [[ -f $log ]] && { echo "--- $log"; tail -n 30 "$log"; }
    done
  fi
  if [[ -z ${KEEP:-} ]]; then rm -rf "$work"; else say "kept $work"; fi
}
trap cleanup EXIT

# munge: the system's if it answers, otherwise one of our own on its
# default socket (where Slurm looks), with a key made for this run.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "munged already running"
else
  mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chmod 700 /etc/munge /var/lib/munge /var/log/munge
  chmod 755 /run/munge
  chmod 400 /etc/munge/munge.key
  munged --foreground --force >"$work/munged.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n | unmunge >/dev/null || fail "munged does not answer"
fi

# A one-node cluster on ports of its own, its state in $work.
node=mlmfe2e
cpus=$(nproc)
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=mlmfe2e
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MinJobAge=600
NodeName=$node NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=e2e Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
say "starting slurmctld and slurmd ($cpus CPUs)"
slurmctld -D -c -f "$SLURM_CONF" >"$work/slurmctld.stderr" 2>&1 &
pids+=($!)
slurmd -D -N "$node" -f "$SLURM_CONF" >"$work/slurmd.stderr" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  [[ $state == idle ]] && break
  sleep 0.2
done
[[ ${state:-} == idle ]] || { cat "$work"/*.stderr; fail "node $node is '${state:-}', not idle"; }

say "building mlmf-run and a model"
CGO_ENABLED=0 go build -o "$work/bin/mlmf-run" ./cmd/mlmf-run
go run ./testdata/gen -out "$work/model" -max-shard-size 1MB >/dev/null
bin="$work/bin/mlmf-run"

say "one process"
"$bin" hf-to-gguf -q --set model="$work/model" --set out="$work/one/m.gguf" --set type=Q4_K_M

say "4 parts through mlmf-run submit slurm"
cd "$work"
ids=$("$bin" submit slurm hf-to-gguf --parts 4 --set model="$work/model" --set out="$work/four/m.gguf" \
  --set type=Q4_K_M -j 1 --script-dir "$work" --name e2e -- --partition=e2e)
echo "$ids"
parts=$(sed -n 's/^parts: job \([0-9]*\).*/\1/p' <<<"$ids")
final=$(sed -n 's/^finalize: job \([0-9]*\).*/\1/p' <<<"$ids")
[[ -n $parts && -n $final ]] || fail "no job ids in: $ids"

jobstate() { scontrol show job "$1" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort -u | cut -d= -f2 | tr '\n' ' '; }
for _ in $(seq 600); do
  s=$(jobstate "$final")
  case $s in
    "COMPLETED ") break ;;
    *FAILED*|*CANCELLED*|*TIMEOUT*|*NODE_FAIL*) fail "finalize job $final: $s (parts: $(jobstate "$parts"))" ;;
  esac
  sleep 0.5
done
[[ $(jobstate "$final") == "COMPLETED " ]] || fail "finalize job $final still $(jobstate "$final") after 5 minutes"
[[ $(jobstate "$parts") == "COMPLETED " ]] || fail "parts job $parts: $(jobstate "$parts")"
tasks=$(scontrol show job "$parts" -o | grep -c 'JobState=COMPLETED')
[[ $tasks == 4 ]] || fail "$tasks array tasks completed, want 4"

cmp "$work/one/m.gguf" "$work/four/m.gguf" || fail "the parts' output differs from one process's"
[[ -s "$work/four/m.gguf.manifest.json" ]] || fail "no manifest"
left=$(find "$work/four" -name '.*' | wc -l)
[[ $left == 0 ]] || fail "left behind: $(find "$work/four" -name '.*')"
say "ok: 4 array tasks and the finalize wrote $(stat -c %s "$work/four/m.gguf") bytes identical to one process"
