"""ILD "Getting High" vanilla GAN: a 3D convolutional GAN of 30x30x30 photon showers.

Port of FLC-QU-hep/getting_high (@3547483) GAN/models/GAN.py and GAN/main_GAN.py
(arXiv:2005.05334, the "GAN" of the paper).

Generator: z ~ U[-1, 1]^100 times the incident energy E (raw GeV) -> ConvT3d 256
k4 (1 -> 4^3) -> ConvT3d 128, 64, 32 (k4 s2, "same" = PyTorch's padding 1;
BatchNorm, ReLU; 4 -> 8 -> 16 -> 32) -> ConvT3d 1 k3 cropped by 2 (PyTorch's
padding 2; 32 -> 30), ReLU. No biases.
Discriminator: Conv3d 32 k3 s2 pad 3 (30 -> 17), LeakyReLU 0.2; Conv3d 64, 128,
256 k3 s2 pad 1 (BatchNorm, LeakyReLU 0.2; 17 -> 9 -> 5 -> 3); Conv3d 128 k3 s2
(3 -> 1); its 128 features and E -> Dense 64 (LeakyReLU 0.2) -> Dense 1
sigmoid. Initialisation N(0, 0.02), BatchNorm scales N(1, 0.02).

Training: binary cross-entropy with hard labels; per step the discriminator
takes one Adam step on BCE(D(real), 1) + BCE(D(fake), 0), the generator one
on BCE(D(fake), 1); Adam 1e-5, betas (0.5, 0.999), batch 32, 5 epochs per run;
the fakes' energies are drawn U(10, 100) GeV (the training range).

Parameter counts (`python train.py --model ild_gan --summary`, trainable):
generator 4,392,224 and discriminator 2,056,097, as the original code builds them
(ARCHITECTURES.md: 4.39M / 2.06M). The repository README quotes 1.5M / 2.0M
and a 257 -> 128 head; the code has 129 -> 64 (128 features + E) and we follow
the code. tests/test_ild_models.py asserts the counts.

Departures, and why:
- The generator step draws fresh noise and energies; the original reused the
  discriminator step's fake showers (same distribution, one more forward).
- BatchNorm momentum 0.9 / epsilon 1e-5 are PyTorch's defaults written the
  Keras way.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from physgan.backend import image_data_format, no_gradient
from physgan.data.ild import SHOWER_SHAPE
from physgan.layers.conv import Conv3D, Conv3DTranspose
from physgan.layers.volume import CONV_INIT, SCALE_INIT, channel_axis, to_internal_3d
from physgan.registry import register_model
from physgan.training import DiscriminatorThenGenerator
from physgan.zoo.ild_common import ENERGY_RANGE, IldModel, upsample_to_shower, volumes_from_output


def _batch_norm(data_format: str, name: str):
    return layers.BatchNormalization(axis=channel_axis(data_format), momentum=0.9, epsilon=1e-5,
                                     gamma_initializer=SCALE_INIT, name=name)


def build_generator(latent_dim: int = 100, ngf: int = 32, data_format: str | None = None) -> keras.Model:
    """Returns the vanilla GAN generator: (z, E [GeV]) -> shower (30, 30, 30, 1) MeV."""
    data_format = data_format or image_data_format()
    z = keras.Input((latent_dim,), name="z")
    energy = keras.Input((1,), name="energy")
    x = layers.Multiply(name="z_times_energy")([z, energy])
    x = layers.Reshape((1, 1, 1, latent_dim), name="as_volume")(x)
    x = to_internal_3d(x, data_format, "to_internal_layout")
    conv = dict(use_bias=False, kernel_initializer=CONV_INIT, data_format=data_format)
    x = Conv3DTranspose(ngf * 8, 4, padding="valid", name="deconv_4", **conv)(x)
    x = upsample_to_shower(x, ngf, _batch_norm, data_format)
    return keras.Model([z, energy], x, name="generator")


def build_discriminator(ndf: int = 32, data_format: str | None = None) -> keras.Model:
    """Returns the vanilla GAN discriminator: (shower [MeV], E [GeV]) -> P(real)."""
    data_format = data_format or image_data_format()
    shower = keras.Input((*SHOWER_SHAPE, 1), name="shower")
    energy = keras.Input((1,), name="energy")
    x = to_internal_3d(shower, data_format, "to_internal_layout")
    conv = dict(use_bias=False, kernel_initializer=CONV_INIT, data_format=data_format)
    x = layers.ZeroPadding3D(3, data_format=data_format, name="pad_1")(x)
    x = Conv3D(ndf, 3, strides=2, name="conv_1", **conv)(x)
    x = layers.LeakyReLU(0.2, name="lrelu_1")(x)
    for i, filters in enumerate((ndf * 2, ndf * 4, ndf * 8), start=2):
        x = layers.ZeroPadding3D(1, data_format=data_format, name=f"pad_{i}")(x)
        x = Conv3D(filters, 3, strides=2, name=f"conv_{i}", **conv)(x)
        x = _batch_norm(data_format, f"bn_{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
    x = Conv3D(ndf * 4, 3, strides=2, name="conv_5", **conv)(x)
    x = layers.Flatten(name="features")(x)  # (B, ndf * 4): spatial size 1, same in both layouts
    x = layers.Concatenate(name="with_energy")([x, energy])
    dense = dict(kernel_initializer=CONV_INIT, bias_initializer="zeros")
    x = layers.Dense(ndf * 2, name="dense_64", **dense)(x)
    x = layers.LeakyReLU(0.2, name="lrelu_dense")(x)
    p = layers.Dense(1, activation="sigmoid", name="real", **dense)(x)
    return keras.Model([shower, energy], p, name="discriminator")


@register_model(
    "ild_gan",
    "ILD Getting High vanilla 3D GAN (30x30x30 photon showers)",
)
@keras.saving.register_keras_serializable(package="physgan")
class IldGAN(DiscriminatorThenGenerator, IldModel):
    """The vanilla GAN of arXiv:2005.05334 (batches: `energy` (B,1) GeV, `layers` (B,30,30,30,1) MeV)."""

    metric_names = ("discriminator_loss", "discriminator_real", "discriminator_fake", "generator_loss")
    default_batch_size = 32
    default_epochs = 5

    def __init__(
        self,
        latent_dim: int = 100,
        ngf: int = 32,
        ndf: int = 32,
        learning_rate: float = 1e-5,
        adam_beta_1: float = 0.5,
        energy_range: tuple[float, float] = ENERGY_RANGE,
        mip_threshold: float = 0.1,
        seed: int | None = None,
        **kwargs,
    ):
        options = dict(latent_dim=int(latent_dim), ngf=int(ngf), ndf=int(ndf), learning_rate=float(learning_rate),
                       adam_beta_1=float(adam_beta_1), energy_range=energy_range,
                       mip_threshold=float(mip_threshold), seed=seed)
        super().__init__(options, **kwargs)
        self.latent_dim = options["latent_dim"]
        with keras.name_scope("generator"):
            self.generator = build_generator(self.latent_dim, options["ngf"])
        with keras.name_scope("discriminator"):
            self.discriminator = build_discriminator(options["ndf"])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        options = self._options
        return {name: keras.optimizers.Adam(options["learning_rate"], beta_1=options["adam_beta_1"], beta_2=0.999,
                                            epsilon=1e-8)
                for name in ("generator", "discriminator")}

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def _fake_inputs(self, batch_size):
        z = keras.random.uniform((batch_size, self.latent_dim), -1.0, 1.0, seed=self.seed_generator)
        low, high = self.energy_range
        energy = keras.random.uniform((batch_size, 1), low, high, seed=self.seed_generator)
        return z, energy

    def discriminator_loss(self, batch):
        real, real_energy = batch["layers"], batch["energy"]
        z, fake_energy = self._fake_inputs(ops.shape(real)[0])
        with no_gradient():
            fake = ops.stop_gradient(self.generator([z, fake_energy], training=True))
        p_real = self.discriminator([real, real_energy], training=True)
        p_fake = self.discriminator([fake, fake_energy], training=True)
        real_loss = ops.mean(keras.losses.binary_crossentropy(ops.ones_like(p_real), p_real))
        fake_loss = ops.mean(keras.losses.binary_crossentropy(ops.zeros_like(p_fake), p_fake))
        loss = real_loss + fake_loss
        return loss, {"discriminator_loss": loss, "discriminator_real": ops.mean(p_real),
                      "discriminator_fake": ops.mean(p_fake)}

    def generator_loss(self, batch):
        z, energy = self._fake_inputs(ops.shape(batch["energy"])[0])
        p_fake = self.discriminator([self.generator([z, energy], training=True), energy], training=True)
        loss = ops.mean(keras.losses.binary_crossentropy(ops.ones_like(p_fake), p_fake))
        return loss, {"generator_loss": loss}

    def generate_volumes(self, energies, rng):
        z = rng.uniform(-1.0, 1.0, size=(len(energies), self.latent_dim)).astype("float32")
        return volumes_from_output(self.predict_in_batches(self.generator, [z, energies], batch_size=256))
