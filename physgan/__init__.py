"""physgan: generative models for fast particle-detector simulation, in Keras 3.

    import physgan
    physgan.list_models()
    model = physgan.get_model("mpd_wgan")
    model = physgan.load("runs/mpd_wgan-.../mpd_wgan.keras")
    amplitudes = model.sample(1000, seed=0)
"""

from physgan.artifacts import load, save_model
from physgan.registry import get_model, list_models, register_model

__version__ = "0.1.0"

__all__ = ["get_model", "list_models", "load", "register_model", "save_model", "__version__"]
