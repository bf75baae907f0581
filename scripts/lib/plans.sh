# Sourced by the study scripts: their runs as the lines of two plans, each run as one queue with JOBS at a time
# (where a call per sweep or per evaluation would leave cores idle at the end of each): the comparison's sweeps
# (`sweep_line ARGS`, run by `run_sweeps` through `advdpnp sweep --plan`) and the evaluations that read trained
# runs again (`eval_line ARGS`, run by `run_evals` through `advdpnp eval --plan`). Needs OUT, ADVDPNP and JOBS.
mkdir -p "$OUT"
SWEEP_PLAN=$OUT/sweep-plan.txt
EVAL_PLAN=$OUT/eval-plan.txt
: > "$SWEEP_PLAN"
: > "$EVAL_PLAN"

_plan_line() {  # FILE ARGS: one line of a plan, each argument quoted only where the shell would need it
  local file=$1 a q=(); shift
  for a in "$@"; do [[ $a =~ ^[-A-Za-z0-9_./=,:@%+]+$ ]] && q+=("$a") || q+=("$(printf %q "$a")"); done
  echo "${q[*]}" >> "$file"
}

sweep_line() { _plan_line "$SWEEP_PLAN" "$@"; }  # one sweep: preset, overrides, --seeds, ... -o FOLDER
eval_line() { _plan_line "$EVAL_PLAN" "$@"; }    # one evaluation: RUN_DIR --suite ... --out FILE

run_sweeps() {  # the sweeps' runs, if there are any
  [ ! -s "$SWEEP_PLAN" ] || "$ADVDPNP" sweep --plan "$SWEEP_PLAN" --jobs "$JOBS"
}

run_evals() {  # the evaluations still to do (the plan skips those whose results file answers them)
  [ ! -s "$EVAL_PLAN" ] || "$ADVDPNP" eval --plan "$EVAL_PLAN" --jobs "$JOBS"
}
