"""CaloGAN's in-painting gate: a layer's image mixed with the one carried from
the layer in front, cell by cell."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from physgan.layers.locally_connected import LocallyConnected2D


@keras.saving.register_keras_serializable(package="physgan")
class _CarriedChannelBias(keras.initializers.Initializer):
    """Zeros, except the last channel of a (rows, cols, 2) bias: `value`."""

    def __init__(self, value: float = -10.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        bias = np.zeros(shape, dtype="float32")
        bias[..., -1] = self.value
        return ops.convert_to_tensor(bias, dtype=dtype)

    def get_config(self) -> dict:
        return {"value": self.value}


@keras.saving.register_keras_serializable(package="physgan")
class InpaintingGate(keras.layers.Layer):
    """Returns w * own + (1 - w) * carried for inputs `[own, carried]`, both (B, r, c, 1).

    The two weights per cell come from a softmax over the 2 channels of a 3x3
    LocallyConnected2D applied to both images (zero-padded by one cell). The
    carried channel's bias starts at `carried_bias` (-10), so an untrained gate
    passes the layer's own image through.
    """

    def __init__(self, carried_bias: float = -10.0, **kwargs):
        super().__init__(**kwargs)
        self.carried_bias = float(carried_bias)
        self.zero_padding = keras.layers.ZeroPadding2D(1, name="pad")
        self.mixing = LocallyConnected2D(
            2, (3, 3), bias_initializer=_CarriedChannelBias(self.carried_bias), name="mixing"
        )

    def build(self, input_shapes):
        own, carried = input_shapes
        if tuple(own) != tuple(carried) or own[-1] != 1:
            raise ValueError(f"InpaintingGate needs two (B, r, c, 1) images of one shape, got {own} and {carried}")
        both = (own[0], own[1], own[2], 2)
        self.zero_padding.build(both)
        self.mixing.build(self.zero_padding.compute_output_shape(both))

    def call(self, inputs):
        both = ops.concatenate(inputs, axis=-1)
        weights = ops.softmax(self.mixing(self.zero_padding(both)), axis=-1)
        return ops.sum(both * weights, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(carried_bias=self.carried_bias)
        return config
