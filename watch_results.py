#!/usr/bin/env python
"""Plot a training run: loss curves and real-vs-generated physics observables.

    python watch_results.py                    # the newest run under runs/
    python watch_results.py runs/mpd_wgan-mpd_tpc-20261123-120000 --n 5000
    python watch_results.py RUN_DIR --show     # also open the figures
    python watch_results.py --shipped          # the shipped models: held-out metrics and figures
    python watch_results.py --shipped calogan_gamma --show

The PNGs are written into RUN_DIR/plots/ and their paths printed. With
--shipped, nothing is generated: the models in saved_models/index.json are
summarised (data, training, separation powers and classifier AUCs on their
held-out Geant4 events) and their evaluation figures listed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from physgan.cli import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", nargs="?", help="run directory (default: the newest under --runs)")
    parser.add_argument("--shipped", nargs="?", const="", metavar="NAME",
                        help="instead of a run: the shipped models (or the one NAME, e.g. calogan_eplus)")
    parser.add_argument("--saved", default="saved_models", help="folder of the shipped models (default: saved_models)")
    parser.add_argument("--runs", default="runs", help="where to look for the newest run (default: runs)")
    parser.add_argument("--n", type=int, default=5000, help="number of events to generate and compare (default: 5000)")
    parser.add_argument("--reference", help="reference data file to compare with (default: the run's training data)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated sample (default: 0)")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend used to load and sample the model")
    parser.add_argument("--show", action="store_true", help="open the figures in a window after writing them")
    return parser


def _watch(args: argparse.Namespace) -> None:
    from physgan.errors import ConfigError
    from physgan.watch import shipped_models, watch_run

    if args.shipped is not None:
        if args.run_dir:
            raise ConfigError("give RUN_DIR or --shipped, not both")
        paths = []
        for description, figures in shipped_models(args.saved, args.shipped or None):
            print(description)
            for path in figures:
                print(f"  {path}")
            paths += figures
    else:
        paths = watch_run(args.run_dir, runs_root=args.runs, n_events=args.n, reference=args.reference,
                          seed=args.seed)
        for path in paths:
            print(path)
    if args.show:
        import matplotlib.image as mpimg
        import matplotlib.pyplot as plt

        for path in paths:
            plt.figure(figsize=(10, 7))
            plt.imshow(mpimg.imread(path))
            plt.axis("off")
            plt.title(Path(path).name)
        plt.show()


def main(argv=None) -> int:
    return run_command(build_parser(), argv, _watch)


if __name__ == "__main__":
    sys.exit(main())
