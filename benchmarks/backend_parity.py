#!/usr/bin/env python
"""Backend parity: train-step time and generation rate of every model on every backend, and the ratio to the fastest.

    python benchmarks/backend_parity.py                                  # every model, every backend
    python benchmarks/backend_parity.py --models ild_gan bibae --backends jax tensorflow
    python benchmarks/backend_parity.py --markdown                       # the README table

Each (backend, model) pair runs in its own process with the paper-size model
(untrained weights: the speed does not depend on them; the LArCV models sized
for the data) at the paper's batch size (`default_batch_size`) on the bundled
real data of the data set train.py uses by default (its first: the 8x8 digits
for the LArCV models, as MNIST needs a download). A training step
is what `Model.fit` runs per batch (every network's updates, e.g. 5 critic
steps + 1 generator step for the ILD WGAN); the first step (compilation) is
timed apart, the steady state is the mean of `--steps` further steps.
Generation is `model.sample(--generate-batch)` as a user calls it, in steady
state after a warm-up call. A pair that runs past `--timeout` seconds is
reported as such (">" the limit). The target of issue #21: every entry within
2x of the fastest backend.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import REPO_ROOT, steady_rate, training_step_times  # noqa: E402

MODELS = ["calogan", "mpd_wgan", "mpd_wgan_param", "ild_gan", "ild_wgan", "bibae", "corrvae", "larcv_gan",
          "larcv_ae", "ewm"]
BACKENDS = ["tensorflow", "jax", "torch"]
TARGET_RATIO = 2.0


def child(args) -> dict:
    """Returns {"dataset", "batch", "first_step_s", "train_s", "events_per_s"} of `args.model`."""
    import physgan
    from physgan.datasets import load_training_data
    from physgan.registry import get_entry

    entry = get_entry(args.model)
    batch = entry.cls.default_batch_size
    dataset = entry.datasets[0]  # what train.py trains on by default
    data = load_training_data(dataset, max_events=batch * (args.steps + 1))
    model = physgan.get_model(args.model, seed=0, **data.model_options)
    model.compile(steps_per_epoch=args.steps + 1)
    times = training_step_times(model, data.inputs, batch, args.steps + 1)
    rate = steady_rate(lambda b, s: model.sample(b, seed=s), args.generate_batch, args.seconds)
    return {"dataset": dataset, "batch": batch, "first_step_s": times[0], "train_s": sum(times[1:]) / len(times[1:]),
            "events_per_s": rate}


def run_pair(backend: str, model: str, args) -> dict:
    """Returns the child's result for (backend, model), or {"error": ...} / {"timeout": seconds}."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO_ROOT),
           "OMP_NUM_THREADS": str(args.threads), "TF_NUM_INTRAOP_THREADS": str(args.threads)}
    command = [sys.executable, __file__, "--child", "--model", model, "--steps", str(args.steps),
               "--generate-batch", str(args.generate_batch), "--seconds", str(args.seconds)]
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": args.timeout}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        # The last line that is not a backend's start-up log says why; -9 is the kernel's OOM kill.
        logs = ("I0000", "W0000", "WARNING: All log")
        reasons = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(logs)]
        return {"error": f"exit {proc.returncode}: " + (reasons[-1] if reasons else "no output")}
    return json.loads(lines[-1][len("RESULT "):])


def _cells(results: dict, key: str, higher_is_better: bool) -> list[str]:
    """Returns one 'value (ratio to the fastest)' cell per backend for `key`."""
    values = {b: r[key] for b, r in results.items() if key in r}
    best = (max if higher_is_better else min)(values.values()) if values else None
    cells = []
    for backend, r in results.items():
        if "timeout" in r:
            cells.append(f"> {r['timeout']:.0f} s")
        elif "error" in r:
            cells.append("failed")
        else:
            value = r[key]
            ratio = best / value if higher_is_better else value / best
            text = f"{value:,.1f}/s" if higher_is_better else f"{value * 1000:,.0f} ms"
            cells.append(f"{text} ({ratio:.1f}x)" + (" !" if ratio > TARGET_RATIO else ""))
    return cells


def print_table(table: dict, backends: list[str], markdown: bool) -> None:
    header = ["model", "data", "batch", "quantity", *backends]
    rows = []
    for model, results in table.items():
        ok = next((r for r in results.values() if "batch" in r), {})
        rows.append([model, ok.get("dataset", "?"), str(ok.get("batch", "?")), "train step",
                     *_cells(results, "train_s", False)])
        rows.append([model, "", "", "generation", *_cells(results, "events_per_s", True)])
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(f"(ratio to the fastest backend; '!' marks more than {TARGET_RATIO:g}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--backends", nargs="+", default=BACKENDS)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps after the first")
    parser.add_argument("--generate-batch", type=int, default=256, help="events per model.sample call")
    parser.add_argument("--seconds", type=float, default=3.0, help="generation timing window")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per (backend, model)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads the backends may use")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)))
        return 0

    table = {}
    for model in args.models:
        table[model] = {}
        for backend in args.backends:
            result = table[model][backend] = run_pair(backend, model, args)
            print(f"{model} {backend}: {result}", file=sys.stderr, flush=True)
    print(f"machine: {args.threads} threads; batch = the paper's; generation {args.generate_batch} per call")
    print_table(table, args.backends, args.markdown)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
