#!/usr/bin/env python
"""calo_flow generation: showers/s per backend and ODE step count against CaloGAN, and
the fidelity cost of fewer steps.

    python benchmarks/flow_generation.py                          # speed, all backends
    python benchmarks/flow_generation.py --backends jax --steps 4 16 --batches 4096
    python benchmarks/flow_generation.py --fidelity --steps 2 4 8 16 32   # + held-out fidelity

Speed: every backend runs in its own process and times `model.sample(batch)` as a
user calls it (incident energies uniform over the training range, after a warm-up
call) for calo_flow at each step count and for CaloGAN in the same process. The
models are the shipped CaloGAN-layout e+ files (`--flow`, `--calogan`; the speed
does not depend on the weights, so an untrained model of the paper size stands in
for a missing file). The speed-up is over this project's Geant4 reference (0.45 s
per 1-100 GeV e+ shower on ONE core, ../shared/data/README.md) per core used.

Fidelity (`--fidelity`, one backend: `--fidelity-backend`): the shipped flow model
generates its 1,000 held-out Geant4 events' energies at each step count and
`physgan.evaluate` scores them: low-level classifier AUC, the largest separation
power of the CaloGAN observables, FPD and the mean E_tot/E_incident against Geant4.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backend_runner import REPO_ROOT, generation_parser, print_child_result, run_child, steady_rate  # noqa: E402
from generation import GEANT4_SECONDS_PER_SHOWER  # noqa: E402

SHIPPED = REPO_ROOT / "saved_models"


def _load_or_build(path: str, name: str):
    """Returns the saved model at `path`, or an untrained paper-size `name` when it is missing."""
    import physgan

    if Path(path).exists():
        return physgan.load(path, compile=False), Path(path).name
    return physgan.get_model(name), f"{name} (untrained)"


def speed_child(args) -> dict:
    import keras

    flow, flow_name = _load_or_build(args.flow, "calo_flow")
    calogan, calogan_name = _load_or_build(args.calogan, "calogan")
    rates = {}
    for steps in args.steps:
        rates[f"calo_flow, {steps} steps"] = {
            batch: steady_rate(lambda b, s: flow.sample(b, seed=s, steps=steps), batch, args.seconds)
            for batch in args.batches}
    rates["calogan"] = {batch: steady_rate(lambda b, s: calogan.sample(b, seed=s), batch, args.seconds)
                        for batch in args.batches}
    return {"backend": keras.backend.backend(), "models": [flow_name, calogan_name], "rates": rates}


def fidelity_row(generated, reference, seed: int) -> dict:
    """Returns `physgan.evaluate`'s scores of generated CaloGAN showers against Geant4: the
    low-level AUC, FPD, the largest separation power and the mean E_tot/E_incident shift."""
    import numpy as np

    from physgan.evaluate import evaluate

    metrics = evaluate(generated, reference, seed=seed, log=lambda *_: None)
    worst = max(metrics["separation_power"], key=metrics["separation_power"].get)
    response = [float(np.mean(s.total_energy / (s.incident_energy * 1000.0))) for s in (generated, reference)]
    return {"auc": metrics["classifier_low_level"]["auc"], "auc_high": metrics["classifier_high_level"]["auc"],
            "worst": worst, "worst_separation_power": metrics["separation_power"][worst], "fpd": metrics["fpd"],
            "above_005": sum(v > 0.05 for v in metrics["separation_power"].values()),
            "response_shift": response[0] / response[1] - 1.0}


def fidelity_child(args) -> dict:
    from physgan.evaluate import shipped_comparison

    rows = {}
    for steps in args.steps:
        generated, reference = shipped_comparison(args.flow, seed=args.seed, sample_options={"steps": steps})
        rows[steps] = fidelity_row(generated, reference, args.seed)
    return {"fidelity": rows}


def print_fidelity(args, shared: list[str]) -> int:
    """Prints the held-out scores of each step count (one child process); returns the exit code."""
    result = run_child(__file__, args.fidelity_backend, shared + ["--fidelity-child"], threads=args.threads)
    if result is None:
        return 1
    print(f"\nfidelity on the held-out events ({args.fidelity_backend}): "
          f"{'steps':>5} {'AUC cells':>9} {'FPD':>7} {'E_tot/E shift':>13}  worst observable")
    for steps, row in result["fidelity"].items():
        print(f"{'':<44}{steps:>5} {row['auc']:>9.3f} {row['fpd']:>7.2f} {row['response_shift']:>+13.2%}  "
              f"{row['worst']} {row['worst_separation_power']:.3f}")
    return 0


def main() -> int:
    parser = generation_parser(__doc__, [1024, 4096])
    parser.add_argument("--steps", nargs="+", type=int, default=[4, 8, 16, 32], help="ODE steps per stage to time (and score)")
    parser.add_argument("--flow", default=str(SHIPPED / "calo_flow_eplus.keras"), help="calo_flow model file")
    parser.add_argument("--calogan", default=str(SHIPPED / "calogan_eplus.keras"), help="CaloGAN model file")
    parser.add_argument("--fidelity", action="store_true", help="also score each step count on the held-out events")
    parser.add_argument("--fidelity-backend", default="jax", choices=("tensorflow", "jax", "torch"))
    parser.add_argument("--seed", type=int, default=0, help="seed of generation and classifier (default: 0)")
    parser.add_argument("--fidelity-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return print_child_result(fidelity_child(args) if args.fidelity_child else speed_child(args))

    shared = ["--steps", *map(str, args.steps), "--flow", str(Path(args.flow).resolve()),
              "--calogan", str(Path(args.calogan).resolve()), "--seed", str(args.seed)]
    print(f"machine: {args.threads} threads; Geant4 {GEANT4_SECONDS_PER_SHOWER} s per 1-100 GeV e+ shower on one core")
    print(f"{'backend':<11} {'model':<22} {'batch':>6} {'showers/s':>10} {'x Geant4/core':>14}")
    for backend in args.backends:
        result = run_child(__file__, backend, shared + ["--batches", *map(str, args.batches),
                                                        "--seconds", str(args.seconds)], threads=args.threads)
        if result is None:
            continue
        print(f"{backend:<11} models: {', '.join(result['models'])}")
        for name, rates in result["rates"].items():
            for batch, rate in rates.items():
                print(f"{backend:<11} {name:<22} {batch:>6} {rate:>10,.0f} "
                      f"{rate * GEANT4_SECONDS_PER_SHOWER / args.threads:>14,.0f}")
    return print_fidelity(args, shared) if args.fidelity else 0


if __name__ == "__main__":
    sys.exit(main())
