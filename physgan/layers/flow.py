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


@keras.saving.register_keras_serializable(package="physgan")
class ElementwiseMLP(keras.layers.Layer):
    """One small MLP per dimension: (x (B, D), context (B, C)) -> (B, D) with
    out_i = sum_h w2[i, h] silu(x_i w1[i, h] + b1[i, h] + (context W)_h) + b2[i].

    A dense velocity field must spend its width on every cell's own nonlinearity
    (an empty-or-lit cell's bimodal share); this pathway gives each dimension its
    own, seeing the shared context. The output starts at zero (w2 = 0).
    """

    def __init__(self, hidden: int = 32, **kwargs):
        super().__init__(**kwargs)
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        self.hidden = int(hidden)

    def build(self, input_shape):
        (_, dim), (_, context) = input_shape
        self.w1 = self.add_weight((dim, self.hidden), initializer="random_normal", name="w1")
        self.b1 = self.add_weight((dim, self.hidden), initializer="random_normal", name="b1")
        self.context_kernel = self.add_weight((context, self.hidden), initializer="glorot_uniform",
                                              name="context_kernel")
        self.w2 = self.add_weight((dim, self.hidden), initializer="zeros", name="w2")
        self.b2 = self.add_weight((dim,), initializer="zeros", name="b2")

    def call(self, inputs):
        x, context = inputs
        h = ops.silu(x[:, :, None] * self.w1 + self.b1 + ops.matmul(context, self.context_kernel)[:, None, :])
        return ops.sum(h * self.w2, axis=-1) + self.b2

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden": self.hidden}
