"""What physgan's command lines share: the --backend flag and one-line errors."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable


def run_command(parser: argparse.ArgumentParser, argv, command: Callable[[argparse.Namespace], None]) -> int:
    """Returns the exit code of `command(args)`: 0, or that of `physgan.errors.report`
    (one line on stderr) for a PhysganError or an OSError (unreadable, unwritable
    file). `--backend` sets KERAS_BACKEND before Keras loads."""
    args = parser.parse_args(argv)
    if getattr(args, "backend", None):
        os.environ["KERAS_BACKEND"] = args.backend
    from physgan.errors import PhysganError, report

    try:
        command(args)
    except (PhysganError, OSError) as err:
        return report(err)
    return 0
