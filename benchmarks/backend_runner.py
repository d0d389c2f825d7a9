"""Runs a benchmark's `--child` part under one Keras backend in a fresh process."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def generation_parser(doc: str, batches: list[int], seconds: float = 3.0) -> argparse.ArgumentParser:
    """Returns the flags every generation benchmark takes: --backends, --batches,
    --seconds, --threads and the hidden --child; scripts add their own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--batches", nargs="+", type=int, default=batches)
    parser.add_argument("--seconds", type=float, default=seconds, help="timing window per measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads the backends may use")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def print_child_result(result: dict) -> int:
    """Prints a child's result for `run_child` to read; returns the exit code 0."""
    print("RESULT " + json.dumps(result))
    return 0


def steady_rate(sample, batch: int, seconds: float) -> float:
    """Returns events/s of `sample(batch, seed)` in steady state: one warm-up call
    (compiles the predict functions), then calls for at least `seconds` (and once)."""
    sample(batch, 0)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n == 0:
        sample(batch, n + 1)
        n += batch
    return n / (time.perf_counter() - start)


def training_step_times(model, inputs: dict, batch: int, steps: int) -> list[float]:
    """Returns the seconds of each of `steps` training steps of `model.fit` on
    `inputs` (the first includes compilation); the model must be compiled."""
    import keras

    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, step, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, step, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(inputs, batch_size=batch, epochs=1, steps_per_epoch=steps, shuffle=False, callbacks=[Timer()], verbose=0)
    return times


def run_child(script: str, backend: str, args: list[str], threads: int | None = None) -> dict | None:
    """Returns the JSON that `python SCRIPT --child ARGS` prints after "RESULT "
    under KERAS_BACKEND=`backend` (with `threads` CPU threads), or None after
    printing why it failed."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO_ROOT)}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads))
    proc = subprocess.run([sys.executable, script, "--child", *args], env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(f"{backend:<11} failed:\n{proc.stderr[-2000:]}")
        return None
    return json.loads(lines[-1][len("RESULT "):])
