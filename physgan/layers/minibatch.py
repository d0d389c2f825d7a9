"""Minibatch discrimination (Salimans et al. 2016) as CaloGAN used it."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="physgan")
class MinibatchDiscrimination(keras.layers.Layer):
    """Returns, per sample, how close it sits to the rest of its batch.

    The (B, D) input is projected by a learned tensor T (kernels x D x dims,
    plus a bias of kernels x dims, CaloGAN's `Dense3D`) to M (B, kernels,
    dims); feature k of sample i is tanh(sum_j exp(-||M_ik - M_jk||_1)), the
    sum running over the whole batch, i itself included. A batch of collapsed
    fakes scores high on every kernel, which the discriminator learns to spot.
    Output: (B, kernels).

    Args:
        kernels: number of minibatch kernels (CaloGAN: 10).
        kernel_dim: dimension of each kernel's space (CaloGAN: 10).
        activation: applied to the summed similarities (CaloGAN: tanh).
    """

    def __init__(
        self,
        kernels: int = 10,
        kernel_dim: int = 10,
        activation="tanh",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("kernels", kernels), ("kernel_dim", kernel_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.kernels = kernels
        self.kernel_dim = kernel_dim
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"MinibatchDiscrimination needs (batch, features) inputs, got {input_shape}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernels, input_shape[-1], self.kernel_dim),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(name="bias", shape=(self.kernels, self.kernel_dim), initializer="zeros")

    def call(self, inputs):
        projected = ops.einsum("bd,kdv->bkv", inputs, self.kernel) + self.bias  # (B, K, V)
        distances = ops.sum(ops.abs(projected[:, None] - projected[None, :]), axis=-1)  # (B, B, K)
        return self.activation(ops.sum(ops.exp(-distances), axis=1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.kernels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kernels=self.kernels,
            kernel_dim=self.kernel_dim,
            activation=keras.activations.serialize(self.activation),
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
