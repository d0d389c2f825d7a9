#!/usr/bin/env bash
# The test command of README.md and .ci/run.
#
# Tests marked `backend_free` (data readers/writers, simulators, metrics,
# figures, command-line arguments, legacy-file parsing, parameter counts) run
# once; all others (train, save, reload, differentiate) run once per Keras
# backend, each backend in its own process (KERAS_BACKEND is read once, at
# import). Each part runs on PHYSGAN_TEST_WORKERS pytest-xdist workers (default
# 2), every test under pytest-timeout's limit (setup.cfg). At the end: tests
# and wall time per part and the 20 slowest tests.
#
#   PHYSGAN_BACKENDS="jax"    only these backends (the backend-free part still runs)
#   PHYSGAN_BACKEND_FREE=0    skip the backend-free part
#   PHYSGAN_BACKEND_FREE_BACKEND=jax    the backend of the backend-free part (default torch)
#   bash tests/run_all.sh -k mpd    extra arguments go to every pytest call
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" MPLBACKEND=Agg
workers="${PHYSGAN_TEST_WORKERS:-2}"
report_dir="$(mktemp -d)"
# JAX compiles a program per weight shape when it initialises a model (about
# 20 s for an ILD model on 2 cores); a compilation cache shared by the workers
# and the processes the tests start (reloads, train.py, generate) compiles each
# once per run. It starts empty, so no run reuses another's programs.
export JAX_COMPILATION_CACHE_DIR="$report_dir/jax_cache" \
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
status=0

run_part() {  # run_part NAME BACKEND PYTEST-ARGS...
  local name=$1 backend=$2 start rc
  shift 2
  echo "=== $name (KERAS_BACKEND=$backend, $workers workers)"
  start=$(date +%s)
  KERAS_BACKEND=$backend python -m pytest -q -n "$workers" --dist worksteal \
    --junitxml="$report_dir/$name.xml" -o junit_family=xunit1 "$@"
  rc=$?
  # pytest's 5 means "no tests collected" (e.g. a -k that selects none here).
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=1; fi
  echo "$name $(( $(date +%s) - start ))" >> "$report_dir/wall_times"
}

if [ "${PHYSGAN_BACKEND_FREE:-1}" != 0 ]; then
  run_part backend-free "${PHYSGAN_BACKEND_FREE_BACKEND:-torch}" -m backend_free "$@"
fi
for backend in ${PHYSGAN_BACKENDS:-tensorflow jax torch}; do
  run_part "$backend" "$backend" -m "not backend_free" "$@"
done

echo "=== summary"
python tests/ci_report.py "$report_dir" --slowest 20
rm -rf "$report_dir"
exit $status
