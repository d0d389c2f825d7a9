#!/usr/bin/env bash
# The test command of README.md: the whole suite once per Keras backend, each
# backend in its own process (KERAS_BACKEND is read once, at import).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" MPLBACKEND=Agg
status=0
for backend in ${PHYSGAN_BACKENDS:-tensorflow jax torch}; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend python -m pytest -q "$@" || status=1
done
exit $status
