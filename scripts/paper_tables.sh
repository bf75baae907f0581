#!/usr/bin/env bash
# The paper's tables end to end on a GPU: train every configs/paper preset, evaluate it with
# `--suite full` (standard AutoAttack + CW-inf + PGD-20 + FGSM + adaptive prototype attacks +
# masking checks + generated corruptions), analyze the latent space, and write one report per
# dataset/architecture. Ran end to end on one H100 on synthetic CIFAR-10 (the smoke test below, 2 epochs);
# the real tables have not been run yet.
#
#   DATASETS="cifar10 cifar100 svhn"   ARCHS="preact_resnet18 wrn34_10"
#   METHODS="standard dpnp pgd_at trades mart adv_dpnp"   SEED=0   OUT=runs/paper
#   N=                  test points per evaluation (default: the whole test split)
#   AMP=bf16            training autocast on CUDA (none|bf16|fp16)
#   ADVDPNP_DATA        where CIFAR-10/100 and SVHN are (or will be downloaded to)
#   TRAIN_ARGS=         extra training overrides, e.g. "train.epochs=1" for a smoke run
#   DEVICE=cuda         training/evaluation device
#   CHANNELS_LAST=true  channels_last training (faster in 5 of 6 H100 measurements, docs/performance.md)
#
# Smoke test on a machine without the datasets (synthetic CIFAR-10, the real reader, every step):
#   python scripts/make_synthetic_cifar.py /tmp/syn
#   ADVDPNP_DATA=/tmp/syn DATASETS=cifar10 ARCHS=preact_resnet18 METHODS="standard adv_dpnp" N=200 \
#     TRAIN_ARGS="train.epochs=1" OUT=/tmp/smoke scripts/paper_tables.sh
#
# Expected cost, training MEASURED per step on one H100 (benchmarks/bench_gpu_epoch.py, docs/performance.md
# "GPU: one H100"): PGD-10 steps of 56-73 ms (PreAct-18) and 276-314 ms (WRN-34-10) give 0.36-0.46 and
# 1.8-2.0 min per CIFAR epoch (SVHN: x1.47 images), i.e. ~18 GPU-hours for the 18 PreAct-18 presets and
# ~66 GPU-hours for the 18 WRN-34-10 presets, validation excluded (1000 points per epoch: small).
# Evaluation is an ESTIMATE: standard AutoAttack on 10k images took ~13 h per WRN-34-10 model on older
# GPUs in the AWP logs (shared notes/anchors.md); set N=1000 to cut it 10x. Start with
# ARCHS=preact_resnet18 DATASETS=cifar10 (6 models, ~5 GPU-hours of training).
set -euo pipefail
cd "$(dirname "$0")/.."
ADVDPNP=${ADVDPNP:-advdpnp}
DATASETS=${DATASETS:-cifar10 cifar100 svhn}
ARCHS=${ARCHS:-preact_resnet18 wrn34_10}
METHODS=${METHODS:-standard dpnp pgd_at trades mart adv_dpnp}
SEED=${SEED:-0}
OUT=${OUT:-runs/paper}
AMP=${AMP:-bf16}
DEVICE=${DEVICE:-cuda}
read -r -a EXTRA <<< "${TRAIN_ARGS:-}"
NARG=()
if [ -n "${N:-}" ]; then NARG=(--n "$N"); fi

for ds in $DATASETS; do
  corr="$OUT/corruptions/$ds"
  [ -d "$corr" ] || "$ADVDPNP" corrupt --dataset "$ds" "${NARG[@]}" --out "$corr" --no-progress
  for arch in $ARCHS; do
    src="$OUT/$ds-$arch-standard-s$SEED"   # transfer-check source: the standard model of the same arch
    runs=()
    for m in standard $(printf '%s\n' $METHODS | grep -vx standard); do   # standard first: transfer source
      run="$OUT/$ds-$arch-$m-s$SEED"
      if [ -f "$run/results.json" ]; then runs+=("$run"); continue; fi
      if [ -f "$run/checkpoints/last.pt" ]; then "$ADVDPNP" train --resume "$run" --no-eval
      else "$ADVDPNP" train "configs/paper/$ds-$arch-$m.yaml" "train.seed=$SEED" "train.amp=$AMP" \
             "train.device=$DEVICE" "train.channels_last=${CHANNELS_LAST:-true}" "${EXTRA[@]}" \
             --run-dir "$run" --no-eval
      fi
      transfer=(--transfer-from "$src"); [ "$m" = standard ] && transfer=(--transfer-epochs 0)
      "$ADVDPNP" eval "$run" --suite full --device "$DEVICE" "${NARG[@]}" "${transfer[@]}" \
        --corruptions "$corr" --no-progress
      "$ADVDPNP" analyze "$run" --device "$DEVICE"
      runs+=("$run")
    done
    "$ADVDPNP" report "${runs[@]}" -o "$OUT/report-$ds-$arch"
  done
done
