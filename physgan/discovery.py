"""Lazy discovery of the modules that register what they declare (the zoo's models,
the data formats' data sets)."""

from __future__ import annotations

import functools
import importlib
import pkgutil


@functools.cache
def import_package_modules(package: str) -> None:
    """Imports, once, every module of `package` whose name does not start with "_"
    (not `__main__`, the command line); importing a module registers its declarations."""
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")
