"""CaloGAN: a LAGAN-style GAN of electromagnetic showers in a 3-layer calorimeter.

Port of hep-lbdl/CaloGAN at 5ea4f50 (the paper version, arXiv:1705.02355).
Showers are three images in GeV: layer 0 (3 x 96), layer 1 (12 x 12),
layer 2 (12 x 6); the incident energy E is in GeV (1-100).

Generator: z ~ N(0, 1) of 1024, h = z * E / 100 (ACGAN: z * Embedding(class)
first). One stream per layer (r x c): Dense -> ((r+2) x (c+2) x 36), Conv2D 16 2x2
same (he_uniform), LeakyReLU(0.3), BatchNorm, LocallyConnected2D 6 2x2
(he_uniform), LeakyReLU, LocallyConnected2D 1 2x2 without bias (glorot_normal).
In-painting: layer 0 -> UpSampling(4, 1) -> AvgPool(1, 8) gates layer 1, layer 1
-> AvgPool(1, 2) gates layer 2 (a 3x3 LocallyConnected2D softmax gate whose
carried channel starts at bias -10); ReLU on the outputs.

Discriminator per layer: Conv2D 64 2x2 same, LeakyReLU; pad 1, LC2D 16 3x3 stride
(1, 2); pad 1, LC2D 8 2x2; pad 1, LC2D 8 2x2 stride (1, 2) (each LeakyReLU + BN);
flatten; minibatch discrimination of the features, the sparsity and its
minibatch discrimination. Then the layer energies / 10, total / 100,
|total - E|, 10 * [|total - E| > 5 GeV] and the energies' minibatch
discrimination. Heads: sigmoid real/fake; the "energy head" is the total
deposited energy itself (no weights), trained with the absolute error against
E (real: true E, fake: the requested E), so it only shapes the generator.

Training (the original's schedule): the discriminator takes one Adam step on a
real batch and one on a fake batch (separate, so BatchNorm and minibatch
statistics never mix them); the generator then takes two steps on fresh
batches. Labels are hard 1/0. Loss weights: real/fake BCE 1, energy MAE 0.05,
ACGAN class 0.2, with the fake batch's class targets bit-flipped with p = 0.3.
Adam(beta_1 0.5, epsilon 1e-8): discriminator 2e-5, generator 2e-4; batch 256;
50 epochs. Fakes use E ~ U(1, 100) GeV. The generator makes the discriminator's
fakes in inference mode (the original called `generator.predict`).

Parameter counts (paper version, latent 1024; `python train.py --model calogan
--summary`): generator 29,726,376 (the original, computed from its code:
29.73M, of which the three Dense layers 18,081,000 / 7,232,400 / 4,132,800 and
the gates 5,472 and 2,736), discriminator 2,744,524 (original 2.74M). Keras
2's weight layouts are kept (LocallyConnected2D, Dense3D as the minibatch
kernel), so the counts are the same layer by layer; tests/test_calogan.py
asserts them.

Departures, and why:
- ACGAN with more than two particles: the original's class head is one sigmoid
  unit trained with sparse categorical cross-entropy, which cannot represent 3+
  classes (a bug). We use a softmax over the classes for 3+ particles (the
  paper's intent) and keep the original sigmoid head for exactly two.
- `variant="conv"` replaces every LocallyConnected2D by a Conv2D of the same
  kernel, stride and filters (the lighter model of later CaloGAN branches, minus
  their other changes); `attention=False` is the original `--no-attn`.
- `energy_normalisation=True` (off by default, issue #19) rescales the
  generator's three layers so that their sum is r(z_0) x E, z_0 the first
  latent value. With `energy_quantiles` (E_tot / E of the training data at 65
  evenly spaced probabilities, which train.py takes from the data), r is the
  data's quantile at Phi(z_0), so the response has the Geant4 shape (e+ median
  0.9968, 1 % below 0.992, none above 1); with only `energy_response` (mean,
  spread) it is the Gaussian r + s z_0. The paper's generator learns the total
  only through the 0.05-weighted energy MAE and the discriminator's energy
  features; after 64 epochs on the shared e+ showers its E_tot/E on held-out
  events has median 1.012 but a spread of 0.46 (1.36 at 1-10 GeV), which no
  physicist accepts. Normalised, the total follows the data by construction and
  the adversarial game is left with the shapes and the sharing between layers.
- `fraction_features=True` (off by default, issue #19) gives the discriminator
  log10 of each layer's share of the shower and log10 E through a Dense 32 ->
  Dense 16 LeakyReLU MLP (608 parameters). The paper's discriminator sees the
  layer energies only linearly (and through minibatch features), so it cannot
  tell the share of the 0.1-0.3 % that reaches layer 2 from its dependence on E:
  an energy-normalised e+ model after 42 epochs put 2.2 % of 1-10 GeV showers
  and 0.03 % of 60-100 GeV showers into layer 2, where Geant4 puts 0.02 % and
  0.16 % (held-out separation power of the layer-2 share 0.37).
- `energy_scale="log"` (default "linear", the paper's z x E / 100; issue #19)
  multiplies the latent by (1 + log10 E) / 3 instead (1 GeV -> 1/3, 100 GeV ->
  1). With energy normalisation the absolute scale comes from the data's
  response, and under z x E / 100 a 1 GeV shower's latent is 100 times smaller
  than a 100 GeV one's, so the generator's biases decide its shape: the
  quantile-normalised e+ model lit 38 layer-2 cells per 1-10 GeV shower where
  Geant4 lights 2 (layer-2 share 1.6 % vs 0.02 %). Experimental.
- `sparsity_softness=s` (GeV; default 0, the paper's hard count) makes the
  discriminator's sparsity features a soft count, each cell x counting
  x / (x + s). The paper's fraction of cells > 0 has no gradient, so the
  discriminator can see that a 1-10 GeV shower lights 38 layer-2 cells instead
  of 2, but the generator is never told which cells to switch off; with s =
  1e-4 (0.1 MeV) a 1 MeV cell counts 0.9 and a faint one passes its gradient.
  Measured (e+, 13 epochs from a log-scale model, 1,000 training events as
  validation): the layer-2 share's separation power was 0.10-0.16, no better
  than the plain log-scale run's (0.40 at its epoch 15, 0.11 at epoch 26: GAN
  metrics swing between epochs), and the generator lit nearly every layer-0
  cell with deposits below s, which the soft count hardly sees (separation
  power of the layer-0 hit count 1.00): not recommended at this s; kept to try
  smaller ones (issue #19).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from physgan.layers import (
    EnergyFeatures,
    EnergyNormalisation,
    InpaintingGate,
    LayerEnergy,
    LogEnergyScale,
    LogLayerFractions,
    LocallyConnected2D,
    MinibatchDiscrimination,
    Sparsity,
    TotalEnergy,
)
from physgan.precision import build_in_policy
from physgan.registry import register_model
from physgan.training import GenerativeModel, Update

LAYER_SHAPES = ((3, 96), (12, 12), (12, 6))
ENERGY_RANGE = (1.0, 100.0)


def _local(variant: str, filters, kernel_size, name, strides=(1, 1), **kwargs):
    """Returns a LocallyConnected2D, or a Conv2D of the same geometry."""
    if variant == "conv":
        return layers.Conv2D(filters, kernel_size, strides=strides, padding="valid", name=name, **kwargs)
    return LocallyConnected2D(filters, kernel_size, strides=strides, padding="valid", name=name, **kwargs)


def _generator_stream(h, rows: int, cols: int, variant: str, name: str):
    x = layers.Dense((rows + 2) * (cols + 2) * 36, name=f"{name}_dense")(h)
    x = layers.Reshape((rows + 2, cols + 2, 36), name=f"{name}_reshape")(x)
    x = layers.Conv2D(16, 2, padding="same", kernel_initializer="he_uniform", name=f"{name}_conv")(x)
    x = layers.LeakyReLU(0.3, name=f"{name}_lrelu_1")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = _local(variant, 6, 2, f"{name}_local_1", kernel_initializer="he_uniform")(x)
    x = layers.LeakyReLU(0.3, name=f"{name}_lrelu_2")(x)
    return _local(variant, 1, 2, f"{name}_local_2", use_bias=False, kernel_initializer="glorot_normal")(x)


def build_generator(latent_size: int, n_classes: int, attention: bool, variant: str,
                    energy_normalisation: dict | None = None, energy_scale: str = "linear") -> keras.Model:
    """Returns the CaloGAN generator: (z, E [GeV], class) -> three layers in GeV;
    with `energy_normalisation` (EnergyNormalisation's options), energy-normalised."""
    z = keras.Input((latent_size,), name="z")
    energy = keras.Input((1,), name="energy")
    inputs = [z, energy]
    h = z
    if n_classes > 1:
        particle = keras.Input((1,), dtype="int32", name="particle")
        inputs.append(particle)
        embedding = layers.Embedding(n_classes, latent_size, embeddings_initializer="glorot_normal",
                                     name="class_embedding")(particle)
        h = layers.Multiply(name="z_times_class")([h, layers.Flatten(name="class_flat")(embedding)])
    if energy_scale == "log":
        scaled_energy = LogEnergyScale(name="log_energy_scale")(energy)
    else:
        scaled_energy = layers.Rescaling(1.0 / 100.0, name="energy_over_100")(energy)
    h = layers.Multiply(name="z_times_energy")([h, scaled_energy])
    images = [_generator_stream(h, r, c, variant, f"layer_{i}") for i, (r, c) in enumerate(LAYER_SHAPES)]
    if attention:
        carried = layers.UpSampling2D((4, 1), name="zero_to_one_up")(images[0])
        carried = layers.AveragePooling2D((1, 8), name="zero_to_one_pool")(carried)
        images[1] = InpaintingGate(name="inpaint_1")([images[1], carried])
        carried = layers.AveragePooling2D((1, 2), name="one_to_two_pool")(images[1])
        images[2] = InpaintingGate(name="inpaint_2")([images[2], carried])
    outputs = [layers.ReLU(name=f"layer_{i}")(img) for i, img in enumerate(images)]
    if energy_normalisation is not None:
        outputs = EnergyNormalisation(**energy_normalisation, name="energy_normalisation")([*outputs, energy, z])
    return keras.Model(inputs, outputs, name="generator")


def _layer_features(image, variant: str, name: str, sparsity_softness: float = 0.0):
    x = layers.Conv2D(64, 2, padding="same", name=f"{name}_conv")(image)
    x = layers.LeakyReLU(0.3, name=f"{name}_lrelu_0")(x)
    for i, (filters, kernel, strides) in enumerate(((16, 3, (1, 2)), (8, 2, (1, 1)), (8, 2, (1, 2)))):
        x = layers.ZeroPadding2D(1, name=f"{name}_pad_{i + 1}")(x)
        x = _local(variant, filters, kernel, f"{name}_local_{i + 1}", strides=strides)(x)
        x = layers.LeakyReLU(0.3, name=f"{name}_lrelu_{i + 1}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn_{i + 1}")(x)
    x = layers.Flatten(name=f"{name}_flat")(x)
    sparsity = Sparsity(softness=sparsity_softness, name=f"{name}_sparsity")(image)
    return [
        x,
        MinibatchDiscrimination(10, 10, name=f"{name}_mbd")(x),
        sparsity,
        MinibatchDiscrimination(10, 10, name=f"{name}_sparsity_mbd")(sparsity),
    ]


def build_discriminator(n_classes: int, variant: str, fraction_features: bool = False,
                        sparsity_softness: float = 0.0) -> keras.Model:
    """Returns the CaloGAN discriminator: (three layers [GeV], E [GeV]) -> heads; with
    `fraction_features`, it also sees the log layer shares and log E through a small MLP;
    `sparsity_softness` > 0 (GeV) makes its sparsity features a soft, differentiable count."""
    images = [keras.Input((r, c, 1), name=f"layer_{i}") for i, (r, c) in enumerate(LAYER_SHAPES)]
    energy = keras.Input((1,), name="energy")
    features = []
    for i, image in enumerate(images):
        features += _layer_features(image, variant, f"layer_{i}", sparsity_softness)
    layer_energies = layers.Concatenate(name="layer_energies")(
        [LayerEnergy(name=f"energy_{i}")(image) for i, image in enumerate(images)]
    )
    total = TotalEnergy(name="total_energy")(layer_energies)
    energy_features = [
        EnergyFeatures(tolerance=5.0, flag_value=10.0, name="energy_features")([layer_energies, energy]),
        MinibatchDiscrimination(10, 10, name="energy_mbd")(layer_energies),
    ]
    if fraction_features:
        shares = LogLayerFractions(name="log_layer_shares")([layer_energies, energy])
        shares = layers.LeakyReLU(0.2)(layers.Dense(32, name="shares_dense_0")(shares))
        energy_features.append(layers.LeakyReLU(0.2)(layers.Dense(16, name="shares_dense_1")(shares)))
    p = layers.Concatenate(name="features")(features + energy_features)
    outputs = {"real": layers.Dense(1, activation="sigmoid", name="real")(p), "total_energy": total}
    if n_classes == 2:
        outputs["particle"] = layers.Dense(1, activation="sigmoid", name="particle")(p)
    elif n_classes > 2:
        outputs["particle"] = layers.Dense(n_classes, activation="softmax", name="particle")(p)
    return keras.Model(images + [energy], outputs, name="discriminator")


@register_model(
    "calogan",
    "CaloGAN (LAGAN 3-stream generator with in-painting; ACGAN for several particles)",
)
@keras.saving.register_keras_serializable(package="physgan")
class CaloGAN(GenerativeModel):
    """The CaloGAN of arXiv:1705.02355.

    Batches are dicts: `energy` (B, 1) GeV, `layer_0` (B, 3, 96, 1),
    `layer_1` (B, 12, 12, 1), `layer_2` (B, 12, 6, 1) in GeV, and with several
    particles `particle` (B, 1) int class indices.
    """

    dataset = "calogan"

    metric_names = (
        "discriminator_real_loss",
        "discriminator_fake_loss",
        "generator_loss",
        "generator_energy_error",
    )
    default_batch_size = 256
    default_epochs = 50

    def __init__(
        self,
        latent_size: int = 1024,
        particles: tuple[str, ...] = ("eplus",),
        attention: bool = True,
        variant: str = "lc2d",
        discriminator_lr: float = 2e-5,
        generator_lr: float = 2e-4,
        adam_beta_1: float = 0.5,
        energy_weight: float = 0.05,
        class_weight: float = 0.2,
        label_flip_probability: float = 0.3,
        energy_range: tuple[float, float] = ENERGY_RANGE,
        energy_normalisation: bool = False,
        energy_response: tuple[float, float] = (1.0, 0.0),
        energy_quantiles: list[float] | None = None,
        fraction_features: bool = False,
        energy_scale: str = "linear",
        sparsity_softness: float = 0.0,
        seed: int | None = None,
        generator_quantization: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if variant not in ("lc2d", "conv"):
            raise ValueError(f"variant must be 'lc2d' or 'conv', got {variant!r}")
        if not particles:
            raise ValueError("particles must name at least one particle")
        self.latent_size = int(latent_size)
        self.particles = tuple(particles)
        self.attention = bool(attention)
        self.variant = variant
        self.discriminator_lr = float(discriminator_lr)
        self.generator_lr = float(generator_lr)
        self.adam_beta_1 = float(adam_beta_1)
        self.energy_weight = float(energy_weight)
        self.class_weight = float(class_weight)
        self.label_flip_probability = float(label_flip_probability)
        self.energy_range = (float(energy_range[0]), float(energy_range[1]))
        self.energy_normalisation = bool(energy_normalisation)
        self.energy_response = (float(energy_response[0]), float(energy_response[1]))
        self.energy_quantiles = None if energy_quantiles is None else [float(q) for q in energy_quantiles]
        self.fraction_features = bool(fraction_features)
        if energy_scale not in ("linear", "log"):
            raise ValueError(f"energy_scale must be 'linear' (the paper's z x E / 100) or 'log', not {energy_scale!r}")
        self.energy_scale = energy_scale
        if sparsity_softness < 0:
            raise ValueError(f"sparsity_softness must be >= 0 GeV (0: the paper's hard count), not {sparsity_softness}")
        self.sparsity_softness = float(sparsity_softness)
        normalisation = None
        if self.energy_normalisation:
            response, spread = self.energy_response
            normalisation = {"response": response, "spread": spread, "quantiles": self.energy_quantiles}
        self.seed = seed
        n_classes = len(self.particles)
        self._generator_arguments = (self.latent_size, n_classes, self.attention, variant, normalisation,
                                     self.energy_scale)
        with keras.name_scope("generator"):
            self.generator = build_generator(*self._generator_arguments)
        with keras.name_scope("discriminator"):
            self.discriminator = build_discriminator(n_classes, variant, self.fraction_features,
                                                     self.sparsity_softness)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.generator_quantization = None
        if generator_quantization is not None:
            self.quantize_generator(generator_quantization)
        self.built = True

    def quantize_generator(self, mode: str = "int8") -> None:
        """Quantizes the generator's Dense layers (99% of its weights) in place.

        For generation only: `Model.quantize("int8")` stores int8 kernels with
        per-channel scales, a quarter of the memory, and JAX runs them about
        twice as fast on CPU (benchmarks/generation.py measures this and the
        fidelity cost). The mode is saved in the config, so `.keras` files of
        quantized models reload as such on every backend.
        """
        if self.generator_quantization is not None:
            raise ValueError(f"the generator is already quantized ({self.generator_quantization})")
        if mode not in ("int8", "float8"):
            raise ValueError(f"generator quantization must be 'int8' or 'float8', got {mode!r}")
        dense = lambda layer: isinstance(layer, layers.Dense)  # noqa: E731
        self.generator.quantize(mode, filters=dense)
        self.generator_quantization = mode

    def generation_network(self) -> keras.Model:
        """Returns the generator that generation runs.

        That is `self.generator`, except for an int8 generator on TensorFlow
        and torch: their CPU kernels multiply int8 by int8 slower than float32
        (Keras' int32 product; CaloGAN at batch 1024: TensorFlow 789 vs 3,603
        showers/s, torch 219 vs 2,537), so there it is a float32 copy, made on
        first use, holding the same int8-rounded kernels (kernel / scale):
        int8 weights, float activations. JAX keeps the int8 product, which it
        runs faster than float32.
        """
        if self.generator_quantization != "int8" or keras.backend.backend() == "jax":
            return self.generator
        if self.__dict__.get("_float_generator") is None:
            with keras.name_scope("generator_float"):  # computing as the model does
                copy = build_in_policy(lambda: build_generator(*self._generator_arguments), self.dtype_policy)
            for source, target in zip(self.generator.layers, copy.layers):
                if getattr(source, "quantization_mode", None) == "int8":
                    kernel = ops.divide(ops.cast(source._kernel, "float32"), source.kernel_scale)
                    bias = [ops.convert_to_numpy(source.bias)] if source.use_bias else []
                    target.set_weights([ops.convert_to_numpy(kernel), *bias])
                else:
                    target.set_weights(source.get_weights())
            self.__dict__["_float_generator"] = copy  # not tracked: neither saved nor counted
        return self.__dict__["_float_generator"]

    @property
    def n_classes(self) -> int:
        return len(self.particles)

    # --- engine hooks ----------------------------------------------------------------

    @property
    def required_inputs(self) -> tuple[str, ...]:
        keys = ("energy", "layer_0", "layer_1", "layer_2")
        return keys + ("particle",) if self.n_classes > 1 else keys

    def networks(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def update_schedule(self) -> list[Update]:
        return [
            Update("discriminator", "discriminator_real_loss"),
            Update("discriminator", "discriminator_fake_loss"),
            Update("generator", "generator_loss", repeats=2),
        ]

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        def adam(lr):
            return keras.optimizers.Adam(lr, beta_1=self.adam_beta_1, epsilon=1e-8)

        return {"generator": adam(self.generator_lr), "discriminator": adam(self.discriminator_lr)}

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # --- losses ------------------------------------------------------------------------

    def _fake_conditions(self, batch_size):
        low, high = self.energy_range
        energy = keras.random.uniform((batch_size, 1), low, high, seed=self.seed_generator)
        z = keras.random.normal((batch_size, self.latent_size), seed=self.seed_generator)
        inputs = [z, energy]
        labels = None
        if self.n_classes > 1:
            draw = keras.random.uniform((batch_size, 1), 0.0, float(self.n_classes), seed=self.seed_generator)
            labels = ops.minimum(ops.cast(ops.floor(draw), "int32"), self.n_classes - 1)
            inputs.append(labels)
        return inputs, energy, labels

    def _heads(self, images, energy, training=True):
        return self.discriminator([*images, energy], training=training)

    def _class_loss(self, outputs, labels):
        if self.n_classes == 2:
            return ops.mean(keras.losses.binary_crossentropy(ops.cast(labels, "float32"), outputs["particle"]))
        return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, outputs["particle"]))

    def _discriminator_loss(self, images, energy, target, labels):
        outputs = self._heads(images, energy)
        real_fake = ops.mean(keras.losses.binary_crossentropy(ops.full_like(outputs["real"], target), outputs["real"]))
        energy_error = ops.mean(ops.abs(outputs["total_energy"] - energy))
        loss = real_fake + self.energy_weight * energy_error
        if self.n_classes > 1:
            loss = loss + self.class_weight * self._class_loss(outputs, labels)
        return loss

    def discriminator_real_loss(self, batch):
        images = [batch["layer_0"], batch["layer_1"], batch["layer_2"]]
        labels = batch.get("particle") if self.n_classes > 1 else None
        loss = self._discriminator_loss(images, batch["energy"], 1.0, labels)
        return loss, {"discriminator_real_loss": loss}

    def discriminator_fake_loss(self, batch):
        inputs, energy, labels = self._fake_conditions(ops.shape(batch["energy"])[0])
        images = [ops.stop_gradient(x) for x in self.generator(inputs, training=False)]
        if labels is not None:
            flip = keras.random.uniform(ops.shape(labels), seed=self.seed_generator) < self.label_flip_probability
            if self.n_classes == 2:
                labels = ops.where(flip, 1 - labels, labels)
            else:
                shifted = labels + 1 + ops.cast(
                    keras.random.uniform(ops.shape(labels), 0.0, self.n_classes - 1.0, seed=self.seed_generator),
                    "int32")
                labels = ops.where(flip, shifted % self.n_classes, labels)
        loss = self._discriminator_loss(images, energy, 0.0, labels)
        return loss, {"discriminator_fake_loss": loss}

    def generator_loss(self, batch):
        inputs, energy, labels = self._fake_conditions(ops.shape(batch["energy"])[0])
        images = self.generator(inputs, training=True)
        outputs = self._heads(images, energy)
        fool = ops.mean(keras.losses.binary_crossentropy(ops.ones_like(outputs["real"]), outputs["real"]))
        energy_error = ops.mean(ops.abs(outputs["total_energy"] - energy))
        loss = fool + self.energy_weight * energy_error
        if self.n_classes > 1:
            loss = loss + self.class_weight * self._class_loss(outputs, labels)
        return loss, {"generator_loss": loss, "generator_energy_error": energy_error}

    # --- generation --------------------------------------------------------------------

    def particle_index(self, particle) -> int:
        """Returns the class index of `particle` (a name or an index)."""
        if isinstance(particle, str):
            if particle not in self.particles:
                raise ValueError(f"unknown particle {particle!r}; this model knows {', '.join(self.particles)}")
            return self.particles.index(particle)
        index = int(particle)
        if not 0 <= index < self.n_classes:
            raise ValueError(f"particle index {index} out of range for {self.n_classes} particles")
        return index

    def generate_cells(self, energies: np.ndarray, particle=None, seed=None, batch_size: int = 4096):
        """Returns the three layers in MeV, (n, r, c) each, for incident `energies` [GeV]."""
        energies = np.asarray(energies, dtype="float32").reshape(-1, 1)
        n = len(energies)
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.latent_size)).astype("float32")
        inputs = [z, energies]
        if self.n_classes > 1:
            index = 0 if particle is None else self.particle_index(particle)
            inputs.append(np.full((n, 1), index, dtype="int32"))
        layers = self.predict_in_batches(self.generation_network(), inputs, batch_size=batch_size)
        return tuple(layer[..., 0] * 1000.0 for layer in layers)

    def sample(self, n: int, condition=None, seed: int | None = None, particle=None, batch_size: int = 4096):
        """Returns `n` showers as `CaloShowers` (cells in MeV, energies in GeV).

        Args:
            condition: incident energies in GeV (scalar or (n,)); None draws
                them uniformly over `energy_range`.
            seed: makes the draw reproducible (the same on every backend).
            particle: name or index of the particle (ACGAN models).
            batch_size: showers per generator call.
        """
        from physgan.data.calogan import CaloShowers

        rng = np.random.default_rng(seed)
        if condition is None:
            energies = rng.uniform(*self.energy_range, size=n)
        else:
            energies = np.broadcast_to(np.asarray(condition, dtype="float64"), (n,))
        cells = self.generate_cells(energies, particle=particle, seed=None if seed is None else seed + 1,
                                    batch_size=batch_size)
        return CaloShowers(incident_energy=energies.astype("float32"), layers=cells, overflow=None)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "latent_size": self.latent_size,
            "particles": list(self.particles),
            "attention": self.attention,
            "variant": self.variant,
            "discriminator_lr": self.discriminator_lr,
            "generator_lr": self.generator_lr,
            "adam_beta_1": self.adam_beta_1,
            "energy_weight": self.energy_weight,
            "class_weight": self.class_weight,
            "label_flip_probability": self.label_flip_probability,
            "energy_range": list(self.energy_range),
            "energy_normalisation": self.energy_normalisation,
            "energy_response": list(self.energy_response),
            "energy_quantiles": self.energy_quantiles,
            "fraction_features": self.fraction_features,
            "energy_scale": self.energy_scale,
            "sparsity_softness": self.sparsity_softness,
            "seed": self.seed,
            "generator_quantization": self.generator_quantization,
        }
