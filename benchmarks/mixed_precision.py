#!/usr/bin/env python
"""bfloat16 generation of the shipped CaloGAN e+ model: speed and fidelity against float32.

    python benchmarks/mixed_precision.py                       # calogan_eplus, JAX
    python benchmarks/mixed_precision.py --model calo_flow_eplus --batches 1024

In one JAX process it loads the preset twice: once as shipped (float32
activations, int8 Dense kernels for CaloGAN), and once with every layer computing
in bfloat16 (`mixed_bfloat16`; the int8 layers `int8_from_mixed_bfloat16`, so they
stay quantized). Each generates the energies of the model's 1,000 held-out Geant4
showers (issue 19's split), which `physgan.evaluate` scores (low- and high-level
classifier AUC, FPD, separation powers, E_tot/E_incident); then it times
`sample()` of each. A measurement for issue 10's mixed precision; there is no
--dtype-policy flag yet.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import print_child_result, run_child, steady_rate  # noqa: E402
from flow_generation import fidelity_row  # noqa: E402


def compute_in(model, policy: str) -> None:
    """Makes every layer of `model` compute in `policy` (quantized layers keep their mode),
    except each network's output layers, which stay float32 as Keras' mixed-precision guide
    advises (bf16's 8-bit mantissa would round CaloGAN's energy normalisation to 0.4 %
    steps, wider than Geant4's 0.15 % spread of E_tot/E_incident)."""
    outputs = {id(tensor._keras_history[0]) for net in model.networks().values() for tensor in net.outputs}
    for layer in model._flatten_layers(include_self=False):
        if id(layer) in outputs:
            continue
        mode = getattr(layer, "quantization_mode", None)
        layer.dtype_policy = f"{mode}_from_{policy}" if mode else policy
    for network in model.networks().values():
        network.predict_function = None  # traced with the old dtypes


def child(args) -> dict:
    import physgan
    from physgan.evaluate import shipped_comparison

    generated, reference = shipped_comparison(args.model, seed=args.seed)
    bf16 = physgan.load(args.model, compile=False)
    compute_in(bf16, "mixed_bfloat16")
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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return print_child_result(child(args))
    flags = ["--model", args.model, "--batches", *map(str, args.batches), "--seconds", str(args.seconds),
             "--seed", str(args.seed)]
    result = run_child(__file__, "jax", flags, threads=os.cpu_count())
    if result is None:
        return 1
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
