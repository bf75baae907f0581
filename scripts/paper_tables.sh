#!/usr/bin/env bash
# The paper's tables end to end on a GPU: train every configs/paper preset, evaluate it with
# `--suite full` (standard AutoAttack + CW-inf + PGD-20 + FGSM + adaptive prototype attacks +
# masking checks + generated corruptions), analyze the latent space, and write one report per
# dataset/architecture. NOT RUN YET: no GPU was available to this project so far.
#
#   DATASETS="cifar10 cifar100 svhn"   ARCHS="preact_resnet18 wrn34_10"
#   METHODS="standard dpnp pgd_at trades mart adv_dpnp"   SEED=0   OUT=runs/paper
#   N=                  test points per evaluation (default: the whole test split)
#   AMP=bf16            training autocast on CUDA (none|bf16|fp16)
#   ADVDPNP_DATA        where CIFAR-10/100 and SVHN are (or will be downloaded to)
#
# Expected cost (an ESTIMATE, not measured here; see docs/results.md "GPU script"): the presets hold
# 3360 PreAct-ResNet-18 epochs and 2898 WRN-34-10 epochs over the 3 datasets x 6 methods. At an
# assumed ~0.6 min per PGD-10 epoch for PreAct-18 and ~6 min for WRN-34-10 on one H100 (SVHN has
# 1.5x CIFAR's training images; Adv-DPNP costs ~1.12x PGD-AT per step, docs/performance.md), training
# is ~40 GPU-hours (PreAct-18) + ~340 GPU-hours (WRN-34-10). Standard AutoAttack on 10k images took
# ~13 h per WRN-34-10 model in the AWP logs (shared notes/anchors.md), so `--suite full` on all
# points adds ~1-2 h per PreAct-18 model and ~13 h per WRN-34-10 model; set N=1000 to cut it 10x.
# Start with ARCHS=preact_resnet18 DATASETS=cifar10 (~6 models, roughly 1-1.5 GPU-days).
set -euo pipefail
cd "$(dirname "$0")/.."
ADVDPNP=${ADVDPNP:-advdpnp}
DATASETS=${DATASETS:-cifar10 cifar100 svhn}
ARCHS=${ARCHS:-preact_resnet18 wrn34_10}
METHODS=${METHODS:-standard dpnp pgd_at trades mart adv_dpnp}
SEED=${SEED:-0}
OUT=${OUT:-runs/paper}
AMP=${AMP:-bf16}
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
             train.device=cuda --run-dir "$run" --no-eval
      fi
      transfer=(--transfer-from "$src"); [ "$m" = standard ] && transfer=(--transfer-epochs 0)
      "$ADVDPNP" eval "$run" --suite full --device cuda "${NARG[@]}" "${transfer[@]}" \
        --corruptions "$corr" --no-progress
      "$ADVDPNP" analyze "$run" --device cuda
      runs+=("$run")
    done
    "$ADVDPNP" report "${runs[@]}" -o "$OUT/report-$ds-$arch"
  done
done
