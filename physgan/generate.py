"""Generate events with a trained model and write them in the data set's format.

    python -m physgan.generate MODEL.keras --n 100000 --energy 1:100 --out showers.h5
    python -m physgan.generate runs/.../mpd_wgan_param.keras --n 5000 --angle 0:15 --out tpc.csv.gz
    python -m physgan.generate calo_flow_eplus --n 10000000 --shards 100 --shard $I --out showers.h5

Events are written in the format of the model's data set (`physgan.datasets`):
CaloGAN models the CaloGAN HDF5 layout and ILD models (ild_gan, ild_wgan, bibae)
the Getting High layout (group 30x30: energy, layers), in chunks (the file
appears, complete, when the last chunk is written); MPD models the digits CSV
format. With --shards K the events go to K shard files beside --out, which a rerun
skips and which processes or batch jobs can share out (--shard I); the one that
completes the set writes --out over them (`physgan.shards`).
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
    parser.add_argument("--shards", type=int, default=1, metavar="K", help="split the events into K shard files beside --out (NAME.shard-IIII-of-KKKK.h5), skipping shards already written; when all exist, --out presents them as one file (an HDF5 virtual dataset over the shards, which must stay beside it; other formats are merged). Default 1: no shards")
    parser.add_argument("--shard", type=int, metavar="I", help="with --shards K: generate only shard I (0 to K-1), e.g. one process per device or batch job; the process that completes the set writes --out")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend to run the model on")
    parser.add_argument("--quantize", choices=("int8",), help="CaloGAN: quantize the generator's Dense layers first (about 2x faster on CPU with JAX; see benchmarks/generation.py)")
    parser.add_argument("--dtype-policy", choices=("float32", "mixed_bfloat16", "mixed_float16"), help="zoo models: compute in this precision (default: the model's own, float32 unless trained mixed); the networks' output layers stay float32 and quantized layers stay quantized. bfloat16 generation of the CaloGAN e+ preset scores as float32 does (benchmarks/mixed_precision.py); it pays on GPUs, not on CPUs")
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
    import physgan
    from physgan.datasets import get_dataset
    from physgan.errors import ConfigError
    from physgan.shards import shard_sizes
    from physgan.training import GenerativeModel

    sizes = shard_sizes(args.n, args.shards, args.shard)  # bad --shards/--shard fail before the model loads
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
    if args.dtype_policy:
        if not isinstance(model, GenerativeModel):
            raise ConfigError("--dtype-policy applies to zoo models (.keras), not to legacy .h5 generators")
        from physgan.precision import with_policy

        model = with_policy(model, args.dtype_policy)
    if args.shards == 1 and args.shard is None:
        return _write_events(model, dataset, out, args.n, np.random.default_rng(args.seed), value_range, options,
                             args.chunk_size)
    return _generate_shards(model, dataset, out, args, sizes, value_range, options)


def _write_events(model, dataset, path: Path, n_events: int, rng, value_range, options: dict,
                  chunk_size: int) -> Path:
    """Writes `n_events` events of `model` to `path` in chunks, with a progress bar and the
    events/s at the end."""
    import contextlib

    import keras

    start = time.perf_counter()
    progress = keras.utils.Progbar(n_events, unit_name="event")
    collected = []
    with dataset.writer(path) if dataset.writer else contextlib.nullcontext() as writer:
        for first in range(0, n_events, chunk_size):
            n = min(chunk_size, n_events - first)
            events = model.sample(n, condition=_conditions(rng, n, value_range),
                                  seed=int(rng.integers(2**31)), **options)
            if writer is None:
                collected.append(events)
            else:
                writer.append(events)
            progress.add(n)
    if collected:
        dataset.write(path, dataset.events.concatenate(collected))
    seconds = time.perf_counter() - start
    print(f"physgan: wrote {n_events} events to {path} in {seconds:.1f} s ({n_events / seconds:,.0f} events/s)")
    return path


def _generate_shards(model, dataset, out: Path, args, sizes: list[int], value_range, options: dict) -> Path:
    """Writes the missing shards of `args.shards` (only `args.shard` if given), `sizes[i]`
    events each; returns `out` once every shard exists (then written over them), else the
    last shard written."""
    from physgan.shards import merge, shard_path

    paths = [shard_path(out, dataset.output_suffixes, i, args.shards) for i in range(args.shards)]
    for i in range(args.shards) if args.shard is None else [args.shard]:
        if paths[i].exists():  # written atomically: complete
            print(f"physgan: shard {i} of {args.shards} is there ({paths[i].name}); skipped")
            continue
        # Each shard draws from its own stream (seed, shard): the same events whichever process makes it.
        _write_events(model, dataset, paths[i], sizes[i], np.random.default_rng([args.seed, i]), value_range,
                      options, args.chunk_size)
    missing = [i for i, path in enumerate(paths) if not path.exists()]
    if missing:
        print(f"physgan: shards {', '.join(map(str, missing))} of {args.shards} are still to be written "
              f"(--shard I); the run that completes them writes {out}")
        return paths[args.shard if args.shard is not None else -1]
    merge(dataset, paths, sizes, out)
    print(f"physgan: {out} presents the {args.shards} shards as one file of {args.n} events")
    return out


def main(argv=None) -> int:
    return run_command(build_parser(), argv, generate)


if __name__ == "__main__":
    sys.exit(main())
