"""Mixed precision: zoo models whose layers compute in bfloat16 or float16.

A model built under a mixed policy (`physgan.get_model(name, dtype="mixed_bfloat16")`,
`train.py --dtype-policy`) keeps float32 variables and computes its layers in the
lower precision, as Keras' mixed-precision guide describes, with two rules:

- each network's output layers compute in float32, so the losses and the physics
  (CaloGAN's energy normalisation, the flows' velocities) see float32: bfloat16's
  8-bit mantissa would round E_tot to 0.4 % steps, wider than Geant4's 0.15 %
  spread of E_tot/E_incident (benchmarks/mixed_precision.py measured the damage),
  and TensorFlow refuses to mix bfloat16 and float32 operands in the losses;
- quantized layers keep their mode (`int8_from_mixed_bfloat16`).

The policy is the model's `dtype` in its config: a saved model reloads in it on
every backend (`GenerativeModel.from_config` builds its networks under it).
`with_policy(model, policy)` gives a loaded model's copy computing in another
policy, e.g. for bfloat16 generation (`python -m physgan.generate --dtype-policy`).
Under `mixed_float16` every network's optimizer is a `LossScaleOptimizer`
(`GenerativeModel.compile`).
"""

from __future__ import annotations

from contextlib import contextmanager

import keras

from physgan.errors import ConfigError

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def policy_name(policy) -> str | None:
    """Returns the name of `policy` (a name, a `DTypePolicy` or its serialized dict); None stays None."""
    if policy is None or isinstance(policy, str):
        return policy
    if isinstance(policy, dict):
        return policy.get("config", {}).get("name")
    return policy.name


def check_policy(policy) -> str | None:
    """Returns the name of `policy` when it is one of POLICIES (or None); else a one-line ConfigError."""
    name = policy_name(policy)
    if name is not None and name not in POLICIES:
        raise ConfigError(f"dtype policy {name!r} is not one of {', '.join(POLICIES)}")
    return name


@contextmanager
def policy_scope(policy):
    """Layers created inside compute in `policy` (None or float32: as they would anyway)."""
    name = check_policy(policy)
    if name in (None, "float32"):
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_in_policy(factory, policy):
    """Returns `factory()` built under `policy`, with the output layers of its networks (a
    GenerativeModel's `networks()`, else itself) in float32."""
    with policy_scope(policy):
        built = factory()
    if check_policy(policy) not in (None, "float32"):
        for network in built.networks().values() if hasattr(built, "networks") else [built]:
            _outputs_in_float32(network)
    return built


def _outputs_in_float32(network) -> None:
    if not hasattr(network, "output_names"):  # not a functional network
        if isinstance(network, keras.Model):  # a subclassed one: its functional parts
            for layer in network.layers:
                if isinstance(layer, keras.Model):
                    _outputs_in_float32(layer)
        else:  # one layer (e.g. EWM's transport potential): all of it
            _set_float32(network)
        return
    for name in dict.fromkeys(network.output_names):
        layer = network.get_layer(name)
        if isinstance(layer, keras.Model):  # a nested network
            _outputs_in_float32(layer)
        else:
            _set_float32(layer)


def _set_float32(layer) -> None:
    mode = layer.dtype_policy.quantization_mode
    layer.dtype_policy = f"{mode}_from_float32" if mode else "float32"


def with_policy(model, policy: str):
    """Returns a copy of `model` with the same weights whose layers compute in `policy`
    (POLICIES); `model` itself when it already does."""
    name = check_policy(policy)
    if policy_name(model.dtype_policy) == name:
        return model
    copy = type(model).from_config({**model.get_config(), "dtype": name})
    copy.set_weights(model.get_weights())
    vars(copy)["preset"] = getattr(model, "preset", None)
    return copy
