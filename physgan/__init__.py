"""physgan: generative models for fast particle-detector simulation, in Keras 3.

    import physgan
    physgan.list_models()
    model = physgan.get_model("mpd_wgan")
    model = physgan.load("runs/mpd_wgan-.../mpd_wgan.keras")
    model = physgan.load("mpd_wgan_tpc")     # a trained preset (physgan.list_presets())
    print(model.describe())
    events = model.sample(1000, seed=0)   # TPCEvents: events.amplitudes (1000, 8, 8) ADC counts
    events.write("tpc.csv.gz")            # in the data set's own format

Importing physgan imports nothing heavy: Keras (and with it the backend named by
KERAS_BACKEND) is imported on first use, so `python -m physgan.generate
--backend jax` can still choose the backend.
"""

import importlib
import os

__version__ = "0.1.0"

if os.environ.get("KERAS_BACKEND") in ("jax", "torch"):
    # Keras imports TensorFlow, when installed, to serialize objects even on JAX and torch,
    # where TensorFlow computes nothing: keep its start-up log lines (and oneDNN) quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

_LAZY = {
    "load": "physgan.artifacts",
    "save_model": "physgan.artifacts",
    "get_model": "physgan.registry",
    "list_models": "physgan.registry",
    "list_presets": "physgan.presets",
    "register_model": "physgan.registry",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'physgan' has no attribute {name!r}")
