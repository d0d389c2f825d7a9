#!/usr/bin/env python
"""CaloGAN generation speed: showers/s per backend and the speed-up over Geant4.

    python benchmarks/generation.py                         # all backends, paper model
    python benchmarks/generation.py --backends jax --batches 1 1024 4096 --quantize int8
    python benchmarks/generation.py --model saved_models/calogan_eplus.keras   # a shipped model

Every backend runs in its own process. For each it prints showers/s at each
batch size (steady state, after a warm-up call), the best batch, the speed-up
over this project's Geant4 reference (0.45 s per 1-100 GeV e+ shower on ONE
core, ../shared/data/README.md) per core used, and the fraction of the fp32
matmul bound reached (the generator's FLOPs per shower against a numpy sgemm
measured in the same run). `--quantize int8` also times `Model.quantize("int8")`
of the generator's Dense layers and reports the change of the mean layer
energies it causes (fidelity cost). `--model FILE` times a saved model (e.g. a
shipped one, quantized as it was saved) instead of the untrained paper model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import run_child  # noqa: E402

GEANT4_SECONDS_PER_SHOWER = 0.45  # one core, uniform 1-100 GeV e+ (shared/data/README.md)


def generator_flops_per_shower(generator) -> float:
    """Returns ~2 x multiply-adds of the Dense, Conv2D and locally connected layers."""
    import math

    flops = 0.0
    for layer in generator.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            out = layer.output.shape
            kh, kw = layer.kernel_size
            flops += 2.0 * out[1] * out[2] * out[3] * kh * kw * layer.input.shape[-1]
        elif kind in ("Dense", "LocallyConnected2D", "InpaintingGate"):
            # one multiply-add per weight: no weight sharing in these layers
            flops += 2.0 * sum(math.prod(w.shape) for w in layer.weights)  # int8 kernels too
    return flops


def sgemm_rate(threads: int) -> float:
    """Returns the measured fp32 matmul rate of this machine in FLOP/s (numpy)."""
    import numpy as np

    a = np.random.rand(2048, 2048).astype("float32")
    a @ a
    start, reps = time.perf_counter(), 5
    for _ in range(reps):
        a @ a
    return reps * 2 * 2048**3 / (time.perf_counter() - start)


def child(args) -> dict:
    import keras
    import numpy as np

    import physgan

    model = physgan.load(args.model, compile=False) if args.model else physgan.get_model("calogan", variant=args.variant)
    if args.quantize and not args.model:
        reference = model.generate_cells(np.full(512, 50.0), seed=0)
        model.quantize_generator(args.quantize)
        quantized = model.generate_cells(np.full(512, 50.0), seed=0)
        fidelity = {
            f"layer_{i}_mean_energy_rel_change": float(abs(q.sum(axis=(1, 2)).mean() / r.sum(axis=(1, 2)).mean() - 1))
            for i, (r, q) in enumerate(zip(reference, quantized))
        }
    else:
        fidelity = {}
    generator = model.generation_network()  # what sample() runs (int8: weight-only off JAX)
    rates = {}
    for batch in args.batches:
        energies = np.random.default_rng(0).uniform(1, 100, size=batch).astype("float32")
        z = np.random.default_rng(1).standard_normal((batch, model.latent_size)).astype("float32")
        fn = generator.predict_on_batch if args.mode == "predict" else (lambda x: generator(x, training=False))
        out = fn([z, energies[:, None]])
        keras.ops.convert_to_numpy(out[0])
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            out = fn([z, energies[:, None]])
            keras.ops.convert_to_numpy(out[0])
            n += batch
        rates[batch] = n / (time.perf_counter() - start)
    return {
        "backend": keras.backend.backend(),
        "rates": rates,
        "flops_per_shower": generator_flops_per_shower(model.generator),
        "fidelity": fidelity,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 1024, 4096, 8192])
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per batch size")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads the backends may use")
    parser.add_argument("--variant", default="lc2d", choices=("lc2d", "conv"))
    parser.add_argument("--quantize", choices=("int8", "float8"), help="time the generator after quantizing its Dense layers (CaloGAN.quantize_generator)")
    parser.add_argument("--mode", choices=("call", "predict"), default="predict",
                        help="predict_on_batch (compiled) or a plain eager call")
    parser.add_argument("--model", help="a saved CaloGAN .keras file to time (default: the untrained paper model)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model and args.quantize:
        parser.error("--model times the file as saved: leave out --quantize (export quantizes)")
    if args.child:
        print("RESULT " + json.dumps(child(args)))
        return 0

    bound = sgemm_rate(args.threads)
    print(f"machine: {args.threads} threads, numpy sgemm {bound / 1e9:.1f} GFLOP/s")
    print(f"{'backend':<11} {'batch':>6} {'showers/s':>11} {'x Geant4/core':>14} {'of fp32 bound':>14}")
    for backend in args.backends:
        child_args = ["--batches", *map(str, args.batches), "--seconds", str(args.seconds), "--variant", args.variant,
                      "--mode", args.mode] + (["--quantize", args.quantize] if args.quantize else []) \
            + (["--model", str(Path(args.model).resolve())] if args.model else [])
        result = run_child(__file__, backend, child_args, threads=args.threads)
        if result is None:
            continue
        flops = result["flops_per_shower"]
        for batch, rate in result["rates"].items():
            speedup = rate * GEANT4_SECONDS_PER_SHOWER / args.threads
            print(f"{backend:<11} {batch:>6} {rate:>11,.0f} {speedup:>14,.0f} {rate * flops / bound:>13.0%}")
        best = max(result["rates"], key=result["rates"].get)
        print(f"{backend:<11} best batch {best}: {result['rates'][best]:,.0f} showers/s "
              f"({flops / 1e6:.1f} MFLOP per shower)")
        for key, value in result["fidelity"].items():
            print(f"{backend:<11} {args.quantize} fidelity: {key} = {value:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
