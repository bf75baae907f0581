#!/usr/bin/env bash
# Reproduce the Fashion-MNIST study of docs/results.md (CPU; seeded). Finished runs are skipped, so
# an interrupted run continues. Needs the data: apt-get install -y dataset-fashion-mnist.
#   OUT=runs/fmnist-w    where the runs go (git-ignored)
#   CORRUPTIONS=runs/fmnist/corruptions   the generated corruption set (made here if missing)
#   SEEDS=0,1,2          training seeds
#   METHODS="standard dpnp pgd_at trades mart adv_dpnp"   methods of the comparison (empty: none, e.g. to
#                        add ablations to a finished comparison)
#   ABLATIONS="no_pos no_neg no_cons single_branch proto_pgd_at"   ablations of Adv-DPNP (step 3b)
#   ABLATION_SEEDS=0,1,2 training seeds of the ablations (empty: no ablations)
#   HINGE_SEEDS=0,1,2    training seeds of Adv-DPNP with the feature hinge (step 3c; empty: none)
#   HINGES="scaled"      the feature hinge's kinds in step 3c (method.hinge: scaled, distance; runs hinge=KIND-sS)
#   HINGE_MARGINS=""     e.g. 0.5: step 3c also runs each kind at these hinge margins (method.margin; runs
#                        hinge=KIND-margin=M-sS), e.g. the margin step 6b chose, under the paper suite
#   SUBSET=4000 EPOCHS=6   training images (stratified) and epochs: what fits a 2-core CPU
#   N=1000               test points of every evaluation (AutoAttack's APGD-CE + APGD-T included);
#                        the corruption set is generated for the first 1000
#   FULL_AA_N=200        test points of the standard-AutoAttack comparison (0 skips it)
#   FULL_AA_METHODS="adv_dpnp pgd_at"   the models of that comparison
#   FULL_AA_ABLATIONS="" ablations added to that comparison (e.g. "no_cons proto_pgd_at")
#   FULL_AA_SEEDS="0"    their seeds (each ~13 min on one core)
#   BEYOND_EPS=""        e.g. 0.15: also evaluate (paper suite, N points) at another eps than the training one,
#                        usually beyond it (step 5b)
#   BEYOND_METHODS="adv_dpnp pgd_at trades mart"   BEYOND_SEEDS="$SEEDS"   the models of step 5b
#   BEYOND_ABLATIONS=""  ablations added to step 5b (e.g. "proto_pgd_at no_cons"; files eps*/ablation-NAME-sS.json)
#   DEFAULTS_SWEEP=0     1: also run the SPEC section 7 defaults sweep that chose the Adv-DPNP preset
#                        (step 6): 23 settings around the preset as it was before (attack.loss=ce),
#                        SWEEP_SEEDS (default 0,1,2), about 8 CPU-min per run
#   HINGE_GRID=0         1: also run step 6b, a finer grid of the scaled feature hinge's margin (0.1, 0.5) and
#                        weight (lambda_neg 0.5, 2) around preset + scaled hinge, with the preset itself as a
#                        point: 6 settings, SWEEP_SEEDS, about 8 CPU-min per run
#   FIGURES=docs/figures/fmnist   where step 4 publishes the report's figures (empty: not published,
#                        e.g. for a pass at another SUBSET/EPOCHS that must not replace the study's figures)
#   OVERRIDES=""         extra config overrides for every run; the first pass of docs/results.md was
#                        OVERRIDES="train.warmup_epochs=0" N=500 OUT=runs/fmnist
#   TRANSFER=""          the transfer source of every run's transfer check: an existing run folder, which
#                        skips step 2 (e.g. the study's standard model for a pass at another training eps);
#                        default: step 2's standard seed-0 model, $OUT/fmnist-standard/base-s0
#   JOBS=1               runs at a time (`advdpnp sweep --jobs`; 2 on a 2-core CPU, each run single-threaded as
#                        below); steps 3-3c are one queue (`advdpnp sweep --plan OUT/sweep-plan.txt`), and
#                        steps 5-5b another (`advdpnp eval --plan OUT/eval-plan.txt`)
#   ADVDPNP, PYTHON      the CLI and interpreter of the environment (e.g. .venv/bin/advdpnp)
# Cost on the 2-core CPU of docs/results.md, one thread per run: see docs/results.md (Compute used).
set -euo pipefail
cd "$(dirname "$0")/.."
ADVDPNP=${ADVDPNP:-advdpnp}
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs/fmnist-w}
CORRUPTIONS=${CORRUPTIONS:-runs/fmnist/corruptions}
SEEDS=${SEEDS:-0,1,2}
METHODS=${METHODS-standard dpnp pgd_at trades mart adv_dpnp}
SUBSET=${SUBSET:-4000}
EPOCHS=${EPOCHS:-6}
N=${N:-1000}
FULL_AA_N=${FULL_AA_N:-200}
read -r -a TRAIN <<< "data.train_subset=$SUBSET train.epochs=$EPOCHS train.threads=1 ${OVERRIDES:-}"
# the attack budgets of every evaluation here (the masking checks on 50 points, Square with 100 queries)
EVAL_OPTS=(--threads=1 --check-points=50 --square-queries=100 --no-progress)
EVAL=(--suite paper --n "$N" "${EVAL_OPTS[@]/#/--eval-arg=}" --eval-arg=--corruptions="$CORRUPTIONS")
JOBS=${JOBS:-1}
if [ -n "${TRANSFER:-}" ] && [ ! -f "$TRANSFER/config.yaml" ]; then
  echo "TRANSFER=$TRANSFER: not a run folder (no config.yaml)" >&2; exit 2
fi
source scripts/lib/plans.sh  # OUT's lock, and the plans' files (steps 3-3c, 5-5b)

# 1. Generated corruptions (imagecorruptions, 15 kinds x 5 severities, seed 0) of the first 1000 test images.
[ -f "$CORRUPTIONS/labels.npy" ] \
  || "$ADVDPNP" corrupt --dataset fashion-mnist --n 1000 --out "$CORRUPTIONS" --no-progress

# 2. The standard seed-0 model first: it is the transfer source of every other run's transfer check.
if [ -z "${TRANSFER:-}" ]; then
  TRANSFER=$OUT/fmnist-standard/base-s0
  "$ADVDPNP" sweep configs/quick/fmnist-standard.yaml "${TRAIN[@]}" --seeds 0 "${EVAL[@]}" \
    --eval-arg=--transfer-epochs=0 -o "$OUT/fmnist-standard" --jobs "$JOBS"
fi

# Steps 3 to 3c are the lines of one plan (`sweep_line ARGS...`), run as one queue by `run_sweeps` below.

# 3. Method comparison.
for m in $METHODS; do
  sweep_line "configs/quick/fmnist-$m.yaml" "${TRAIN[@]}" --seeds "$SEEDS" "${EVAL[@]}" \
    --eval-arg=--transfer-from="$TRANSFER" -o "$OUT/fmnist-$m"
done

# 3b. Ablations of Adv-DPNP, same training and evaluation.
ABLATION_SEEDS=${ABLATION_SEEDS-0,1,2}
for a in ${ABLATIONS:-no_pos no_neg no_cons single_branch proto_pgd_at}; do
  [ -n "$ABLATION_SEEDS" ] || break
  sweep_line "configs/quick/ablations/fmnist-$a.yaml" "${TRAIN[@]}" --seeds "$ABLATION_SEEDS" "${EVAL[@]}" \
    --eval-arg=--transfer-from="$TRANSFER" -o "$OUT/ablation-$a"
done

# 3c. The feature hinge, rescaled (method.hinge=scaled; docs/results.md, Stability) or on distances
#     (HINGES="scaled distance"), same training and evaluation.
#     HINGE_MARGINS adds each kind at other margins as grid points; with step 3's PGD-AT runs as the reference
#     (trained by this plan, or earlier), the sweep's table applies the defaults rule with AutoAttack in its test
#     check.
HINGE_SEEDS=${HINGE_SEEDS-0,1,2}
HINGES=${HINGES:-scaled}
hinge_args=(--set "method.hinge=${HINGES// /,}")
for k in $HINGES; do
  for m in ${HINGE_MARGINS:-}; do hinge_args+=(--point "method.hinge=$k method.margin=$m"); done
done
if [[ " $METHODS " == *" pgd_at "* ]] || compgen -G "$OUT/fmnist-pgd_at/*/results.json" > /dev/null; then
  hinge_args+=(--reference "$OUT/fmnist-pgd_at")
fi
[ -z "$HINGE_SEEDS" ] || sweep_line configs/quick/ablations/fmnist-repulsion_feature.yaml "${TRAIN[@]}" \
  "${hinge_args[@]}" --seeds "$HINGE_SEEDS" "${EVAL[@]}" --eval-arg=--transfer-from="$TRANSFER" -o "$OUT/hinge"

run_sweeps

# 4. Latent analysis of every evaluated seed of the methods and ablations (study_tables.py averages it),
#    the report over seed 0 of every method evaluated in OUT (not only this call's METHODS, so a call
#    that adds one method or an ablation keeps the report whole).
runs=()
for m in standard dpnp pgd_at trades mart adv_dpnp; do
  if [ -f "$OUT/fmnist-$m/base-s0/results.json" ]; then runs+=("$OUT/fmnist-$m/base-s0"); fi
done
for run in "$OUT"/fmnist-*/base-s* "$OUT"/ablation-*/base-s*; do
  [ ! -f "$run/results.json" ] || [ -f "$run/latent.json" ] || "$ADVDPNP" analyze "$run" --n "$N" --threads 1
done
"$ADVDPNP" report "${runs[@]}" -o "$OUT/report"
FIGURES=${FIGURES-docs/figures/fmnist}
[ -z "$FIGURES" ] || "$PYTHON" scripts/publish_report.py "$OUT/report" "$FIGURES"

# The run folders of some methods ($1) and ablations ($2) of steps 5 and 5b. Their result files are named for
# the folder less its "fmnist-" (adv_dpnp-s0.json, ablation-no_cons-s0.json), so a table tells them apart.
run_folders() {
  local name
  for name in $1; do echo "fmnist-$name"; done
  for name in $2; do echo "ablation-$name"; done
}

# 5. Standard AutoAttack on FULL_AA_N points of Adv-DPNP and PGD-AT (FULL_AA_SEEDS) vs the cheaper variant;
#    FULL_AA_ABLATIONS adds ablations (files full/ablation-NAME-sS.json, named so the table can tell them apart).
pairs=()
if [ "$FULL_AA_N" -gt 0 ]; then
  mapfile -t folders < <(run_folders "${FULL_AA_METHODS-adv_dpnp pgd_at}" "${FULL_AA_ABLATIONS:-}")
  for f in "${folders[@]}"; do
    for s in ${FULL_AA_SEEDS-0}; do
      full="$OUT/full/${f#fmnist-}-s$s.json"
      eval_line "$OUT/$f/base-s$s" --suite full --n "$FULL_AA_N" "${EVAL_OPTS[@]}" --transfer-epochs 0 --out "$full"
      pairs+=("$OUT/$f/base-s$s/results.json" "$full")
    done
  done
fi

# 5b. Optional: the paper suite at BEYOND_EPS (AutoAttack included) on the robust methods, so the
#     fall-off beyond the training radius is measured by more than the PGD-20 eps curve.
beyond=()
if [ -n "${BEYOND_EPS:-}" ]; then
  mapfile -t folders < <(run_folders "${BEYOND_METHODS-adv_dpnp pgd_at trades mart}" "${BEYOND_ABLATIONS:-}")
  for folder in "${folders[@]}"; do
    for s in ${BEYOND_SEEDS:-${SEEDS//,/ }}; do
      f="$OUT/eps$BEYOND_EPS/${folder#fmnist-}-s$s.json"
      eval_line "$OUT/$folder/base-s$s" --suite paper --eps "$BEYOND_EPS" --n "$N" "${EVAL_OPTS[@]}" \
        --transfer-from "$TRANSFER" --out "$f"
      beyond+=("$f")
    done
  done
fi

# Steps 5 and 5b are one queue (JOBS evaluations at a time; finished ones are skipped), then their tables.
run_evals
[ ${#pairs[@]} -eq 0 ] || "$PYTHON" scripts/compare_aa_variants.py "${pairs[@]}"
[ ${#beyond[@]} -eq 0 ] || "$PYTHON" scripts/study_tables.py --results "${beyond[@]}" --by-name

# the defaults sweeps' seeds, test evaluation (quick suite) and reference (step 3's PGD-AT runs)
SWEEP=(--seeds "${SWEEP_SEEDS:-0,1,2}" --suite quick --n "$N" --eval-arg=--threads=1 --eval-arg=--no-progress
  --reference "$OUT/fmnist-pgd_at" --jobs "$JOBS")

# 6. Optional: the SPEC section 7 defaults sweep that chose the preset. Each loss weight and main
#    option is varied alone around the preset as it was before the sweep (training attack CE); the
#    choice is made on the validation split against the PGD-AT runs of step 3. Its test evaluation is
#    the quick suite (clean, FGSM, PGD-20) on N points. It chose attack.loss=kl, now the preset, so
#    the chosen setting's runs are the step-3 Adv-DPNP runs (same config and seeds) and their
#    `--suite paper` evaluation (AutoAttack included) is step 3's. The --point settings put the
#    rescaled feature hinge (step 3c) under the same rule: alone, combined with attack.loss=kl, and
#    with that combination's hinge margin or weight (lambda_neg) moved; and the distance hinge with KL.
if [ "${DEFAULTS_SWEEP:-0}" = 1 ]; then
  "$ADVDPNP" sweep configs/quick/fmnist-adv_dpnp.yaml "${TRAIN[@]}" attack.loss=ce --one-at-a-time \
    --set model.radius=2,8 --set method.lambda_pos=0,1 --set method.lambda_neg=0.3,3 \
    --set method.lambda_cons=0.3,3 --set method.beta_adv=0.5,2 --set model.logits=cosine,neg_sqdist \
    --set method.consistency=feature_l2 --set method.repulsion=feature --set attack.loss=kl \
    --point "method.repulsion=feature method.hinge=scaled" \
    --point "attack.loss=kl method.repulsion=feature method.hinge=scaled" \
    --point "attack.loss=kl method.repulsion=feature method.hinge=scaled method.margin=0.3" \
    --point "attack.loss=kl method.repulsion=feature method.hinge=scaled method.margin=3" \
    --point "attack.loss=kl method.repulsion=feature method.hinge=scaled method.lambda_neg=0.3" \
    --point "attack.loss=kl method.repulsion=feature method.hinge=scaled method.lambda_neg=3" \
    --point "attack.loss=kl method.repulsion=feature method.hinge=distance" \
    "${SWEEP[@]}" -o "$OUT/sweep"
fi

# 6b. Optional: step 6 moved the scaled hinge's margin (0.3, 3) and weight (0.3, 3) around its defaults (1, 1);
#     this finer grid moves each one at a time to 0.1, 0.5 (margin) and 0.5, 2 (lambda_neg, which weights
#     prototype repulsion and the hinge together) around the current preset + scaled hinge, and adds the preset
#     without the hinge as a point, so the rule compares all six settings in one table.
if [ "${HINGE_GRID:-0}" = 1 ]; then
  "$ADVDPNP" sweep configs/quick/fmnist-adv_dpnp.yaml "${TRAIN[@]}" method.repulsion=feature method.hinge=scaled \
    --one-at-a-time --set method.margin=0.1,0.5 --set method.lambda_neg=0.5,2 \
    --point "method.repulsion=prototype method.hinge=squared" "${SWEEP[@]}" -o "$OUT/hinge-grid"
fi

# the study's tables; with BEYOND_EPS also AutoAttack at the training eps against BEYOND_EPS, paired seed by seed
tables=("$OUT" --prefix fmnist --seeds "$SEEDS")
[ -z "${BEYOND_EPS:-}" ] || tables+=(--beyond "$OUT/eps$BEYOND_EPS")
"$PYTHON" scripts/study_tables.py "${tables[@]}"
