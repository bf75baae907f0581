# Sourced by the study scripts: their runs as the lines of two plans, each run as one queue with JOBS at a time
# (where a call per sweep or per evaluation would leave cores idle at the end of each): the comparison's sweeps
# (`sweep_line ARGS`, run by `run_sweeps` through `advdpnp sweep --plan`) and the evaluations that read trained
# runs again (`eval_line ARGS`, run by `run_evals` through `advdpnp eval --plan`). Needs OUT, ADVDPNP, PYTHON
# and JOBS. Sourced before the script's first run: it also takes OUT's lock.
mkdir -p "$OUT"

# One script call per OUT at a time: a second would empty and refill the plans of the first, and train or evaluate
# its runs again beside it. An flock on OUT/.script.lock, taken through the interpreter (util-linux's `flock` is
# missing on macOS), on descriptor 9, which this shell and every process it starts hold until they end; the kernel
# drops it then, even after a SIGKILL, so no stale lock is left behind.
exec 9<>"$OUT/.script.lock"
status=0
owner=$("$PYTHON" -c 'import fcntl, os, sys
try:
    fcntl.flock(9, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print(os.pread(9, 64, 0).decode(errors="replace").strip() or "unknown")
    sys.exit(3)
os.ftruncate(9, 0)
os.pwrite(9, f"{sys.argv[1]}\n".encode(), 0)' "$$") || status=$?
if [ "$status" = 3 ]; then
  echo "OUT=$OUT is in use by another call of a study script (PID $owner): wait for it, or give another OUT" >&2
  exit 2
elif [ "$status" != 0 ]; then
  echo "cannot lock OUT=$OUT: PYTHON=$PYTHON exited with $status" >&2
  exit 2
fi
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
