#!/usr/bin/env bash
# A short, prepared check of a CUDA machine (~6-8 min on one H100), for a session that gets a GPU for minutes:
#   1. the machine (nvidia-smi, torch, CUDA);
#   2. the paper presets' training-step cost (benchmarks/bench_gpu_epoch.py): every method, PreAct ResNet-18 and
#      WRN-34-10, bf16 (the paper script's default), fp32, channels_last and cudnn.benchmark, projected to epochs;
#   3. scripts/paper_tables.sh end to end on synthetic CIFAR-10 (make_synthetic_cifar.py): corruptions, bf16
#      training, `eval --suite full` (standard AutoAttack ...), analyze and report, for standard and adv_dpnp;
#   4. DDP: `torchrun -m advdpnp train` (NCCL) and a sharded `torchrun -m advdpnp eval`;
#   5. the test suite with CUDA visible.
# Each stage has its own time limit, logs to $OUT/STAGE.log and adds a line to $OUT/summary.txt; a failed stage
# does not stop the next one. Needs advdpnp importable by $PYTHON and on PATH (`pip install -e ".[test]"`).
#
#   OUT=runs/gpu-check  PYTHON=python  GPUS=1 (torchrun processes)  SMOKE_EPOCHS=2  SMOKE_N=100
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
PYTHON=${PYTHON:-python}
GPUS=${GPUS:-1}
SYN="$OUT/synthetic-data"
mkdir -p "$OUT"
: > "$OUT/summary.txt"

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log, one summary line, show the log's end
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "== $name (limit ${limit}s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  echo "$name rc=$rc $(( $(date +%s) - start ))s" | tee -a "$OUT/summary.txt"
  tail -n "${TAIL:-12}" "$OUT/$name.log"
}

stage machine 60 bash -c "nvidia-smi; $PYTHON -c 'import torch; print(torch.__version__, torch.version.cuda, \
torch.cuda.get_device_name(), torch.backends.cudnn.version())'"
stage data 60 "$PYTHON" scripts/make_synthetic_cifar.py "$SYN" --train 5000 --test 1000
export ADVDPNP_DATA=$SYN

stage bench-preact 150 "$PYTHON" benchmarks/bench_gpu_epoch.py --archs preact_resnet18 --amps bf16 none \
  --json "$OUT/bench-preact.json"
stage bench-variants 90 "$PYTHON" benchmarks/bench_gpu_epoch.py --archs preact_resnet18 --methods pgd_at adv_dpnp \
  --variants base channels_last cudnn_benchmark --json "$OUT/bench-variants.json"
stage bench-wrn 150 "$PYTHON" benchmarks/bench_gpu_epoch.py --archs wrn34_10 --reps 5 --json "$OUT/bench-wrn.json"

stage paper-smoke 240 env DATASETS=cifar10 ARCHS=preact_resnet18 METHODS="standard adv_dpnp" N="${SMOKE_N:-100}" \
  TRAIN_ARGS="train.epochs=${SMOKE_EPOCHS:-2} train.progress=false" OUT="$OUT/paper" scripts/paper_tables.sh

ddp=$OUT/ddp-adv_dpnp
stage ddp 120 bash -c "torchrun --nproc_per_node=$GPUS -m advdpnp train \
  configs/paper/cifar10-preact_resnet18-adv_dpnp.yaml train.epochs=1 train.device=cuda train.amp=bf16 \
  train.progress=false --run-dir $ddp --no-eval && \
  torchrun --nproc_per_node=$GPUS -m advdpnp eval $ddp --suite quick --points 500 --device cuda --no-progress"

stage tests 120 "$PYTHON" -m pytest -q -n 8 -p no:cacheprovider
echo "== summary"
cat "$OUT/summary.txt"
