#!/usr/bin/env python
"""ILD Getting High generation speed: showers/s per model and backend, and the speed-up over Geant4.

    python benchmarks/ild_generation.py                             # all models, all backends
    python benchmarks/ild_generation.py --models bibae --backends torch --batches 1 64

Every backend runs in its own process with the paper-size models (untrained
weights: the speed does not depend on them). `model.sample(batch)` is timed
as a user calls it (generator, for BIB-AE decoder + post-processor, the MIP
threshold, incident energies uniform 10-100 GeV) in steady state after a
warm-up call. The Geant4 reference is this project's ILD-like simulation:
5-8 ms per GeV per shower on ONE core (../shared/data/README.md), i.e. 0.36 s
for the mean 55 GeV at 6.5 ms/GeV; the speed-up is given per core used.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import generation_parser, print_child_result, run_child, steady_rate  # noqa: E402

GEANT4_SECONDS_PER_GEV = 6.5e-3  # one core, middle of 5-8 ms/GeV (shared/data/README.md)
MEAN_ENERGY_GEV = 55.0  # uniform 10-100 GeV


def child(args) -> dict:
    import keras

    import physgan

    results = {}
    for name in args.models:
        model = physgan.get_model(name)
        results[name] = {batch: steady_rate(lambda b, s: model.sample(b, seed=s), batch, args.seconds)
                         for batch in args.batches}
    return {"backend": keras.backend.backend(), "rates": results}


def main() -> int:
    parser = generation_parser(__doc__, [1, 16, 64, 256])
    parser.add_argument("--models", nargs="+", default=["ild_gan", "ild_wgan", "bibae"])
    args = parser.parse_args()
    if args.child:
        return print_child_result(child(args))

    geant4 = GEANT4_SECONDS_PER_GEV * MEAN_ENERGY_GEV
    print(f"machine: {args.threads} threads; Geant4 {geant4:.2f} s per 55 GeV photon shower on one core")
    print(f"{'backend':<11} {'model':<9} {'batch':>6} {'showers/s':>10} {'ms/shower':>10} {'x Geant4/core':>14}")
    for backend in args.backends:
        result = run_child(__file__, backend, ["--models", *args.models, "--batches", *map(str, args.batches),
                                               "--seconds", str(args.seconds)], threads=args.threads)
        if result is None:
            continue
        for name, rates in result["rates"].items():
            for batch, rate in rates.items():
                print(f"{backend:<11} {name:<9} {batch:>6} {rate:>10,.1f} {1000 / rate:>10,.1f} "
                      f"{rate * geant4 / args.threads:>14,.1f}")
            best = max(rates, key=rates.get)
            print(f"{backend:<11} {name:<9} best batch {best}: {rates[best]:,.1f} showers/s, "
                  f"{rates[best] * geant4 / args.threads:,.1f}x Geant4 per core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
