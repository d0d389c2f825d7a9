"""Import of the original projects' Keras 2 `.h5` generators.

- MPD PhysGAN generators (tf.keras 2.2/2.3 Sequential): Keras 3 loads them
  wrongly without an error (the stored `batch_input_shape` is read as a shape
  without batch axis) and fails on BatchNormalization with a list `axis`. We
  rebuild the Sequential from the stored config with `keras.Input`, an int BN
  axis, then load the weights by layer order.
- ALICE ZDC VAE decoders (Keras 2.14 Functional) load as they are.

`LegacyGenerator` wraps the network with `sample(n, condition, seed)` in
physical units, like every physgan model, and re-saves as `.keras`.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import keras
import numpy as np

from physgan.errors import ConfigError, DataError

MPD_ANGLE_RANGE = (0.0, 15.0)

# Every class the originals' Keras 2 files name (the MPD PhysGAN generators, the ZDC
# VAE decoders): a legacy file naming any other (a Lambda layer, a custom class)
# is refused before anything is built, since Keras' .h5 loader has no safe mode.
LEGACY_CLASSES = frozenset({
    "Sequential", "Functional", "InputLayer", "Dense", "Reshape", "Conv2D", "Conv2DTranspose",
    "UpSampling2D", "MaxPooling2D", "BatchNormalization", "LeakyReLU", "Concatenate",
    "GlorotUniform", "Zeros", "Ones",
})


def is_legacy_h5(path: str | Path) -> bool:
    """Returns True if `path` is an HDF5 file holding a Keras 2 `model_config`."""
    try:
        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    except OSError:
        return False


def _model_config(path: Path) -> dict:
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError:
        raise DataError(f"physgan: {path} is not an HDF5 file") from None
    if raw is None:
        raise DataError(f"physgan: {path.name} holds no Keras model (no 'model_config' attribute)")
    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    unknown = sorted(_class_names(config) - LEGACY_CLASSES)
    if unknown:
        raise DataError(f"physgan: {path.name} uses {', '.join(unknown)}, which legacy loading does not build "
                        f"(it builds {', '.join(sorted(LEGACY_CLASSES))})")
    return config


def _class_names(config) -> set[str]:
    """Returns every `class_name` in a Keras model config (layers, initializers, ...)."""
    if isinstance(config, dict):
        names = {config["class_name"]} if isinstance(config.get("class_name"), str) else set()
        return names.union(*(_class_names(v) for v in config.values()))
    if isinstance(config, list):
        return set().union(*(_class_names(v) for v in config))
    return set()


def _rebuild_sequential(config: dict, name: str) -> keras.Sequential:
    layer_configs = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
    layers = []
    input_shape = None
    for layer in layer_configs:
        cfg = dict(layer["config"])
        if layer["class_name"] == "InputLayer":
            input_shape = tuple(cfg["batch_input_shape"][1:])
            continue
        if "batch_input_shape" in cfg:
            input_shape = tuple(cfg.pop("batch_input_shape")[1:])
        cfg.pop("batch_shape", None)
        if layer["class_name"] == "BatchNormalization" and isinstance(cfg.get("axis"), list):
            (cfg["axis"],) = cfg["axis"]
        layers.append(getattr(keras.layers, layer["class_name"]).from_config(cfg))
    if input_shape is None:
        raise DataError("physgan: the Sequential model stores no input shape")
    return keras.Sequential([keras.Input(input_shape), *layers], name=name)


def load_legacy_network(path: str | Path) -> keras.Model:
    """Returns the Keras 2 network stored in `path`, rebuilt for Keras 3."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"physgan: no model file at {path}")
    config = _model_config(path)
    if config["class_name"] == "Sequential":
        network = _rebuild_sequential(config, name=path.stem)
        network.load_weights(path)
        return network
    return keras.models.load_model(path, compile=False)


def _kind(network: keras.Model, stem: str) -> str:
    inputs = [tuple(t.shape[1:]) for t in network.inputs]
    output = tuple(network.outputs[0].shape[1:])
    if inputs == [(32,)] and output == (8, 8, 1):
        return "mpd_tpc_parametrized" if stem.startswith("parameterize") else "mpd_tpc_unparametrized"
    if len(inputs) == 2 and inputs[0][0] == 10 and inputs[1] == (9,) and output[-1] == 1:
        return "zdc_proton_vae_decoder"
    return "generic"


@keras.saving.register_keras_serializable(package="physgan")
class LegacyGenerator(keras.Model):
    """A Keras 2 generator with physgan's `sample` interface.

    Kinds: `mpd_tpc_unparametrized` (32 N(0,1) -> ln amplitude 8x8),
    `mpd_tpc_parametrized` (latent slot 0 = crossing angle in degrees),
    `zdc_proton_vae_decoder` (10 N(0,1) + 9 standardised conditions ->
    log(1 + photons) 56x30), or `generic` (raw outputs, N(0,1) inputs).
    """

    preset = None  # the `physgan.presets.Preset` it was loaded from, if any

    def __init__(self, network: keras.Model, kind: str = "generic", source: str = "", **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.kind = kind
        self.source = source
        self.input_dims = [int(t.shape[-1]) for t in network.inputs]
        self.built = True

    @property
    def dataset(self) -> str | None:
        """The data set whose events `sample()` returns (MPD generators), else None."""
        return "mpd_tpc" if self.kind.startswith("mpd_tpc") else None

    @property
    def takes_condition(self) -> bool:
        """Whether `sample(condition=...)` applies."""
        return self.kind in ("mpd_tpc_parametrized", "zdc_proton_vae_decoder")

    def describe(self) -> str:
        """Returns a few lines on what this generator is and what `sample()` returns."""
        from physgan.presets import describe_model

        return describe_model(self)

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def generate_raw(self, latent, condition=None) -> np.ndarray:
        """Returns the network's raw output for given inputs (numpy)."""
        inputs = latent if condition is None else [latent, condition]
        return keras.ops.convert_to_numpy(self.network(inputs, training=False))

    def sample(self, n: int, condition=None, seed: int | None = None):
        """Returns `n` generated events in physical units.

        MPD: `TPCEvents`, amplitudes (n, 8, 8) in ADC counts; `condition` = crossing angle(s) in
        degrees for the parametrized generators (None: uniform 0-15). ZDC: an array of photon counts
        (n, 56, 30); `condition` = (n, 9) standardised conditions (None: N(0, 1)).
        """
        rng = np.random.default_rng(seed)
        if self.kind.startswith("mpd_tpc"):
            from physgan.data.mpd import generated_events

            latent = rng.standard_normal((n, 32)).astype("float32")
            angle = None
            if self.kind == "mpd_tpc_parametrized":
                angle = rng.uniform(*MPD_ANGLE_RANGE, n) if condition is None else condition
                latent[:, 0] = np.broadcast_to(np.asarray(angle, dtype="float32"), (n,))
            elif condition is not None:
                raise ConfigError(f"{self.source or 'this generator'} is unparametrized: it takes no condition")
            return generated_events(self.generate_raw(latent), angle)
        if self.kind == "zdc_proton_vae_decoder":
            latent = rng.standard_normal((n, self.input_dims[0])).astype("float32")
            if condition is None:
                condition = rng.standard_normal((n, self.input_dims[1])).astype("float32")
            condition = np.asarray(condition, dtype="float32").reshape(n, self.input_dims[1])
            return np.maximum(np.expm1(self.generate_raw(latent, condition)[..., 0]), 0.0)
        latent = [rng.standard_normal((n, d)).astype("float32") for d in self.input_dims]
        return self.generate_raw(latent[0] if len(latent) == 1 else latent)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "kind": self.kind,
            "source": self.source,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def load_legacy_h5(path: str | Path) -> LegacyGenerator:
    """Returns the Keras 2 generator at `path` wrapped as a `LegacyGenerator`."""
    path = Path(path)
    network = load_legacy_network(path)
    return LegacyGenerator(network, kind=_kind(network, path.stem), source=path.name)
