#!/usr/bin/env bash
# A talklab sweep on a Slurm cluster: a job array of N shards (scripts/slurm/array.sbatch) and, once every shard
# succeeded, a merge-and-report job (scripts/slurm/merge.sbatch). See docs/cluster.md.
#
#   scripts/slurm/submit.sh --shards N --out DIR [--gpus-per-task G] [--partition P] [--time T]
#                           [--bench PATH] [--wait] -- BENCH_RUN_ARGS...
#
# CPU shards take a node each (--exclusive) so that no shard times beside another; with --gpus-per-task G each task
# gets G GPUs (--gres=gpu:G) and Slurm's CUDA_VISIBLE_DEVICES, which bench honours and records. Every task gets the
# same --seed (a fresh one unless BENCH_RUN_ARGS names one), or bench merge would refuse their files.
# Prints the array's and the merge job's ids. With --wait: waits for both, then exits 0 when the merged file was
# written, else non-zero naming each failed task (state, exit code) and its log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

shards="" out="" gpus="" partition="" time_limit="" wait=0 bench="$repo/build/default/bench/bench"
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --shards) shards="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    --gpus-per-task) gpus="${2:-}"; shift 2 ;;
    --partition) partition="${2:-}"; shift 2 ;;
    --time) time_limit="${2:-}"; shift 2 ;;
    --bench) bench="${2:-}"; shift 2 ;;
    --wait) wait=1; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "submit.sh: unknown option '$1' (bench run's options go after --)" >&2; usage ;;
  esac
done
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: --shards '$shards': expected a positive integer" >&2; exit 2; }
[ -n "$out" ] || { echo "submit.sh: --out DIR is required" >&2; exit 2; }
[ -z "$gpus" ] || [[ "$gpus" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: --gpus-per-task '$gpus': expected a positive integer" >&2; exit 2; }
[ -x "$bench" ] || { echo "submit.sh: bench '$bench' is not an executable (build first, or --bench PATH)" >&2; exit 2; }
command -v sbatch >/dev/null || { echo "submit.sh: sbatch not found: is this a Slurm login node?" >&2; exit 2; }

mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"
if compgen -G "$out/shard-*.json" >/dev/null || [ -e "$out/merged.json" ]; then
  echo "submit.sh: $out already holds a sweep's files; choose another --out (nothing is overwritten)" >&2
  exit 2
fi
bench_args=("$@")
if ! printf '%s\n' "${bench_args[@]}" | grep -q -- '^--seed'; then
  bench_args+=(--seed "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')")
fi

common=(--parsable --chdir "$repo" --export "ALL,TALKLAB_BENCH=$bench,TALKLAB_OUT=$out")
[ -z "$partition" ] || common+=(--partition "$partition")
[ -z "$time_limit" ] || common+=(--time "$time_limit")
placement=(--exclusive)
[ -z "$gpus" ] || placement=(--gres "gpu:$gpus")

array_id="$(sbatch "${common[@]}" "${placement[@]}" --array "0-$((shards - 1))" \
  --output "$out/logs/shard-%a.out" "$here/array.sbatch" "${bench_args[@]}")"
array_id="${array_id%%;*}"
merge_id="$(sbatch "${common[@]}" --dependency "afterok:$array_id" --kill-on-invalid-dep=yes \
  --output "$out/logs/merge.out" "$here/merge.sbatch")"
merge_id="${merge_id%%;*}"
echo "array $array_id ($shards shards), merge $merge_id; files in $out"
((wait)) || exit 0

# squeue until neither job is queued or running (faster than sbatch --wait's polling), then each task's end.
while [ -n "$(squeue -h -j "$array_id,$merge_id" -o %i 2>/dev/null)" ]; do sleep 0.5; done
failed=0
for ((task = 0; task < shards; task++)); do
  line="$(scontrol -o show job "${array_id}_${task}" 2>/dev/null || true)"
  state="$(grep -o 'JobState=[A-Z_]*' <<<"$line" | cut -d= -f2)"
  code="$(grep -o ' ExitCode=[0-9:]*' <<<"$line" | cut -d= -f2)"
  if [ "$state" != "COMPLETED" ]; then
    echo "submit.sh: shard task $task of array $array_id ended ${state:-unknown} (exit code ${code:-?}); log: $out/logs/shard-$task.out" >&2
    failed=1
  fi
done
if ((failed)); then
  echo "submit.sh: the merge job $merge_id did not run (it needs every shard); nothing merged" >&2
  exit 1
fi
if [ ! -s "$out/merged.json" ]; then
  echo "submit.sh: the merge job $merge_id failed; log: $out/logs/merge.out" >&2
  exit 1
fi
echo "merged: $out/merged.json; report: $out/report"
