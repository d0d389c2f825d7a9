"""Spectral-normalised Dense layer, with the power iteration kept in non-trainable variables.

`keras.layers.SpectralNormalization` broke torch autograd inside a training step (see
DESIGN.md); this small layer runs the same on TensorFlow, JAX and torch.
"""

from __future__ import annotations

import keras
from keras import ops


def _normalise(x, eps: float = 1e-12):
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), eps)


def _power_method(kernel, u, steps: int):
    """Returns the singular vectors (u, v) of the largest singular value of `kernel`
    (fan_in, units) after `steps` power steps from `u`, without gradients."""
    kernel = ops.stop_gradient(kernel)
    for _ in range(steps):
        v = _normalise(ops.matmul(kernel, u))
        u = _normalise(ops.matmul(v, kernel))
    return ops.stop_gradient(u), ops.stop_gradient(v)


@keras.saving.register_keras_serializable(package="physgan")
class SpectralNormDense(keras.layers.Dense):
    """Dense layer whose kernel is divided by max(1, sigma / coeff).

    sigma, the largest singular value of the kernel, is estimated by
    `power_iterations` steps of the power method, run in training mode only
    (after 15 at build) and kept in the non-trainable vectors `u`, `v` (as
    torch's spectral_norm).
    `coeff=1` with hard normalisation is Miyato et al.'s spectral norm; a
    `coeff` < 1 bounds the layer's Lipschitz constant (the "soft" spectral norm
    of invertible residual networks, as in CorrVAE's property maps).

    Args:
        units: output size, as `keras.layers.Dense`.
        coeff: the Lipschitz bound; the kernel is rescaled only when sigma > coeff.
        power_iterations: power-method steps per training call.
        **kwargs: the other `keras.layers.Dense` arguments.
    """

    def __init__(self, units: int, coeff: float = 1.0, power_iterations: int = 1, **kwargs):
        super().__init__(units, **kwargs)
        if coeff <= 0:
            raise ValueError(f"coeff must be > 0, got {coeff}")
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        self.coeff = float(coeff)
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        super().build(input_shape)
        fan_in = int(input_shape[-1])
        normal = keras.initializers.RandomNormal(stddev=1.0)
        self.u = self.add_weight(shape=(self.units,), initializer=normal, trainable=False, name="u")
        self.v = self.add_weight(shape=(fan_in,), initializer=normal, trainable=False, name="v")
        # Converge the estimate on the initial kernel (15 steps, as torch's parametrized
        # spectral_norm), so the Lipschitz bound holds before the first training step.
        u, v = _power_method(ops.convert_to_tensor(self.kernel), _normalise(self.u), 15)
        self.u.assign(u)
        self.v.assign(v)

    def normalised_kernel(self, training=False):
        """Returns the kernel divided by max(1, sigma / coeff)."""
        kernel = self.kernel
        u, v = self.u, self.v
        if training:
            u, v = _power_method(kernel, u, self.power_iterations)
            self.u.assign(u)
            self.v.assign(v)
        sigma = ops.sum(u * ops.matmul(v, kernel))
        return kernel / ops.maximum(1.0, sigma / self.coeff)

    def call(self, inputs, training=False):
        x = ops.matmul(inputs, self.normalised_kernel(training))
        if self.use_bias:
            x = x + self.bias
        return self.activation(x) if self.activation is not None else x

    # Dense saves only its kernel and bias; save every variable (u, v too).
    def save_own_variables(self, store):
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)

    def get_config(self) -> dict:
        return {**super().get_config(), "coeff": self.coeff, "power_iterations": self.power_iterations}
