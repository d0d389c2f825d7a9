#!/usr/bin/env python
"""Training throughput of `train.py --distribute data-parallel` (JAX) per device count.

    python benchmarks/data_parallel.py                          # mpd_wgan and calogan, 1 and 2 devices
    python benchmarks/data_parallel.py --models mpd_wgan --devices 1 2 4 --batch 256

For each model and device count it starts a process with that many JAX devices
(on a CPU-only machine, host devices forced with
XLA_FLAGS=--xla_force_host_platform_device_count=N, which share the same cores:
that measures the overhead of splitting, not scaling), builds the model under
`physgan.distribute.training_scope`, trains `--steps` steps of the global batch on
the bundled real data through `Model.fit`, and prints the median step time and
events/s. On a machine with several GPUs the same command measures the scaling.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backend_runner import print_child_result, run_child, training_step_times  # noqa: E402

# Tiny enough to time on 2 CPU cores; the paper-size CaloGAN takes --options '{}'.
MODEL_OPTIONS = {"mpd_wgan": {}, "calogan": {"latent_size": 64}}
DATASETS = {"mpd_wgan": ("mpd_tpc", None), "calogan": ("calogan", "eplus")}


def child(args) -> int:
    import json

    import physgan
    from physgan.datasets import load_training_data
    from physgan.distribute import training_scope

    dataset, particle = DATASETS[args.models[0]]
    data = load_training_data(dataset, None, None, particle)
    mode = "data-parallel" if args.devices[0] > 1 else "none"
    options = json.loads(args.options) if args.options else MODEL_OPTIONS[args.models[0]]
    with training_scope(mode, args.batch) as devices:
        model = physgan.get_model(args.models[0], seed=0, **{**data.model_options, **options})
        model.compile()
        model.adapt(data.inputs)
        times = training_step_times(model, data.inputs, args.batch, args.steps)
    step = statistics.median(times[1:])
    return print_child_result({"devices": devices, "step_ms": 1e3 * step, "events_per_s": args.batch / step})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODEL_OPTIONS), choices=list(MODEL_OPTIONS))
    parser.add_argument("--devices", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch", type=int, default=128, help="global batch size (divisible by every device count)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (the first, compiling, is dropped)")
    parser.add_argument("--options", help="model constructor options as JSON (default: MODEL_OPTIONS)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"global batch {args.batch}, {args.steps} steps, {os.cpu_count()} CPU cores")
    print(f"{'model':<10} {'devices':>7} {'ms/step':>9} {'events/s':>9} {'vs 1':>6}")
    for model in args.models:
        base = None
        for n in args.devices:
            os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
            flags = ["--models", model, "--devices", str(n), "--batch", str(args.batch), "--steps", str(args.steps)]
            result = run_child(__file__, "jax", flags + (["--options", args.options] if args.options else []))
            if result is None:
                continue
            base = base or result["events_per_s"]
            print(f"{model:<10} {result['devices']:>7} {result['step_ms']:>9.1f} {result['events_per_s']:>9.0f} "
                  f"{result['events_per_s'] / base:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
