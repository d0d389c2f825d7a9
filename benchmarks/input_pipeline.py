#!/usr/bin/env python
"""Does training from disk (`train.py --stream`) keep the model fed?

    python benchmarks/input_pipeline.py                       # calo_flow on CaloGAN e+, ild_gan on ILD photons
    python benchmarks/input_pipeline.py --models calogan --batch 128 --workers 1 2 4

For each model and its shared Geant4 file it measures, in one process (JAX):
- reading: events/s of `ShowerStream` batches read one after another in one
  thread (HDF5 read, decompression, conversion to training units);
- training: events/s that `Model.fit` consumes from arrays in memory (the step
  alone, median of the timed steps);
- streamed: events/s of `Model.fit` from the `ShowerStream` with `--workers N`
  threads reading ahead. Streamed close to in-memory means the step never waits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backend_runner import print_child_result, run_child, training_step_times  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHYSGAN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
FILES = {"calo_flow": ("calogan", "calogan_eplus.h5"), "calogan": ("calogan", "calogan_eplus.h5"),
         "ild_gan": ("ild", "ild_photons.h5"), "ild_wgan": ("ild", "ild_photons.h5")}


def read_rate(stream, batches: int) -> float:
    """Returns events/s of reading `batches` batches of `stream` in turn."""
    start = time.perf_counter()
    for i in range(batches):
        stream[i]
    return batches * stream.batch_size / (time.perf_counter() - start)


def child(args) -> int:
    from physgan.datasets import load_training_data
    from physgan.registry import get_entry
    from physgan.runner import build_model, data_model_options
    from physgan.streaming import ShowerStream

    name = args.models[0]
    dataset, file_name = FILES[name]
    path = SHARED / file_name
    data = load_training_data(dataset, path, args.batch * args.steps)
    model = build_model(name, **data_model_options(get_entry(name), dataset, data, seed=0))
    model.compile()
    model.adapt(data.inputs)
    result = {"reading": read_rate(ShowerStream(dataset, path, args.batch), args.steps)}
    result["training"] = args.batch / statistics.median(training_step_times(model, data.inputs, args.batch,
                                                                            args.steps)[1:])
    for workers in args.workers:
        stream = ShowerStream(dataset, path, args.batch, workers=workers, max_queue_size=max(10, 2 * workers))
        start = time.perf_counter()
        model.fit(stream, epochs=1, steps_per_epoch=args.steps, verbose=0)
        result[f"streamed_{workers}"] = args.steps * args.batch / (time.perf_counter() - start)
    return print_child_result(result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["calo_flow", "ild_gan"], choices=list(FILES))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="batches read and training steps timed")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"batch {args.batch}, {args.steps} steps, JAX, {os.cpu_count()} CPU cores; events/s")
    header = "".join(f"{f'streamed, {w} worker' + ('s' if w > 1 else ''):>20}" for w in args.workers)
    print(f"{'model':<10} {'file':<18} {'reading':>9} {'training':>9}{header}")
    for name in args.models:
        flags = ["--models", name, "--batch", str(args.batch), "--steps", str(args.steps),
                 "--workers", *map(str, args.workers)]
        result = run_child(__file__, "jax", flags)
        if result is None:
            continue
        streamed = "".join(f"{result[f'streamed_{w}']:>20,.0f}" for w in args.workers)
        print(f"{name:<10} {FILES[name][1]:<18} {result['reading']:>9,.0f} {result['training']:>9,.0f}{streamed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
