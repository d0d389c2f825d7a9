"""Exceptions that carry a message written for people."""


class PhysganError(Exception):
    """Base class of every error physgan raises on purpose."""


class DataError(PhysganError, ValueError):
    """A data file or array is missing, malformed or holds bad values."""


class ConfigError(PhysganError, ValueError):
    """An unknown model, dataset, particle or an invalid option."""


def report(err: Exception) -> int:
    """Prints `err` as one `physgan: ...` line on stderr; returns exit code 2."""
    import sys

    message = str(err)
    print(message if message.startswith("physgan:") else f"physgan: {message}", file=sys.stderr)
    return 2
