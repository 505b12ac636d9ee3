#!/usr/bin/env bash
# The Slurm sweep on a real Slurm: a single-node cluster on localhost (Debian's slurmctld, slurmd and munge, plain
# background processes, state in a temporary folder), driven through scripts/slurm/submit.sh as a user would.
#
#   tests/cluster/slurm_localhost.sh BENCH
#
# 1. Four CPU shards of a small quick selection (--exclusive: one at a time), merged and reported by the dependent
#    job; the merged file must hold exactly the cases a single run of the selection holds, each once, every shard's
#    context its shard, and bench compare of the single run against the merged file must find no regression.
# 2. Two shards on two fake GPUs (gres.conf over two device files): each task sees its own CUDA_VISIBLE_DEVICES,
#    recorded in its file.
# 3. Two shards whose task 1 fails: submit.sh --wait must exit non-zero naming task 1 and its log.
# Every daemon this script started is stopped by pid on any way out. Exit 0 pass, 1 fail, 77 Slurm not installed.
set -euo pipefail
bench="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="$repo/.venv/bin/python"
for tool in slurmctld slurmd munged sbatch squeue scontrol sinfo; do
  if ! command -v "$tool" >/dev/null; then
    echo "slurm_localhost: $tool is not installed (scripts/setup.sh installs Slurm and munge)"
    if [ "${TALKLAB_REQUIRE_SLURM:-0}" = 1 ]; then exit 1; fi
    exit 77
  fi
done

state="$(mktemp -d /tmp/talklab-slurm.XXXXXX)"
started=()  # pid files of the daemons, stopped in reverse order
stop_daemons() {
  local pidfile pid i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    pidfile="${started[i]}"
    [ -s "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
cleanup() {
  local rc=$?
  stop_daemons
  if [ "$rc" -ne 0 ]; then
    echo "slurm_localhost: failed (exit $rc); daemon logs:"
    tail -n 20 "$state"/*.log 2>/dev/null || true
  fi
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
t0=$(date +%s%N)
elapsed() { local ds=$((($(date +%s%N) - t0) / 100000000)); echo "$((ds / 10)).$((ds % 10)) s"; }
fail() { echo "slurm_localhost: FAIL: $*"; exit 1; }

# munge: its own key, socket and pid file; the socket's folder must be 0755 ("Socket is inaccessible" otherwise).
mkdir -p "$state/munge" "$state/spool" "$state/ctld"
chmod 0755 "$state/munge"
dd if=/dev/urandom of="$state/munge.key" bs=1024 count=1 status=none
chmod 0400 "$state/munge.key"
munged --force --key-file "$state/munge.key" --socket "$state/munge/socket" --pid-file "$state/munged.pid" \
  --log-file "$state/munged.log" --seed-file "$state/munge.seed"
started+=("$state/munged.pid")

host="$(hostname -s)"
ports=$((20000 + RANDOM % 20000))
cat >"$state/slurm.conf" <<CONF
ClusterName=talklab-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ports
SlurmdPort=$((ports + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
MpiDefault=none
ReturnToService=2
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# Two fake GPUs: any two device files; Slurm only hands out their indexes as CUDA_VISIBLE_DEVICES.
printf 'Name=gpu File=/dev/null\nName=gpu File=/dev/zero\n' >"$state/gres.conf"
export SLURM_CONF="$state/slurm.conf"
slurmctld -f "$SLURM_CONF" -c
started+=("$state/slurmctld.pid")
for _ in $(seq 100); do [ -s "$state/slurmctld.pid" ] && break; sleep 0.1; done
slurmd -f "$SLURM_CONF"
started+=("$state/slurmd.pid")
for _ in $(seq 300); do [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && break; sleep 0.1; done
[ "$(sinfo -h -N -o %T)" = idle ] || fail "the node did not come up idle: $(sinfo -h -N -o '%T %E' 2>&1)"
echo "slurm_localhost: Slurm up on $host after $(elapsed)"

selection=(--profile quick --device cpu --filter 'matmul/torch_fp32/M=1/|attention/blockmask_closed/mask=causal/' \
  --max-time 0.05 --threads 1)

# 1. Four CPU shards, merged by the dependent job.
"$repo/scripts/slurm/submit.sh" --shards 4 --out "$state/sweep" --bench "$bench" --wait -- "${selection[@]}" --seed 7 \
  || fail "the 4-shard sweep did not merge: $(tail -n 5 "$state"/sweep/logs/*.out)"
echo "slurm_localhost: 4 shards run, merged and reported after $(elapsed)"
"$bench" run "${selection[@]}" --seed 7 --out "$state/single.json" >/dev/null
"$python" - "$state/single.json" "$state/sweep" <<'PY' || fail "the merged file is not the single run's cases"
import collections, glob, json, sys
single = [e["name"] for e in json.load(open(sys.argv[1]))["benchmarks"]]
merged = json.load(open(f"{sys.argv[2]}/merged.json"))
names = [e["name"] for e in merged["benchmarks"]]
twice = [n for n, k in collections.Counter(names).items() if k > 1]
assert not twice, f"cases twice in the merged file: {twice}"
assert sorted(names) == sorted(single), f"merged {sorted(names)} != single run {sorted(single)}"
shards = sorted(json.load(open(f))["context"]["talklab"]["shard"]["index"] for f in glob.glob(f"{sys.argv[2]}/shard-*.json"))
assert shards == [0, 1, 2, 3], f"shard indexes {shards}"
assert all(e["talklab"]["machine"]["host_name"] for e in merged["benchmarks"]), "a case without its machine"
assert glob.glob(f"{sys.argv[2]}/report/*.md"), "no report pages"
print(f"slurm_localhost: merged file holds the single run's {len(single)} cases, each once, from shards {shards}")
PY
"$bench" compare "$state/single.json" "$state/sweep/merged.json" --threshold 100 >"$state/compare.txt" \
  || fail "bench compare single vs merged: $(cat "$state/compare.txt")"
grep -q "no regression" "$state/compare.txt" || fail "bench compare said: $(tail -n 3 "$state/compare.txt")"

# 2. Two GPU shards at once: Slurm gives each its own fake GPU.
"$repo/scripts/slurm/submit.sh" --shards 2 --gpus-per-task 1 --out "$state/gpus" --bench "$bench" --wait -- \
  "${selection[@]}" || fail "the GPU sweep did not merge: $(tail -n 5 "$state"/gpus/logs/*.out)"
"$python" - "$state/gpus" <<'PY' || fail "the GPU shards did not each see their own CUDA_VISIBLE_DEVICES"
import glob, json, sys
seen = sorted(json.load(open(f))["context"]["talklab"]["cuda_visible_devices"] for f in glob.glob(f"{sys.argv[1]}/shard-*.json"))
assert seen == ["0", "1"], f"CUDA_VISIBLE_DEVICES recorded by the shards: {seen}"
print(f"slurm_localhost: the two GPU shards recorded CUDA_VISIBLE_DEVICES {seen}")
PY
echo "slurm_localhost: GPU shards after $(elapsed)"

# 3. A shard that fails: the submit script must say which and where its log is, and exit non-zero.
cat >"$state/failing-bench" <<SH
#!/usr/bin/env bash
if [ "\$SLURM_ARRAY_TASK_ID" = 1 ]; then echo "shard 1 fails on purpose" >&2; exit 3; fi
exec "$bench" "\$@"
SH
chmod +x "$state/failing-bench"
if "$repo/scripts/slurm/submit.sh" --shards 2 --out "$state/failing" --bench "$state/failing-bench" --wait -- \
  "${selection[@]}" 2>"$state/failing.err"; then
  fail "submit.sh exited 0 although task 1 failed"
fi
grep -q "shard task 1 of array .* ended FAILED (exit code 3:0); log: $state/failing/logs/shard-1.out" "$state/failing.err" \
  || fail "submit.sh did not name the failed task and its log: $(cat "$state/failing.err")"
grep -q "shard 1 fails on purpose" "$state/failing/logs/shard-1.out" || fail "the named log does not hold the task's error"
[ ! -e "$state/failing/merged.json" ] || fail "a merged file was written although a shard failed"
echo "slurm_localhost: a failing shard was named with its log after $(elapsed)"
stop_daemons
started=()
echo "slurm_localhost: daemons stopped after $(elapsed); pass"
