#!/usr/bin/env bash
# Reproduce the digits study of docs/results.md (CPU; seeded, so re-runs give the same numbers up to
# floating-point noise across machines). Finished runs are skipped, so an interrupted run continues.
#   OUT=runs/study       where the runs go (git-ignored)
#   SEEDS=0,1,2          training seeds of the method comparison
#   METHODS="standard dpnp pgd_at trades mart adv_dpnp"   methods of the comparison (step 2; empty: none);
#                        the standard seed-0 model of step 1 is trained whatever this says (transfer source)
#   ABLATION_SEEDS=0,1,2   training seeds of the ablations (empty: no ablations)
#   HINGE_SEEDS=0,1,2    training seeds of the feature-hinge forms scaled and distance (empty: none)
#   REPORT=1             0: skip the latent analysis and the report of step 4 (e.g. when the report
#                        is built over runs of several passes, as in docs/results.md)
#   FULL_AA_METHODS="adv_dpnp pgd_at trades"   models checked with standard AutoAttack (200 points)
#   FULL_AA_SEEDS="0"    their seeds
#   JOBS=1               runs at a time (`advdpnp sweep --jobs`; 2 on a 2-core CPU, each run single-threaded as
#                        below); steps 2-3b are one queue (`advdpnp sweep --plan OUT/sweep-plan.txt`), and
#                        step 5 another (`advdpnp eval --plan OUT/eval-plan.txt`)
#   ADVDPNP, PYTHON      the CLI and interpreter of the environment (e.g. .venv/bin/advdpnp)
#   DEFAULTS_SWEEP=0     1: also run the SPEC section 7 defaults sweep: the loss weights (11 settings x
#                        SWEEP_SEEDS, default 0,1,2: 33 runs, about 1.5 CPU-hours) and the main options
#                        (5 settings x SWEEP_SEEDS: 15 runs + the base runs, copied; about 40 CPU-min);
#                        see docs/results.md
#   OVERRIDES=""         extra config overrides for every run, e.g. the first pass of docs/results.md:
#                        OVERRIDES="train.lr=0.1 attack.eps_ramp_epochs=0" OUT=runs/study-lr0.1
# Cost on the 2-core CPU of docs/results.md: about 3 min per adversarially trained run (train +
# `--suite paper` below) with one thread, about 1 min per standard run.
set -euo pipefail
cd "$(dirname "$0")/.."
ADVDPNP=${ADVDPNP:-advdpnp}
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs/study}
SEEDS=${SEEDS:-0,1,2}
ABLATION_SEEDS=${ABLATION_SEEDS-0,1,2}
read -r -a TRAIN <<< "train.threads=1 ${OVERRIDES:-}"
EVAL=(--suite paper --eval-arg=--threads=1 --eval-arg=--check-points=100
      --eval-arg=--square-queries=300 --eval-arg=--no-progress)
JOBS=${JOBS:-1}
TRANSFER=--eval-arg=--transfer-from=$OUT/digits-standard/base-s0
source scripts/lib/plans.sh  # OUT's lock, and the plans' files (steps 2-3b, 5)

# 1. The standard seed-0 model first: it is the source of every other run's transfer check.
"$ADVDPNP" sweep configs/quick/digits-standard.yaml "${TRAIN[@]}" --seeds 0 "${EVAL[@]}" \
  --eval-arg=--transfer-epochs=0 -o "$OUT/digits-standard" --jobs "$JOBS"

# Steps 2 to 3b are the lines of one plan (`sweep_line ARGS...`), run as one queue by `run_sweeps` below.

# 2. Method comparison, all 360 test points, AutoAttack's APGD-CE + APGD-T, PGD-20, FGSM, CW-inf,
#    the adaptive prototype attack(s), masking checks on 100 points.
for m in ${METHODS-standard dpnp pgd_at trades mart adv_dpnp}; do
  sweep_line "configs/quick/digits-$m.yaml" "${TRAIN[@]}" --seeds "$SEEDS" "${EVAL[@]}" "$TRANSFER" -o "$OUT/digits-$m"
done

# 3. Ablations of Adv-DPNP, same evaluation.
for a in no_pos no_neg no_cons single_branch proto_pgd_at; do
  [ -n "$ABLATION_SEEDS" ] || break
  sweep_line "configs/quick/ablations/digits-$a.yaml" "${TRAIN[@]}" --seeds "$ABLATION_SEEDS" "${EVAL[@]}" "$TRANSFER" \
    -o "$OUT/ablation-$a"
done

# 3b. The feature hinge in the forms other than SPEC's (method.hinge; docs/results.md, Stability).
HINGE_SEEDS=${HINGE_SEEDS-0,1,2}
[ -z "$HINGE_SEEDS" ] || sweep_line configs/quick/ablations/digits-repulsion_feature.yaml "${TRAIN[@]}" \
  --set method.hinge=scaled,distance --seeds "$HINGE_SEEDS" "${EVAL[@]}" "$TRANSFER" -o "$OUT/hinge"

run_sweeps

# 4. Latent analysis of seed 0 of each method, and the report (figures) over those runs.
if [ "${REPORT:-1}" = 1 ]; then
  runs=()
  for m in standard dpnp pgd_at trades mart adv_dpnp; do
    [ -f "$OUT/digits-$m/base-s0/latent.json" ] || "$ADVDPNP" analyze "$OUT/digits-$m/base-s0"
    runs+=("$OUT/digits-$m/base-s0")
  done
  "$ADVDPNP" report "${runs[@]}" -o "$OUT/report"
  "$PYTHON" scripts/publish_report.py "$OUT/report" docs/figures/digits
fi

# 5. Standard AutoAttack on 200 points of the main methods (FULL_AA_SEEDS) vs the cheaper variant, JOBS
#    evaluations at a time (finished ones are skipped).
pairs=()
for M in ${FULL_AA_METHODS-adv_dpnp pgd_at trades}; do
  for s in ${FULL_AA_SEEDS-0}; do
    full="$OUT/full/$M-s$s.json"
    eval_line "$OUT/digits-$M/base-s$s" --suite full --n 200 --threads 1 --transfer-epochs 0 --check-points 50 \
      --square-queries 100 --no-progress --out "$full"
    pairs+=("$OUT/digits-$M/base-s$s/results.json" "$full")
  done
done
run_evals
[ ${#pairs[@]} -eq 0 ] || "$PYTHON" scripts/compare_aa_variants.py "${pairs[@]}"

# 6. Optional: SPEC section 7 defaults sweep. Each loss weight is varied alone around the preset (one at
#    a time, 11 settings); the choice is made on the validation split against the PGD-AT runs of
#    step 2, and the rule's AutoAttack form is then checked on the test split (advdpnp sweep --help).
if [ "${DEFAULTS_SWEEP:-0}" = 1 ]; then
  SWEEP_SEEDS=${SWEEP_SEEDS:-0,1,2}
  "$ADVDPNP" sweep configs/quick/digits-adv_dpnp.yaml "${TRAIN[@]}" --one-at-a-time \
    --set model.radius=2,8 --set method.lambda_pos=0,1 --set method.lambda_neg=0.3,3 \
    --set method.lambda_cons=0.3,3 --set method.beta_adv=0.5,2 --seeds "$SWEEP_SEEDS" \
    "${EVAL[@]}" "$TRANSFER" --reference "$OUT/digits-pgd_at" -o "$OUT/defaults" --jobs "$JOBS"
  # The main options, one at a time around the preset, same rule (consistency, repulsion, logits,
  # training-attack loss). Its base runs are the loss-weight sweep's (same config and seed): copied.
  for s in ${SWEEP_SEEDS//,/ }; do
    [ -e "$OUT/options/base-s$s" ] || { mkdir -p "$OUT/options"; cp -a "$OUT/defaults/base-s$s" "$OUT/options/"; }
  done
  "$ADVDPNP" sweep configs/quick/digits-adv_dpnp.yaml "${TRAIN[@]}" --one-at-a-time \
    --set method.consistency=feature_l2 --set method.repulsion=feature --set model.logits=cosine,neg_sqdist \
    --set attack.loss=kl --seeds "$SWEEP_SEEDS" "${EVAL[@]}" "$TRANSFER" \
    --reference "$OUT/digits-pgd_at" -o "$OUT/options" --jobs "$JOBS"
fi

"$PYTHON" scripts/study_tables.py "$OUT" --seeds "$SEEDS"
