#!/usr/bin/env python
"""ILD Getting High training speed: seconds per training step of the paper-size models, per backend.

    python benchmarks/ild_train_step.py                       # all models, all backends, 3 timed steps
    python benchmarks/ild_train_step.py --models bibae --backends torch --steps 5

Each backend runs in its own process; each model trains at the original batch
size (GAN 32; WGAN 5 critic batches of 50 = 250; BIB-AE 8) on real showers of
../shared/data/ild_photons.h5 (or --data). One warm-up step (compilation) is
timed separately; the steady state is the mean of --steps further steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import REPO_ROOT, run_child, training_step_times  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ild_photons.h5"


def child(args) -> dict:
    import keras

    import physgan
    from physgan.datasets import load_training_data

    results = {}
    for name in args.models:
        model = physgan.get_model(name, seed=0)
        batch = model.default_batch_size
        data = load_training_data("ild", args.data, max_events=batch * (args.steps + 1))
        model.compile(steps_per_epoch=args.steps + 1)
        times = training_step_times(model, data.inputs, batch, args.steps + 1)
        results[name] = {"batch": batch, "first_step_s": times[0], "step_s": sum(times[1:]) / len(times[1:])}
    return {"backend": keras.backend.backend(), "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["ild_gan", "ild_wgan", "bibae"])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up step")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="ILD HDF5 file of real showers")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)))
        return 0

    print(f"{'backend':<11} {'model':<9} {'batch':>6} {'first step s':>13} {'s/step':>8} {'showers/s':>10}")
    for backend in args.backends:
        result = run_child(__file__, backend, ["--models", *args.models, "--steps", str(args.steps), "--data", args.data])
        if result is None:
            continue
        for name, r in result["results"].items():
            print(f"{backend:<11} {name:<9} {r['batch']:>6} {r['first_step_s']:>13.1f} {r['step_s']:>8.2f} "
                  f"{r['batch'] / r['step_s']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
