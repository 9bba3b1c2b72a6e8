#!/usr/bin/env bash
# The GPU suite: everything this project measures on a GPU, in one command that fits
# a short, fixed window on a fresh machine and installs nothing from the network.
#
#   bash benchmarks/gpu_suite.sh [--out=DIR] [--models=a,b,...]   # on the GPU machine
#   bash benchmarks/gpu_suite.sh --cpu_dry_run [--out=DIR]         # here: the same steps,
#                                                                  # batch 2, on the CPU
# PYTHON (default python3) runs the JAX side, TORCH_PYTHON (default: PYTHON) the PyTorch one.
#
# Needs JAX (CUDA), flax, optax, torch and torchvision on the machine, and what the
# machine lacks as wheels in .whl/ (made here by benchmarks/prepare_gpu_wheels.sh:
# ml_collections for configs/). No TensorFlow: the input pipeline is not run.
#
# Steps, each with its own time limit, so that one slow step cannot starve the rest
# (about 8 minutes in all on a GPU):
#   1. device check: JAX and PyTorch see the GPU (device.json);
#   2. JAX against PyTorch on ResNet-50, bfloat16, batch 256 (compare_1_resnet50.json);
#   3. benchmark.py --profile_dir on ResNet-50: where the device time goes (profile.json);
#   4. JAX against PyTorch on the other networks, in order of priority, in what is left
#      of the time (compare_2_others.json);
#   5. summary.md / summary.json (benchmarks/gpu_suite_report.py) and suite.log.
# The exit status is 0 when every step produced its numbers, 1 otherwise (the report
# is written either way).
set -u -o pipefail

cd "$(dirname "$0")/.."
DRY_RUN=0
OUT_DIR="${OUT:-/tmp/gpu_suite}"
MODELS_FIRST=resnet50
MODELS_REST=resnet18,vgg16,densenet121,mobilenet_v2,inception_v3,googlenet_bn
for argument in "$@"; do
  case "$argument" in
    --cpu_dry_run) DRY_RUN=1 ;;
    --out=*) OUT_DIR="${argument#--out=}" ;;
    --models=*) MODELS_FIRST="${argument#--models=}"; MODELS_FIRST="${MODELS_FIRST%%,*}"
                MODELS_REST="${argument#--models=}"
                [[ "$MODELS_REST" == *,* ]] && MODELS_REST="${MODELS_REST#*,}" || MODELS_REST="" ;;
    *) echo "error: unknown argument $argument: use --cpu_dry_run, --out=DIR, --models=a,b" >&2
       exit 2 ;;
  esac
done
mkdir -p "$OUT_DIR" || exit 2
LOG="$OUT_DIR/suite.log"
: > "$LOG"
STARTED=$(date +%s)
PYTHON="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1

say() { echo "[gpu_suite $(( $(date +%s) - STARTED )) s] $*" | tee -a "$LOG"; }
seconds_left() { echo $(( TOTAL_SECONDS - ($(date +%s) - STARTED) )); }

if [[ $DRY_RUN == 1 ]]; then
  # The same steps on the CPU at tiny sizes. The device's name is a GPU's, so that
  # every MFU code path runs; the report says it was a dry run.
  export JAX_PLATFORMS=cpu CUDA_VISIBLE_DEVICES='' BENCHMARK_DEVICE_KIND='NVIDIA H200 (CPU dry run)'
  # Batch 2 at each network's paper input (Inception-v3's auxiliary head needs its 299).
  TOTAL_SECONDS=1200; FIRST_BUDGET=300; PROFILE_LIMIT=240
  SIZES=(--batch_size=2 --steps=1)
  TORCH_ARGS="--no_compile --warmup_steps=1"
  PROFILE_ARGS=(--batch_size=2 --steps=1)
else
  TOTAL_SECONDS=480; FIRST_BUDGET=200; PROFILE_LIMIT=110
  SIZES=(--batch_size=256 --steps=20)
  TORCH_ARGS=""
  PROFILE_ARGS=(--batch_size=256 --steps=10)
fi
STATUS=0

# --- The packages the image lacks, from wheels carried along ------------------------------
WHEELS=()
if ! "$PYTHON" -c 'import ml_collections' 2>/dev/null; then
  if compgen -G '.whl/*.whl' > /dev/null; then
    SITE=/tmp/gpu_suite_site
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" .whl/*.whl >> "$LOG" 2>&1 || { say 'error: installing .whl/ failed'; exit 2; }
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    for wheel in .whl/*.whl; do WHEELS+=("$(basename "$wheel")"); done
  else
    say 'error: ml_collections is missing and .whl/ holds no wheels: run' \
        'bash benchmarks/prepare_gpu_wheels.sh on a machine with pip access, carry .whl/'
    exit 2
  fi
fi

# --- 1. Device check ---------------------------------------------------------------------
say "device check (output in $OUT_DIR)"
TORCH_PYTHON="${TORCH_PYTHON:-$PYTHON}"  # may be another environment (a CPU dry run's venv)
TORCH_INFO=$(timeout 120 "$TORCH_PYTHON" -c 'import torch; print(torch.__version__, "|",
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (no CUDA device)")' \
    2>> "$LOG") || TORCH_INFO="not installed | none"
DRY_RUN=$DRY_RUN WHEELS="${WHEELS[*]:-}" TORCH_INFO="$TORCH_INFO" timeout 120 "$PYTHON" - \
    "$OUT_DIR/device.json" >> "$LOG" 2>&1 <<'EOF'
import json, os, platform, sys
import jax
devices = jax.devices()
record = {'dry_run': os.environ['DRY_RUN'] == '1', 'python': platform.python_version(),
          'jax_version': jax.__version__, 'jax_platform': devices[0].platform,
          'jax_devices': f'{len(devices)} × {devices[0].device_kind}',
          'wheels': os.environ['WHEELS'].split()}
record['torch_version'], record['torch_device'] = (
    part.strip() for part in os.environ['TORCH_INFO'].split('|', 1))
json.dump(record, open(sys.argv[1], 'w'), indent=1)
print(record)
if not record['dry_run'] and record['jax_platform'] != 'gpu':
  sys.exit(f"error: JAX sees {record['jax_devices']}, not a GPU: install jax[cuda] or "
           'use --cpu_dry_run')
EOF
if [[ $? != 0 ]]; then say 'error: the device check failed (see suite.log)'; exit 2; fi
say "device: $(tr -d '\n' < "$OUT_DIR/device.json")"

compare() {  # compare <models> <budget seconds> <output name>
  say "compare_torch.py --models=$1 (budget $2 s)"
  "$PYTHON" benchmarks/compare_torch.py --device=gpu --models="$1" "${SIZES[@]}" \
      --budget_seconds="$2" --timeout="$2" --min_run_seconds=20 \
      --torch_args="$TORCH_ARGS" --torch_python="$TORCH_PYTHON" \
      --json_out="$OUT_DIR/$3.json" >> "$LOG" 2>&1 || STATUS=1
}

# --- 2. ResNet-50 first: the headline ratio ----------------------------------------------
compare "$MODELS_FIRST" "$FIRST_BUDGET" compare_1_first

# --- 3. Profile of ResNet-50's train step ------------------------------------------------
say "benchmark.py --profile_dir, ResNet-50 (limit ${PROFILE_LIMIT} s)"
timeout "$PROFILE_LIMIT" "$PYTHON" benchmark.py --model=resnet50 --half_precision \
    "${PROFILE_ARGS[@]}" --profile_dir=/tmp/gpu_suite_profile --json \
    > "$OUT_DIR/profile.stdout" 2>> "$LOG" || STATUS=1
tail -n 1 "$OUT_DIR/profile.stdout" > "$OUT_DIR/profile.json"
rm -f "$OUT_DIR/profile.stdout"

# --- 4. The other networks, in what is left of the time ----------------------------------
LEFT=$(( $(seconds_left) - 20 ))  # 20 s for the report
if [[ -n "$MODELS_REST" && $LEFT -gt 30 ]]; then
  compare "$MODELS_REST" "$LEFT" compare_2_others
elif [[ -n "$MODELS_REST" ]]; then
  say "no time left for $MODELS_REST"; STATUS=1
fi

# --- 5. The report -----------------------------------------------------------------------
"$PYTHON" benchmarks/gpu_suite_report.py --out="$OUT_DIR" \
    --seconds=$(( $(date +%s) - STARTED )) >> "$LOG" 2>&1 || STATUS=1
say "done (status $STATUS): $OUT_DIR/summary.md"
cat "$OUT_DIR/summary.md" 2>/dev/null
exit $STATUS
