# Sourced by the study scripts: their comparison's sweeps as the lines of one plan, run as one queue by
# `advdpnp sweep --plan` (JOBS runs at a time across all of them, where a sweep call per method would leave
# cores idle at the end of each). Needs OUT, ADVDPNP and JOBS.
mkdir -p "$OUT"
PLAN=$OUT/sweep-plan.txt
: > "$PLAN"

plan() {  # one sweep of the plan: its arguments, each quoted only where the shell would need it
  local a q=(); for a in "$@"; do [[ $a =~ ^[-A-Za-z0-9_./=,:@%+]+$ ]] && q+=("$a") || q+=("$(printf %q "$a")"); done
  echo "${q[*]}" >> "$PLAN"
}

run_plan() {  # the plan's sweeps, if it has any
  [ ! -s "$PLAN" ] || "$ADVDPNP" sweep --plan "$PLAN" --jobs "$JOBS"
}
