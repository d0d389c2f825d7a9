"""What the evaluation benchmarks (mpd_original.py, presets.py) share: their common flags,
the backend set before Keras is imported, and the Markdown / JSON copies of their tables."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path


def add_table_flags(parser: argparse.ArgumentParser) -> None:
    """Adds --seed, --backend, --markdown and --json to `parser`."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="tensorflow", choices=("tensorflow", "jax", "torch"))
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    parser.add_argument("--json", help="also write every metric to this JSON file")


def use_backend(args: argparse.Namespace) -> None:
    """Sets the Keras backend of --backend and makes the checkout's physgan importable."""
    os.environ["KERAS_BACKEND"] = args.backend
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def print_and_write(args: argparse.Namespace, results: dict, format_table: Callable) -> None:
    """Prints `format_table(results)`; writes its Markdown (--markdown) and `results` (--json)."""
    print(format_table(results))
    if args.markdown:
        Path(args.markdown).write_text(format_table(results, markdown=True) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
