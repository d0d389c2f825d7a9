"""Generate events with a trained model and write them in the data set's format.

    python -m physgan.generate MODEL.keras --n 100000 --energy 1:100 --out showers.h5
    python -m physgan.generate runs/.../mpd_wgan_param.keras --n 5000 --angle 0:15 --out tpc.csv.gz

CaloGAN models write the CaloGAN HDF5 layout and ILD models (ild_gan, ild_wgan,
bibae) the Getting High layout (group 30x30: energy, layers), in chunks (the
file appears, complete, when the last chunk is written); MPD models write the
digits CSV format.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from physgan.cli import run_command


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
    parser.add_argument("--out", required=True, help="output file (.h5 for calorimeter showers, .csv[.gz] for MPD events)")
    parser.add_argument("--energy", type=parse_range, default=None, help="incident energy range in GeV, LOW:HIGH drawn uniformly, or one value (calorimeter models; default: the model's training range)")
    parser.add_argument("--angle", type=parse_range, default=None, help="crossing angle range in degrees, LOW:HIGH or one value (parametrized MPD models)")
    parser.add_argument("--particle", help="particle to generate (ACGAN models trained on several particles)")
    parser.add_argument("--batch-size", type=int, default=4096, help="events per generator call (default: 4096)")
    parser.add_argument("--chunk-size", type=int, default=20000, help="events per write to the output file (default: 20000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend to run the model on")
    parser.add_argument("--quantize", choices=("int8",), help="CaloGAN: quantize the generator's Dense layers first (about 2x faster on CPU with JAX; see benchmarks/generation.py)")
    return parser


def _conditions(rng, n, value_range):
    if value_range is None:
        return None
    low, high = value_range
    return np.full(n, low) if low == high else rng.uniform(low, high, size=n)


def generate(args) -> Path:
    """Writes `args.n` generated events to `args.out`; returns its path."""
    import keras

    import physgan
    from physgan.errors import ConfigError

    model = physgan.load(args.model, compile=False)
    if args.quantize:
        if not hasattr(model, "quantize_generator"):
            raise ConfigError("--quantize applies to CaloGAN models only")
        if getattr(model, "generator_quantization", None) is None:
            model.quantize_generator(args.quantize)
    out = Path(args.out)
    rng = np.random.default_rng(args.seed)
    progress = keras.utils.Progbar(args.n, unit_name="event")
    start = time.perf_counter()
    if hasattr(model, "generate_cells"):  # calorimeter showers (CaloGAN layout)
        from physgan.data.calogan import CaloGANWriter, CaloShowers

        if out.suffix not in (".h5", ".hdf5"):
            raise ConfigError(f"calorimeter showers are written as HDF5 (.h5), not {out.name}")
        energy_range = args.energy or tuple(model.energy_range)
        with CaloGANWriter(out) as writer:
            for first in range(0, args.n, args.chunk_size):
                n = min(args.chunk_size, args.n - first)
                energies = _conditions(rng, n, energy_range)
                cells = model.generate_cells(energies, particle=args.particle,
                                             seed=int(rng.integers(2**31)), batch_size=args.batch_size)
                writer.append(CaloShowers(incident_energy=energies.astype("float32"), layers=cells, overflow=None))
                progress.add(n)
    elif hasattr(model, "generate_volumes"):  # ILD 30x30x30 showers (Getting High layout)
        from physgan.data.ild import IldWriter

        if out.suffix not in (".h5", ".hdf5"):
            raise ConfigError(f"ILD showers are written as HDF5 (.h5), not {out.name}")
        if args.particle is not None:
            raise ConfigError("--particle applies to CaloGAN ACGAN models only; ILD models generate photons")
        energy_range = args.energy or tuple(model.energy_range)
        with IldWriter(out) as writer:
            for first in range(0, args.n, args.chunk_size):
                n = min(args.chunk_size, args.n - first)
                writer.append(model.sample(n, condition=_conditions(rng, n, energy_range),
                                           seed=int(rng.integers(2**31))))
                progress.add(n)
    else:  # MPD TPC events
        from physgan.data.mpd import TPCEvents, write_digits_csv

        if args.energy is not None or args.particle is not None:
            raise ConfigError("--energy and --particle apply to calorimeter models only")
        angles = _conditions(rng, args.n, args.angle) if getattr(model, "parametrized", False) else None
        amplitudes = model.sample(args.n, condition=angles, seed=args.seed)
        progress.add(args.n)
        events = TPCEvents(
            amplitudes=amplitudes,
            crossing_angle=None if angles is None else angles.astype("float32"),
            dip_angle=None if angles is None else np.zeros(args.n, "float32"),
            event_ids=np.arange(args.n, dtype="int64"),
        )
        write_digits_csv(out, events)
    seconds = time.perf_counter() - start
    print(f"physgan: wrote {args.n} events to {out} in {seconds:.1f} s ({args.n / seconds:,.0f} events/s)")
    return out


def main(argv=None) -> int:
    return run_command(build_parser(), argv, generate)


if __name__ == "__main__":
    sys.exit(main())
