#!/usr/bin/env python
"""ALICE ZDC CorrVAE generation speed: responses/s per backend, and the speed-up
over this project's ZDC simulator.

    python benchmarks/zdc_generation.py                        # all backends
    python benchmarks/zdc_generation.py --backends jax --batches 256

Every backend runs in its own process with the paper-size CorrVAE (untrained
weights: the speed does not depend on them). Two ways of sampling are timed
as a user calls them, in steady state after a warm-up call:
- `free`: `model.sample(batch)`, latents from the prior (one decoder pass);
- `controlled`: `model.sample(batch, condition=...)`, which first optimises w
  for the requested properties (`--optimize-steps` Adam steps of the property
  path) and encodes the condition properties.

Reference: no published Geant4 time per ZN response was found (arXiv:2306.13606
only quotes "two orders of magnitude" for its GAN); the reference here is
`physgan.data.zdc_simulator.simulate_zdc`, a parametrised shower + Poisson light model
that is itself far faster than a Geant4 transport of a TeV hadron shower, so
the ratio printed is a lower bound on the speed-up over Geant4.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import generation_parser, print_child_result, run_child, steady_rate  # noqa: E402


def child(args) -> dict:
    import keras

    import physgan
    from physgan.data.zdc import bundled_sample_path, read_zdc

    model = physgan.get_model("corrvae")
    properties = read_zdc(bundled_sample_path(), max_events=max(args.batches)).properties
    rates = {}
    for batch in args.batches:
        rates[f"free/{batch}"] = steady_rate(lambda b, s: model.sample(b, seed=s), batch, args.seconds)
        rates[f"controlled/{batch}"] = steady_rate(
            lambda b, s: model.sample(b, condition=properties[:b], seed=s, optimize_steps=args.optimize_steps),
            batch, args.seconds)
    return {"backend": keras.backend.backend(), "rates": rates}


def simulator_rate(seconds: float) -> float:
    """Returns responses/s of `simulate_zdc` (numpy, one process)."""
    from physgan.data.zdc_simulator import simulate_zdc

    return steady_rate(lambda b, s: simulate_zdc(b, seed=s), 1000, seconds)


def main() -> int:
    parser = generation_parser(__doc__, [1, 64, 512], seconds=3.0)
    parser.add_argument("--optimize-steps", type=int, default=300, help="Adam steps of optimize_w (controlled)")
    args = parser.parse_args()
    if args.child:
        return print_child_result(child(args))

    reference = simulator_rate(args.seconds)
    print(f"machine: {args.threads} threads; simulate_zdc: {reference:,.0f} responses/s")
    print(f"{'backend':<11} {'mode':<11} {'batch':>6} {'responses/s':>12} {'ms/response':>12} {'x simulator':>12}")
    for backend in args.backends:
        result = run_child(__file__, backend, ["--batches", *map(str, args.batches), "--seconds", str(args.seconds),
                                               "--optimize-steps", str(args.optimize_steps)], threads=args.threads)
        if result is None:
            continue
        for key, rate in result["rates"].items():
            mode, batch = key.split("/")
            print(f"{backend:<11} {mode:<11} {batch:>6} {rate:>12,.1f} {1000 / rate:>12,.3f} {rate / reference:>12,.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
