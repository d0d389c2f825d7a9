"""Command lines of the data formats: check files, rebuild the bundled samples, simulate.

    python -m physgan.data validate FILE...                  # any registered layout, detected
    python -m physgan.data calogan [FILE...] [--make-samples SOURCE_DIR]
    python -m physgan.data ild validate FILE... | make-sample SOURCE
    python -m physgan.data zdc simulate --n N --out F | properties FILE | make-sample

`python -m physgan.data.calogan ...` (and `.ild`, `.zdc`) run the same commands.
"""

from __future__ import annotations

import argparse

from physgan.cli import run_command
from physgan.errors import ConfigError


def _add_validate(commands) -> None:
    parser = commands.add_parser("validate", help="check data files of any registered layout (detected) "
                                                  "and print their number of events")
    parser.add_argument("files", nargs="+", metavar="FILE", help="data files")
    parser.set_defaults(run=_run_validate)


def _run_validate(args: argparse.Namespace) -> None:
    from physgan.datasets import dataset_of_file

    for file in args.files:
        dataset = dataset_of_file(file)
        print(f"physgan: {file}: {dataset.validate(file)} events, valid ({dataset.name})")


def _add_calogan(commands) -> None:
    from physgan.data.calogan import SAMPLE_EVENTS

    parser = commands.add_parser("calogan", help="check CaloGAN HDF5 files, or re-cut the bundled samples",
                                 description="Check CaloGAN HDF5 files, or re-cut the bundled samples.")
    parser.add_argument("files", nargs="*", help="CaloGAN files to validate")
    parser.add_argument("--make-samples", metavar="SOURCE_DIR",
                        help="write the bundled samples from SOURCE_DIR/calogan_{eplus,gamma}.h5")
    parser.add_argument("--out", help="folder of the samples (default: the package's samples folder)")
    parser.add_argument("--events", type=int, default=SAMPLE_EVENTS,
                        help=f"events per sample (default: {SAMPLE_EVENTS})")
    parser.set_defaults(run=_run_calogan)


def _run_calogan(args: argparse.Namespace) -> None:
    from physgan.data.calogan import make_bundled_samples, validate_calogan_file

    if not args.files and not args.make_samples:
        raise ConfigError("give CaloGAN files to validate or --make-samples SOURCE_DIR")
    for file in args.files:
        print(f"physgan: {file}: {validate_calogan_file(file)} events, valid")
    if args.make_samples:
        for path in make_bundled_samples(args.make_samples, args.out, args.events):
            print(f"physgan: wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def _add_ild(commands) -> None:
    from physgan.data.ild import SAMPLE_EVENTS

    parser = commands.add_parser("ild", help="check ILD (Getting High) HDF5 files, or re-cut the bundled sample",
                                 description="Check ILD (Getting High) HDF5 files, or re-cut the bundled sample.")
    ild = parser.add_subparsers(dest="command", required=True)
    validate = ild.add_parser("validate", help="check ILD files and print their number of showers")
    validate.add_argument("files", nargs="+", metavar="FILE", help="ILD HDF5 files")
    sample = ild.add_parser("make-sample", help="write the first showers of SOURCE as the bundled sample")
    sample.add_argument("source", metavar="SOURCE", help="an ILD file, e.g. ../shared/data/ild_photons.h5")
    sample.add_argument("--out", help="the file to write (default: the package's samples/ild_photons.h5)")
    sample.add_argument("--n", type=int, default=SAMPLE_EVENTS, help=f"showers to keep (default: {SAMPLE_EVENTS})")
    parser.set_defaults(run=_run_ild)


def _run_ild(args: argparse.Namespace) -> None:
    from physgan.data.ild import make_bundled_sample, validate_ild_file

    if args.command == "validate":
        for file in args.files:
            print(f"physgan: {file}: {validate_ild_file(file)} events, valid")
    else:
        path = make_bundled_sample(args.source, args.out, args.n)
        print(f"physgan: wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def _add_zdc(commands) -> None:
    from physgan.data.zdc import SAMPLE_EVENTS, SAMPLE_NAME, SAMPLE_SEED
    from physgan.data.zdc_simulator import PARTICLES

    parser = commands.add_parser("zdc", help="simulate ALICE ZN responses, summarise ZDC files, or rebuild "
                                             "the bundled sample",
                                 description="Simulate ALICE ZN responses, summarise ZDC files, or rebuild "
                                             "the bundled sample.")
    zdc = parser.add_subparsers(dest="command", required=True)
    simulate = zdc.add_parser("simulate", help="write N simulated responses with their properties")
    simulate.add_argument("--n", type=int, required=True, help="number of responses")
    simulate.add_argument("--out", required=True, help="the file to write, .npz or .h5")
    simulate.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    simulate.add_argument("--particle", choices=PARTICLES, default="neutron", help="default: neutron")
    simulate.add_argument("--energy", type=float, nargs="+", metavar="GEV",
                          help="one energy, or LO HI (log-uniform); default: the spectator mix")
    props = zdc.add_parser("properties", help="print the mean/std/min/max of the 9 properties of FILE")
    props.add_argument("file", metavar="FILE", help="a ZDC file (.h5, .npz, .npy)")
    sample = zdc.add_parser("make-sample", help="rebuild the bundled sample")
    sample.add_argument("--out", help=f"the file to write (default: the package's samples/{SAMPLE_NAME})")
    sample.add_argument("--n", type=int, default=SAMPLE_EVENTS, help=f"responses (default: {SAMPLE_EVENTS})")
    sample.add_argument("--seed", type=int, default=SAMPLE_SEED, help=f"random seed (default: {SAMPLE_SEED})")
    parser.set_defaults(run=_run_zdc)


def _run_zdc(args: argparse.Namespace) -> None:
    from physgan.data.zdc import PROPERTY_NAMES, ZdcData, check_writable, read_zdc, write_zdc
    from physgan.data.zdc_simulator import make_bundled_sample, simulate_zdc

    if args.command == "simulate":
        if args.energy is not None and len(args.energy) > 2:
            raise ConfigError(f"physgan: --energy takes one value or LO HI, got {len(args.energy)} values")
        check_writable(args.out)  # before simulating
        energy = None if args.energy is None else (args.energy[0] if len(args.energy) == 1 else tuple(args.energy))
        path = write_zdc(args.out, ZdcData(simulate_zdc(args.n, args.particle, energy, args.seed)))
        print(f"physgan: wrote {args.n} responses to {path}")
    elif args.command == "properties":
        p = read_zdc(args.file).properties
        print(f"{'property':<18}{'mean':>12}{'std':>12}{'min':>12}{'max':>12}")
        for name, column in zip(PROPERTY_NAMES, p.T):
            print(f"{name:<18}{column.mean():>12.4g}{column.std():>12.4g}{column.min():>12.4g}{column.max():>12.4g}")
    else:
        path = make_bundled_sample(args.out, args.n, args.seed)
        print(f"physgan: wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def build_parser() -> argparse.ArgumentParser:
    """Returns the command-line parser of `python -m physgan.data`."""
    parser = argparse.ArgumentParser(prog="python -m physgan.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="format", required=True)
    for add in (_add_validate, _add_calogan, _add_ild, _add_zdc):
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    return run_command(build_parser(), argv, lambda args: args.run(args))
