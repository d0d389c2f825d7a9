#!/usr/bin/env python
"""bfloat16 generation of the shipped CaloGAN e+ model: speed and fidelity against float32.

    python benchmarks/mixed_precision.py                       # calogan_eplus, JAX
    python benchmarks/mixed_precision.py --model calo_flow_eplus --batches 1024

In one JAX process it generates with the preset as shipped (float32 activations,
int8 Dense kernels for CaloGAN) and with `physgan.precision.with_policy(model,
"mixed_bfloat16")`, what `python -m physgan.generate --dtype-policy mixed_bfloat16`
runs: every layer computes in bfloat16 (the int8 layers `int8_from_mixed_bfloat16`,
so they stay quantized) except each network's output layers, which stay float32.
Each generates the energies of the model's 1,000 held-out Geant4 showers (issue
19's split), which `physgan.evaluate` scores (low- and high-level classifier AUC,
FPD, separation powers, E_tot/E_incident); then it times `sample()` of each.
With --all-bfloat16 the output layers compute in bfloat16 too (what the float32
outputs save: CaloGAN's energy response).

    python benchmarks/mixed_precision.py --train-steps 20      # training speed instead

times `Model.fit` steps of the default-size calo_flow (batch 256, the bundled e+
showers) built with each `--dtype-policy`: what mixed precision costs or saves
where the benchmark runs (CPU here; rerun on a GPU).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import print_child_result, run_child, steady_rate, training_step_times  # noqa: E402
from flow_generation import fidelity_row  # noqa: E402


def all_in(model, policy: str) -> None:
    """Makes every layer of `model`, output layers included, compute in `policy` (quantized
    layers keep their mode): the counter-example to `physgan.precision.with_policy`."""
    for network in model.networks().values():
        for layer in network._flatten_layers(include_self=False):  # Keras offers no public recursion
            mode = getattr(layer, "quantization_mode", None)
            layer.dtype_policy = f"{mode}_from_{policy}" if mode else policy
        network.predict_function = None  # traced with the old dtypes


def training_rows(steps: int, batch: int = 256) -> dict:
    """Returns {policy: {"ms_per_step"}}: the median of `steps` calo_flow training steps after the first."""
    import keras
    import numpy as np

    from physgan import runner
    from physgan.datasets import load_training_data
    from physgan.precision import POLICIES

    entry = runner.get_entry("calo_flow")
    data = load_training_data("calogan", None, None, "eplus")
    rows = {}
    for policy in POLICIES:
        keras.utils.set_random_seed(0)
        model = runner.build_model("calo_flow", dtype=policy,
                                   **runner.data_model_options(entry, "calogan", data, 0))
        model.compile()
        model.adapt(data.inputs)
        repeats = -(-(steps + 1) * batch // data.n_events)
        inputs = {key: np.concatenate([value] * repeats) for key, value in data.inputs.items()}
        times = training_step_times(model, inputs, batch, steps + 1)[1:]
        rows[policy] = {"ms_per_step": 1000 * float(np.median(times))}
    return rows


def child(args) -> dict:
    if args.train_steps:
        return training_rows(args.train_steps)
    import physgan
    from physgan.evaluate import shipped_comparison
    from physgan.precision import with_policy

    generated, reference = shipped_comparison(args.model, seed=args.seed)
    bf16 = with_policy(physgan.load(args.model, compile=False), "mixed_bfloat16")
    if args.all_bfloat16:
        all_in(bf16, "mixed_bfloat16")
    rows = {"float32": fidelity_row(generated, reference, args.seed)}
    rows["bfloat16"] = fidelity_row(bf16.sample(len(reference), condition=reference.incident_energy,
                                                seed=args.seed), reference, args.seed)
    fp32 = physgan.load(args.model, compile=False)
    for name, model in (("float32", fp32), ("bfloat16", bf16)):
        rows[name]["rates"] = {batch: steady_rate(lambda b, s: model.sample(b, seed=s), batch, args.seconds)
                               for batch in args.batches}
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="calogan_eplus", help="a CaloGAN-layout preset or .keras file")
    parser.add_argument("--batches", nargs="+", type=int, default=[1024])
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-bfloat16", action="store_true", help="the output layers in bfloat16 too")
    parser.add_argument("--train-steps", type=int, help="time this many calo_flow training steps per policy instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return print_child_result(child(args))
    flags = ["--model", args.model, "--batches", *map(str, args.batches), "--seconds", str(args.seconds),
             "--seed", str(args.seed), *(["--all-bfloat16"] if args.all_bfloat16 else []),
             *(["--train-steps", str(args.train_steps)] if args.train_steps else [])]
    result = run_child(__file__, "jax", flags, threads=os.cpu_count())
    if result is None:
        return 1
    if args.train_steps:
        print(f"calo_flow training step, batch 256, JAX, {os.cpu_count()} CPU cores")
        for policy, row in result.items():
            print(f"{policy:<15} {row['ms_per_step']:8.1f} ms/step")
        return 0
    print(f"{args.model} on its held-out Geant4 showers, JAX, {os.cpu_count()} CPU cores")
    print(f"{'compute':<9} {'AUC cells':>9} {'AUC obs':>8} {'FPD':>7} {'sep>0.05':>8} {'E_tot/E':>8}  "
          f"{'worst observable':<26} " + " ".join(f"{f'showers/s @{b}':>15}" for b in args.batches))
    for name, row in result.items():
        rates = " ".join(f"{rate:>15,.0f}" for rate in row["rates"].values())
        print(f"{name:<9} {row['auc']:>9.3f} {row['auc_high']:>8.3f} {row['fpd']:>7.2f} {row['above_005']:>8d} "
              f"{row['response_shift']:>+8.2%}  {row['worst'] + ' ' + format(row['worst_separation_power'], '.3f'):<26} "
              f"{rates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
