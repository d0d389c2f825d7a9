"""Encode a data set with a trained LArCV autoencoder: code vectors for EWM.

    python -m physgan.deploy RUN/larcv_ae.keras --dataset digits --out codes.npz
    python -m physgan.deploy RUN/larcv_ae.keras --dataset larcv --data tracks.h5 --out codes.npz

The original particle_generator's deploy step: the autoencoder's codes of
every training image are the targets of the EWM generator (the AE + EWM
pipeline). The codes file records the autoencoder that wrote it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from physgan.cli import run_command


def deploy(model_path: str | Path, dataset: str, out: str | Path, data: str | Path | None = None,
           max_events: int | None = None) -> Path:
    """Returns `out` after writing the codes of `dataset` encoded by the autoencoder at `model_path`."""
    import physgan
    from physgan.datasets import load_training_data
    from physgan.errors import ConfigError

    model = physgan.load(model_path, compile=False)
    if not hasattr(model, "deploy"):
        raise ConfigError(f"physgan: {model_path} is a {type(model).__name__}, not an autoencoder with a deploy step")
    training = load_training_data(dataset, data, max_events)
    return model.deploy(training.inputs["image"], out, dataset=dataset, source=str(training.source),
                        autoencoder=str(Path(model_path).resolve()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a trained larcv_ae .keras file")
    parser.add_argument("--dataset", required=True, help="the image data set to encode (digits, mnist, larcv)")
    parser.add_argument("--data", help="its file (default: the data set's bundled sample)")
    parser.add_argument("--max-events", type=int, help="encode at most this many images")
    parser.add_argument("--out", required=True, help="the .npz file of code vectors to write")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend used to run the encoder")
    return parser


def _deploy(args: argparse.Namespace) -> None:
    print(deploy(args.model, args.dataset, args.out, args.data, args.max_events))


def main(argv=None) -> int:
    return run_command(build_parser(), argv, _deploy)


if __name__ == "__main__":
    sys.exit(main())
