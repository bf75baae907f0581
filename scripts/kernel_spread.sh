#!/usr/bin/env bash
# How far do a CPU's floating-point kernels move a seeded run (docs/results-log.md, seventeenth pass)?
# Re-trains seed 0 of four digits models of scripts/reproduce_digits.sh (Adv-DPNP, PGD-AT and standard at
# recipe B; TRADES at recipe A, its validation choice) with PyTorch's kernels as they are ("default") and
# limited to AVX2: ATen's (ATEN_CPU_CAPABILITY=avx2), oneDNN's (ONEDNN_MAX_CPU_ISA=AVX2), and both. On a CPU
# with AVX-512 each setting rounds differently, so it trains another model from the same seed; on an
# AVX2-only CPU the settings are all the default. "default" must equal seed 0 of the digits study run on
# the same machine. Run after scripts/reproduce_digits.sh: its standard seed-0 models are the transfer
# sources of the masking checks.
#   OUT=runs/kernels     where the runs go (OUT/SETTING/digits-METHOD; git-ignored)
#   SETTINGS="default aten onednn both"   which kernel settings to run
#   STUDY=runs/study  STUDY_A=runs/study-lr0.1   the digits study's recipe-B and recipe-A folders
#   ADVDPNP, PYTHON      the CLI and interpreter of the environment (e.g. .venv/bin/advdpnp)
# Cost: one setting (4 runs) took 7.8 min on one core of the seventeenth pass's CPU, so about 30 min in all.
set -euo pipefail
cd "$(dirname "$0")/.."
ADVDPNP=${ADVDPNP:-advdpnp}
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs/kernels}
STUDY=${STUDY:-runs/study}
STUDY_A=${STUDY_A:-runs/study-lr0.1}
EVAL=(--suite paper --eval-arg=--threads=1 --eval-arg=--check-points=100
      --eval-arg=--square-queries=300 --eval-arg=--no-progress)

SETTINGS=${SETTINGS:-default aten onednn both}

kernels_for() {  # sets `kernels`, the environment assignments of setting $1
  case $1 in
    default) kernels=() ;;
    aten) kernels=(ATEN_CPU_CAPABILITY=avx2) ;;
    onednn) kernels=(ONEDNN_MAX_CPU_ISA=AVX2) ;;
    both) kernels=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2) ;;
    *) echo "kernel_spread.sh: unknown setting '$1' (default, aten, onednn, both)" >&2; exit 2 ;;
  esac
}
for setting in $SETTINGS; do kernels_for "$setting"; done  # a typo stops the script before any training

for setting in $SETTINGS; do
  kernels_for "$setting"
  for m in adv_dpnp pgd_at standard trades; do
    if [ "$m" = trades ]; then recipe=(train.lr=0.1 attack.eps_ramp_epochs=0); study=$STUDY_A
    else recipe=(train.lr=0.05 attack.eps_ramp_epochs=5); study=$STUDY; fi
    env ${kernels[@]+"${kernels[@]}"} "$ADVDPNP" sweep "configs/quick/digits-$m.yaml" train.threads=1 "${recipe[@]}" \
      --seeds 0 "${EVAL[@]}" --eval-arg=--transfer-from="$study/digits-standard/base-s0" -o "$OUT/$setting/digits-$m"
  done
done

# One table per setting (a mean over different models means nothing, so it is left out), then each
# model's mean ± std over the settings.
for setting in $SETTINGS; do
  echo "### kernels: $setting"
  "$PYTHON" scripts/study_tables.py --results "$OUT/$setting"/digits-*/base-s0/results.json | grep -v 'mean ± std'
done
echo "### each model over the settings (its rows are the tables above)"
"$PYTHON" scripts/study_tables.py --results "$OUT"/*/digits-*/base-s0/results.json --by-name \
  | grep -E '^\| results |^\|---|mean ± std'
