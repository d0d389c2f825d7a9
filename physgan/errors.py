"""Exceptions that carry a message written for people."""


class PhysganError(Exception):
    """Base class of every error physgan raises on purpose."""


class DataError(PhysganError, ValueError):
    """A data file or array is missing, malformed or holds bad values."""


class ConfigError(PhysganError, ValueError):
    """An unknown model, dataset, particle or an invalid option."""
