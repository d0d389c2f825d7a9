"""Building blocks of the 3D (30x30x30) shower networks of the ILD models.

Inputs, outputs and weights are channels-last on every backend; the
convolution stacks may run channels-first inside (torch's fast layout, see
`physgan.backend.IMAGE_DATA_FORMAT`), so these helpers take the internal
`data_format`.
"""

from __future__ import annotations

import keras
from keras import layers, ops

# The original PyTorch models' initialisation: weights N(0, 0.02), norm scales N(1, 0.02).
CONV_INIT = keras.initializers.RandomNormal(0.0, 0.02)
SCALE_INIT = keras.initializers.RandomNormal(1.0, 0.02)


def to_internal_3d(x, data_format: str, name: str):
    """Returns channels-last volume `x` (B, D, H, W, C) in the internal layout."""
    return x if data_format == "channels_last" else layers.Permute((4, 1, 2, 3), name=name)(x)


def to_channels_last_3d(x, data_format: str, name: str):
    """Returns internal-layout volume `x` back in channels-last layout."""
    return x if data_format == "channels_last" else layers.Permute((2, 3, 4, 1), name=name)(x)


def spatial_layer_norm(data_format: str, name: str, init: bool = True) -> "SpatialLayerNorm":
    """Returns PyTorch's `LayerNorm([D, H, W])` for a 5D tensor in `data_format`."""
    return SpatialLayerNorm(data_format=data_format, scale_initializer=SCALE_INIT if init else "ones", name=name)


@keras.saving.register_keras_serializable(package="physgan")
class SpatialLayerNorm(keras.layers.Layer):
    """PyTorch's `LayerNorm([D, H, W])` on a 5D tensor: per shower and channel,
    normalise over the spatial axes, then scale and shift per voxel (weights
    of shape (D, H, W) in both layouts).

    The variance is computed in two passes, mean((x - mean)^2), on every
    backend. `keras.layers.LayerNormalization` uses E[x^2] - E[x]^2 on
    TensorFlow, which loses all precision when a channel is nearly constant
    over the volume (the BIB-AE post-processor's broadcast energy condition),
    so the same weights gave different showers on TensorFlow. On torch,
    channels-first, it is torch's fused `layer_norm` (through
    `keras.ops.layer_normalization`), which computes the same.
    """

    def __init__(self, data_format: str = "channels_last", epsilon: float = 1e-5,
                 scale_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format
        self.epsilon = float(epsilon)
        self.scale_initializer = keras.initializers.get(scale_initializer)

    def _spatial_axes(self) -> tuple[int, int, int]:
        return (1, 2, 3) if self.data_format == "channels_last" else (2, 3, 4)

    def build(self, input_shape):
        spatial = tuple(input_shape[a] for a in self._spatial_axes())
        self.gamma = self.add_weight(shape=spatial, initializer=self.scale_initializer, name="gamma")
        self.beta = self.add_weight(shape=spatial, initializer="zeros", name="beta")

    def call(self, inputs):
        axes = self._spatial_axes()
        if self.data_format == "channels_first" and keras.backend.backend() == "torch":
            # Trailing axes: Keras calls torch's fused layer_norm, which is
            # PyTorch's LayerNorm([D, H, W]) itself (two-pass, 4-5x faster).
            return ops.layer_normalization(inputs, self.gamma, self.beta, axis=axes, epsilon=self.epsilon)
        mean = ops.mean(inputs, axis=axes, keepdims=True)
        centred = inputs - mean
        variance = ops.mean(ops.square(centred), axis=axes, keepdims=True)
        normed = centred * ops.rsqrt(variance + self.epsilon)
        gamma, beta = self.gamma, self.beta  # (D, H, W): broadcasts over (B, C, D, H, W)
        if self.data_format == "channels_last":
            gamma, beta = ops.expand_dims(gamma, -1), ops.expand_dims(beta, -1)
        return normed * gamma + beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "epsilon": self.epsilon,
                "scale_initializer": keras.initializers.serialize(self.scale_initializer)}


def channel_axis(data_format: str) -> int:
    """Returns the channel axis of a 5D tensor in `data_format`."""
    return -1 if data_format == "channels_last" else 1


@keras.saving.register_keras_serializable(package="physgan")
class Log1p(keras.layers.Layer):
    """Returns log(1 + x) elementwise (the BIB-AE critic's log-energy branch)."""

    def call(self, inputs):
        return ops.log1p(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="physgan")
class BroadcastToVolume(keras.layers.Layer):
    """Returns (B, C) features repeated over a volume: (B, C) -> (B, *spatial, C)
    channels-last, or (B, C, *spatial) channels-first."""

    def __init__(self, spatial_shape, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.spatial_shape = tuple(int(s) for s in spatial_shape)
        self.data_format = data_format

    def call(self, inputs):
        batch, channels = ops.shape(inputs)[0], ops.shape(inputs)[1]
        ones = (1,) * len(self.spatial_shape)
        if self.data_format == "channels_last":
            x = ops.reshape(inputs, (batch, *ones, channels))
            return ops.broadcast_to(x, (batch, *self.spatial_shape, channels))
        x = ops.reshape(inputs, (batch, channels, *ones))
        return ops.broadcast_to(x, (batch, channels, *self.spatial_shape))

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0], *self.spatial_shape, input_shape[1])
        return (input_shape[0], input_shape[1], *self.spatial_shape)

    def get_config(self):
        return {**super().get_config(), "spatial_shape": list(self.spatial_shape),
                "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="physgan")
class Reparameterize(keras.layers.Layer):
    """Returns the VAE latent z = [mu + exp(logvar / 2) * eps_enc, eps_rand].

    Inputs: `mu`, `logvar` (B, n_encoded) and `noise` (B, n_encoded + n_random)
    standard normal. The last n_random dimensions carry no information from the
    encoder (mu = 0, logvar = 0), as in BIB-AE's 24 encoded + 488 pure latents.
    """

    def call(self, inputs):
        mu, logvar, noise = inputs
        n_encoded = mu.shape[-1]
        encoded = mu + ops.exp(0.5 * logvar) * noise[:, :n_encoded]
        return ops.concatenate([encoded, noise[:, n_encoded:]], axis=-1)

    def compute_output_shape(self, input_shapes):
        return input_shapes[2]
