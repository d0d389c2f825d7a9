"""The zoo: models registered by name, with the data sets each accepts."""

from __future__ import annotations

from dataclasses import dataclass, field

from physgan.discovery import import_package_modules
from physgan.errors import ConfigError


@dataclass(frozen=True)
class ZooEntry:
    """A registered model: its class, a description and the data it trains on."""

    name: str
    cls: type
    description: str
    datasets: tuple[str, ...]
    defaults: dict = field(default_factory=dict)


_REGISTRY: dict[str, ZooEntry] = {}


def register_model(name: str, description: str, **defaults):
    """Returns a class decorator that registers a zoo model under `name`.

    The model trains on the data set its class names (`dataset`, whose events
    its `sample()` returns) or, for a model of several, on those of its class
    attribute `datasets` (the first is the default; an instance's `dataset`
    says which it was built for). `defaults` are constructor arguments that differ
    between entries sharing one class (e.g. the parametrized variant of a model).
    """

    def decorator(cls):
        existing = _REGISTRY.get(name)
        if existing is not None and existing.cls.__qualname__ != cls.__qualname__:
            raise ConfigError(f"model name {name!r} is registered twice")
        if not getattr(cls, "dataset", None) and not getattr(cls, "datasets", None):
            raise ConfigError(f"model class {cls.__name__} names no data set (class attribute `dataset`, "
                              f"or `datasets` for a model of several)")
        datasets = tuple(getattr(cls, "datasets", None) or (cls.dataset,))
        _REGISTRY[name] = ZooEntry(name, cls, description, datasets, dict(defaults))
        return cls

    return decorator


def _import_zoo() -> None:
    # Importing the zoo registers its models; done once, lazily.
    import_package_modules("physgan.zoo")


def list_models() -> list[ZooEntry]:
    """Returns every registered model, sorted by name."""
    _import_zoo()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_entry(name: str) -> ZooEntry:
    """Returns the registry entry of `name` (error listing the known names)."""
    _import_zoo()
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def get_model(name: str, dtype=None, **config):
    """Returns a new, uncompiled model `name` built with `config`; `dtype` is its dtype
    policy (`physgan.precision.POLICIES`, e.g. "mixed_bfloat16"; default float32)."""
    from physgan.precision import build_in_policy

    entry = get_entry(name)
    options = {**entry.defaults, **config, **({"dtype": dtype} if dtype is not None else {})}
    return build_in_policy(lambda: entry.cls(**options), dtype)
