"""Runs a benchmark's `--child` part under one Keras backend in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


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
