"""Generate events with a trained model and write them in the data set's format.

    python -m physgan.generate MODEL.keras --n 100000 --energy 1:100 --out showers.h5
    python -m physgan.generate runs/.../mpd_wgan_param.keras --n 5000 --angle 0:15 --out tpc.csv.gz

Events are written in the format of the model's data set (`physgan.datasets`):
CaloGAN models the CaloGAN HDF5 layout and ILD models (ild_gan, ild_wgan, bibae)
the Getting High layout (group 30x30: energy, layers), in chunks (the file
appears, complete, when the last chunk is written); MPD models the digits CSV
format.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from physgan.cli import run_command

CONDITION_FLAGS = ("energy", "angle")  # the generate flags of the data sets' `Condition.flag`
SAMPLE_FLAGS = {"particle": "CaloGAN ACGAN models", "steps": "flow models (calo_flow)",
                "solver": "flow models (calo_flow)"}  # flag -> the models whose sample() takes it


def parse_range(text: str) -> tuple[float, float]:
    """Returns (low, high) from 'low:high' or a single value 'v' -> (v, v)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH or a number, got {text!r}") from None
    if len(values) == 1:
        return values[0], values[0]
    if len(values) != 2 or values[0] > values[1]:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH with LOW <= HIGH, got {text!r}")
    return values[0], values[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m physgan.generate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="trained model file (.keras, or a legacy .h5 generator)")
    parser.add_argument("--n", type=int, required=True, help="number of events to generate")
    parser.add_argument("--out", required=True, help="output file in the model's data-set format (.h5 for calorimeter showers, .csv[.gz] for MPD events, .npz/.h5 for ZDC responses)")
    parser.add_argument("--energy", type=parse_range, default=None, help="incident energy range in GeV, LOW:HIGH drawn uniformly, or one value (calorimeter models; default: the model's training range)")
    parser.add_argument("--angle", type=parse_range, default=None, help="crossing angle range in degrees, LOW:HIGH or one value (parametrized MPD models; default: the model's training range)")
    parser.add_argument("--particle", help="particle to generate (ACGAN models trained on several particles)")
    parser.add_argument("--batch-size", type=int, default=4096, help="events per generator call (default: 4096)")
    parser.add_argument("--chunk-size", type=int, default=20000, help="events per write to the output file (default: 20000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend to run the model on")
    parser.add_argument("--quantize", choices=("int8",), help="CaloGAN: quantize the generator's Dense layers first (about 2x faster on CPU with JAX; see benchmarks/generation.py)")
    parser.add_argument("--steps", type=int, help="flow models (calo_flow): ODE steps per stage (default: the model's own, 8 for the shipped ones); fewer is faster, 2 loses fidelity (benchmarks/flow_generation.py)")
    parser.add_argument("--solver", choices=("euler", "midpoint"), help="flow models (calo_flow): fixed-step ODE solver (default: the model's own, midpoint)")
    return parser


def _conditions(rng, n, value_range):
    if value_range is None:
        return None
    low, high = value_range
    return np.full(n, low) if low == high else rng.uniform(low, high, size=n)


def _condition_range(args, dataset):
    """Returns the LOW:HIGH range given for the data set's condition flag (None: the model's
    own range); ConfigError for a flag of another data set's condition."""
    from physgan.errors import ConfigError

    own = dataset.condition.flag if dataset.condition else None
    for flag in CONDITION_FLAGS:
        if getattr(args, flag) is not None and flag != own:
            takes = f"its condition is --{own}" if own else "its events take no condition"
            raise ConfigError(f"--{flag} does not apply to a model of the {dataset.name} data set ({takes})")
    return getattr(args, own) if own else None


def _sample_options(model, args, dataset) -> dict:
    """Returns the keyword options of `model.sample` that were given (--particle, --steps,
    --solver); ConfigError for one the model's sample() does not take."""
    import inspect

    from physgan.errors import ConfigError

    options = {name: getattr(args, name) for name in SAMPLE_FLAGS if getattr(args, name) is not None}
    accepted = inspect.signature(model.sample).parameters
    for name in options:
        if name not in accepted:
            raise ConfigError(f"--{name} does not apply to {type(model).__name__} models "
                              f"({dataset.name} data set); it applies to {SAMPLE_FLAGS[name]}")
    if "batch_size" in accepted:
        options["batch_size"] = args.batch_size
    return options


def generate(args) -> Path:
    """Writes `args.n` generated events to `args.out` in the format of the model's data set;
    returns its path."""
    import contextlib

    import keras

    import physgan
    from physgan.datasets import get_dataset
    from physgan.errors import ConfigError
    from physgan.training import GenerativeModel

    model = physgan.load(args.model, compile=False)
    if not getattr(model, "dataset", None):
        raise ConfigError(f"{Path(args.model).name} generates no events of a known data set, so there is "
                          f"no file format to write; call its sample() in Python instead")
    dataset = get_dataset(model.dataset)
    out = dataset.check_output(args.out)
    value_range = _condition_range(args, dataset)
    options = _sample_options(model, args, dataset)
    if args.quantize:
        if not isinstance(model, GenerativeModel):
            raise ConfigError("--quantize applies to CaloGAN models only")
        if model.generator_quantization is None:
            model.quantize_generator(args.quantize)
    rng = np.random.default_rng(args.seed)
    progress = keras.utils.Progbar(args.n, unit_name="event")
    start = time.perf_counter()
    collected = []
    with dataset.writer(out) if dataset.writer else contextlib.nullcontext() as writer:
        for first in range(0, args.n, args.chunk_size):
            n = min(args.chunk_size, args.n - first)
            events = model.sample(n, condition=_conditions(rng, n, value_range),
                                  seed=int(rng.integers(2**31)), **options)
            if writer is None:
                collected.append(events)
            else:
                writer.append(events)
            progress.add(n)
    if collected:
        dataset.write(out, dataset.events.concatenate(collected))
    seconds = time.perf_counter() - start
    print(f"physgan: wrote {args.n} events to {out} in {seconds:.1f} s ({args.n / seconds:,.0f} events/s)")
    return out


def main(argv=None) -> int:
    return run_command(build_parser(), argv, generate)


if __name__ == "__main__":
    sys.exit(main())
