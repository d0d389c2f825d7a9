"""Layers of the flow-matching velocity networks."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="physgan")
class TimeFeatures(keras.layers.Layer):
    """Returns Fourier features of the flow time t in [0, 1]: (B, 1) -> (B, 2 n + 1),
    sin and cos of 2^k pi t for k = 0..n-1, and t itself (no weights)."""

    def __init__(self, frequencies: int = 8, **kwargs):
        super().__init__(**kwargs)
        if frequencies < 1:
            raise ValueError(f"frequencies must be >= 1, got {frequencies}")
        self.frequencies = int(frequencies)

    def call(self, t):
        scales = ops.convert_to_tensor([math.pi * 2.0**k for k in range(self.frequencies)], dtype=t.dtype)
        angles = t * scales
        return ops.concatenate([ops.sin(angles), ops.cos(angles), t], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * self.frequencies + 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "frequencies": self.frequencies}
