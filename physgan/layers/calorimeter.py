"""Physics features a calorimeter discriminator computes from the images themselves."""

from __future__ import annotations

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
    discriminator (and its minibatch features) see it.
    """

    def __init__(self, threshold: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.threshold = float(threshold)

    def call(self, inputs):
        hits = ops.cast(inputs > self.threshold, inputs.dtype)
        return ops.mean(ops.reshape(hits, (ops.shape(inputs)[0], -1)), axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(threshold=self.threshold)
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
class EnergyNormalisation(keras.layers.Layer):
    """Rescales layer images so their total is `response` x the incident energy.

    Inputs [image_0, ..., image_k, energy (B, 1)], images in the unit of the
    energy; returns the images multiplied by response * E / sum(all cells).
    `response` (the calorimeter's visible fraction, E_tot / E) is one trainable
    scalar, started at `initial_response`. Showers with (almost) no energy
    (sum < `floor`) are returned as they are.
    """

    def __init__(self, initial_response: float = 1.0, floor: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if initial_response <= 0:
            raise ValueError(f"initial_response must be > 0, got {initial_response}")
        self.initial_response = float(initial_response)
        self.floor = float(floor)

    def build(self, input_shape):
        self.response = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_response),
                                        name="response")

    def call(self, inputs):
        *images, energy = inputs
        total = sum(ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=1) for x in images)
        scale = ops.where(total > self.floor, self.response * energy[:, 0] / ops.maximum(total, self.floor), 1.0)
        return [x * ops.reshape(scale, (-1,) + (1,) * (len(x.shape) - 1)) for x in images]

    def compute_output_shape(self, input_shape):
        return list(input_shape[:-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "initial_response": self.initial_response, "floor": self.floor}
