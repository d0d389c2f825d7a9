"""Physics features a calorimeter discriminator computes from the images themselves."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="physgan")
class LayerEnergy(keras.layers.Layer):
    """Returns the energy of each shower in one layer image: (B, ...) -> (B, 1)."""

    def call(self, inputs):
        return ops.reshape(ops.sum(ops.reshape(inputs, (ops.shape(inputs)[0], -1)), axis=1), (-1, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package="physgan")
class TotalEnergy(keras.layers.Layer):
    """Returns the sum of the layer energies: (B, L) -> (B, 1)."""

    def call(self, inputs):
        return ops.sum(inputs, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package="physgan")
class Sparsity(keras.layers.Layer):
    """Returns the fraction of cells above `threshold` per shower: (B, ...) -> (B, 1).

    A hard count, as in CaloGAN: it carries no gradient to the generator, but the
    discriminator (and its minibatch features) see it. With `softness` s > 0, a
    cell of energy x counts x / (x + s) instead (about 1 for x >> s, 0 at 0), a
    count whose gradient tells the generator which faint cells to switch off.
    """

    def __init__(self, threshold: float = 0.0, softness: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if softness < 0:
            raise ValueError(f"softness must be >= 0, got {softness}")
        self.threshold = float(threshold)
        self.softness = float(softness)

    def call(self, inputs):
        if self.softness > 0:
            excess = ops.relu(inputs - self.threshold)
            hits = excess / (excess + self.softness)
        else:
            hits = ops.cast(inputs > self.threshold, inputs.dtype)
        return ops.mean(ops.reshape(hits, (ops.shape(inputs)[0], -1)), axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(threshold=self.threshold, softness=self.softness)
        return config


@keras.saving.register_keras_serializable(package="physgan")
class EnergyFeatures(keras.layers.Layer):
    """CaloGAN's energy features from `[layer_energies (B, L), incident_energy (B, 1)]` in GeV.

    Returns (B, L + 3): the layer energies / 10, the total / 100, the
    deviation |total - E| (the "energy well") and `flag_value` where that
    deviation exceeds `tolerance` GeV (CaloGAN: 10 and 5 GeV), else 0.
    """

    def __init__(self, tolerance: float = 5.0, flag_value: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.tolerance = float(tolerance)
        self.flag_value = float(flag_value)

    def call(self, inputs):
        layer_energies, incident_energy = inputs
        total = ops.sum(layer_energies, axis=1, keepdims=True)
        well = ops.abs(total - incident_energy)
        too_far = self.flag_value * ops.cast(well > self.tolerance, well.dtype)
        return ops.concatenate([layer_energies / 10.0, total / 100.0, well, too_far], axis=1)

    def compute_output_shape(self, input_shapes):
        layer_shape = input_shapes[0]
        return (layer_shape[0], layer_shape[1] + 3)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(tolerance=self.tolerance, flag_value=self.flag_value)
        return config


@keras.saving.register_keras_serializable(package="physgan")
class LogEnergyScale(keras.layers.Layer):
    """Returns (1 + log10(E / 1 GeV)) / 3 of energies in GeV (1 -> 1/3, 100 -> 1),
    energies below 10 MeV counted as 10 MeV."""

    def call(self, energy):
        return (1.0 + ops.log10(ops.maximum(energy, 0.01))) / 3.0

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="physgan")
class LogLayerFractions(keras.layers.Layer):
    """Returns log10 of each layer's share of the shower and of the incident energy:
    [layer energies (B, L), energy (B, 1)] -> (B, L + 1). Shares below `floor`
    count as `floor`, so empty layers stay finite."""

    def __init__(self, floor: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.floor = float(floor)

    def call(self, inputs):
        layer_energies, energy = inputs
        total = ops.maximum(ops.sum(layer_energies, axis=1, keepdims=True), self.floor)
        shares = ops.maximum(layer_energies / total, self.floor)
        return ops.concatenate([ops.log10(shares), ops.log10(ops.maximum(energy, self.floor))], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][1] + 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "floor": self.floor}


@keras.saving.register_keras_serializable(package="physgan")
class EnergyNormalisation(keras.layers.Layer):
    """Rescales layer images so that their total is r(z_0) x E.

    Inputs [image_0, ..., image_k, energy (B, 1), z (B, ...)], images in the unit
    of the energy. z_0, the first latent value (N(0, 1) by construction), draws
    each shower's response r, so generation stays a function of the latent input:
    - with `quantiles` (E_tot / E of the training data at probabilities evenly
      spaced from 0 to 1), r = the data's quantile at Phi(z_0), interpolated
      linearly: the response follows the data's shape, tails included;
    - without, r = max(`response` + `spread` z_0, 0), a Gaussian.
    Showers with (almost) no energy (sum < `floor`) are returned as they are.
    """

    def __init__(self, response: float = 1.0, spread: float = 0.0, quantiles: list[float] | None = None,
                 floor: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if response <= 0 or spread < 0:
            raise ValueError(f"energy response must be > 0 and its spread >= 0, got {response}, {spread}")
        if quantiles is not None:
            quantiles = [float(q) for q in quantiles]
            if len(quantiles) < 2 or min(quantiles) <= 0 or any(b < a for a, b in zip(quantiles, quantiles[1:])):
                raise ValueError("energy response quantiles must be >= 2 positive values in increasing order")
        self.response = float(response)
        self.spread = float(spread)
        self.quantiles = quantiles
        self.floor = float(floor)

    def _response(self, z0):
        if self.quantiles is None:
            return ops.maximum(self.response + self.spread * z0, 0.0)
        table = ops.convert_to_tensor(self.quantiles, dtype=z0.dtype)
        last = len(self.quantiles) - 1
        position = ops.clip(0.5 * (1.0 + ops.erf(z0 / math.sqrt(2.0))) * last, 0.0, float(last))
        below = ops.floor(position)
        index = ops.cast(below, "int32")
        above = ops.minimum(index + 1, last)
        weight = position - below
        return ops.take(table, index) * (1.0 - weight) + ops.take(table, above) * weight

    def call(self, inputs):
        *images, energy, z = inputs
        total = sum(ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=1) for x in images)
        wanted = self._response(z[:, 0]) * energy[:, 0]
        scale = ops.where(total > self.floor, wanted / ops.maximum(total, self.floor), 1.0)
        return [x * ops.reshape(scale, (-1,) + (1,) * (len(x.shape) - 1)) for x in images]

    def compute_output_shape(self, input_shape):
        return list(input_shape[:-2])

    def get_config(self) -> dict:
        return {**super().get_config(), "response": self.response, "spread": self.spread,
                "quantiles": self.quantiles, "floor": self.floor}
