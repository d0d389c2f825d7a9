"""ILD "Getting High" WGAN-GP with an energy constrainer, for 30x30x30 photon showers.

Port of FLC-QU-hep/getting_high (@3547483) WGAN/wGAN.py, WGAN/models/dcgan3D.py
and WGAN/models/constrainer3D.py (arXiv:2005.05334, the "WGAN" of the paper).

Generator: z ~ U[-1, 1]^100 and E (raw GeV) each through ConvT3d 128 k4
(1 -> 4^3), concatenated (256 channels) -> ConvT3d 128, 64, 32 (k4 s2, "same" =
PyTorch's padding 1; LayerNorm over the spatial axes, ReLU; 4 -> 8 -> 16 -> 32)
-> ConvT3d 1 k3 cropped by 2 (32 -> 30), ReLU. No biases.
Critic: Conv3d 32 k(10,2,2) s(1,2,2) pad (0,1,1) -> 21x16x16; Conv3d 64 k(6,2,2)
s(1,2,2) -> 16x8x8; Conv3d 128 k(4,2,2) s(1,2,2) -> 13x4x4 (each LayerNorm over
the spatial axes + LeakyReLU 0.2); Conv3d 1 k(4,2,2) -> 10x3x3; flatten 90 + E
-> Dense 100, 200, 100, 75 (LeakyReLU 0.2) -> 1.
Energy constrainer: Conv3d 16 k3 s2 (-> 14^3, LN, LReLU), 32 k3 s2 (-> 6^3, LN,
LReLU), 16 k2 (-> 5^3) -> 2000 -> Dense 100 (LReLU) -> 1, ReLU: regresses E.
Initialisation N(0, 0.02), LayerNorm scales N(1, 0.02), biases 0.

Training, per step (the original's iteration): 5 critic steps, each on its own
real batch of 50, with fakes at that batch's energies: loss
mean D(fake) - mean D(real) + 5 * GP; beside each, one SGD(1e-5) step of the
constrainer on L1(C(real), E). Then one generator step: -mean D(fake)
+ 0.01 * mean |(C(fake) - E)^2 - (C(real) - E)^2| (kappa = 0.01). Adam
betas (0.5, 0.9): generator 1e-4, critic 1e-5. 75k iterations in the paper.
A training step therefore consumes 5 x 50 = 250 showers (the default batch
size); the generator step uses the first 50 of them (the original drew one
more batch).

Parameter counts (`python train.py --model ild_wgan --summary`): generator
3,655,520, critic 253,919, constrainer 224,473 trainable parameters, as the
original (ARCHITECTURES.md: 3.66M / 254k / 224k). tests/test_ild_models.py
asserts them.

Departures, and why:
- The generator step's real batch (for the constrainer term) is the first
  critic batch of the step instead of a sixth draw, so one step reads a fixed
  5 x 50 showers.
- The original's WGAN/ folder also carries an optional post-processor
  (train_postP, off in the paper); the BIB-AE module ports the post-processor.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from physgan.backend import image_data_format, no_gradient
from physgan.data.ild import SHOWER_SHAPE
from physgan.layers.conv import Conv3D, Conv3DTranspose
from physgan.layers.volume import (
    CONV_INIT,
    channel_axis,
    spatial_layer_norm,
    to_channels_last_3d,
    to_internal_3d,
)
from physgan.losses import gradient_penalty
from physgan.registry import register_model
from physgan.training import Update
from physgan.zoo.ild_common import ENERGY_RANGE, IldModel, upsample_to_shower, volumes_from_output

_CONV = dict(use_bias=False, kernel_initializer=CONV_INIT)
_DENSE = dict(kernel_initializer=CONV_INIT, bias_initializer="zeros")


def build_generator(latent_dim: int = 100, ngf: int = 32, data_format: str | None = None) -> keras.Model:
    """Returns the WGAN generator: (z, E [GeV]) -> shower (30, 30, 30, 1) MeV."""
    data_format = data_format or image_data_format()
    z = keras.Input((latent_dim,), name="z")
    energy = keras.Input((1,), name="energy")
    conv = dict(data_format=data_format, **_CONV)
    streams = []
    for name, tensor, width in (("energy", energy, 1), ("z", z, latent_dim)):
        x = layers.Reshape((1, 1, 1, width), name=f"{name}_as_volume")(tensor)
        x = to_internal_3d(x, data_format, f"{name}_to_internal_layout")
        streams.append(Conv3DTranspose(ngf * 4, 4, padding="valid", name=f"{name}_deconv_4", **conv)(x))
    x = layers.Concatenate(axis=channel_axis(data_format), name="energy_and_z")(streams)
    x = upsample_to_shower(x, ngf, spatial_layer_norm, data_format)
    return keras.Model([z, energy], x, name="generator")


def build_critic(ndf: int = 32, data_format: str | None = None) -> keras.Model:
    """Returns the WGAN critic: (shower [MeV], E [GeV]) -> score."""
    data_format = data_format or image_data_format()
    shower = keras.Input((*SHOWER_SHAPE, 1), name="shower")
    energy = keras.Input((1,), name="energy")
    conv = dict(data_format=data_format, **_CONV)
    x = to_internal_3d(shower, data_format, "to_internal_layout")
    x = layers.ZeroPadding3D((0, 1, 1), data_format=data_format, name="pad_1")(x)
    for i, (filters, kernel) in enumerate(((ndf, 10), (ndf * 2, 6), (ndf * 4, 4)), start=1):
        x = Conv3D(filters, (kernel, 2, 2), strides=(1, 2, 2), name=f"conv_{i}", **conv)(x)
        x = spatial_layer_norm(data_format, f"ln_{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
    x = Conv3D(1, (4, 2, 2), name="conv_4", **conv)(x)
    x = layers.Flatten(name="flatten")(x)  # one channel: the same order in both layouts
    x = layers.Concatenate(name="with_energy")([x, energy])
    for i, width in enumerate((100, 200, 100, 75), start=1):
        x = layers.Dense(width, name=f"dense_{i}", **_DENSE)(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_dense_{i}")(x)
    score = layers.Dense(1, name="score", **_DENSE)(x)
    return keras.Model([shower, energy], score, name="critic")


def build_constrainer(data_format: str | None = None) -> keras.Model:
    """Returns the energy constrainer (regressor): shower [MeV] -> E [GeV]."""
    data_format = data_format or image_data_format()
    shower = keras.Input((*SHOWER_SHAPE, 1), name="shower")
    conv = dict(data_format=data_format, **_CONV)
    x = to_internal_3d(shower, data_format, "to_internal_layout")
    x = Conv3D(16, 3, strides=2, name="conv_1", **conv)(x)
    x = layers.LeakyReLU(0.2, name="lrelu_1")(spatial_layer_norm(data_format, "ln_1")(x))
    x = Conv3D(32, 3, strides=2, name="conv_2", **conv)(x)
    x = layers.LeakyReLU(0.2, name="lrelu_2")(spatial_layer_norm(data_format, "ln_2")(x))
    x = Conv3D(16, 2, name="conv_3", **conv)(x)
    x = to_channels_last_3d(x, data_format, "to_channels_last")
    x = layers.Flatten(name="flatten")(x)
    x = layers.LeakyReLU(0.2, name="lrelu_dense")(layers.Dense(100, name="dense_100", **_DENSE)(x))
    energy = layers.Dense(1, activation="relu", name="energy", **_DENSE)(x)
    return keras.Model(shower, energy, name="constrainer")


@register_model(
    "ild_wgan",
    "ILD Getting High WGAN-GP with energy constrainer (30x30x30 photon showers)",
)
@keras.saving.register_keras_serializable(package="physgan")
class IldWGAN(IldModel):
    """The WGAN-GP of arXiv:2005.05334 (batches: `energy` (B,1) GeV, `layers` (B,30,30,30,1) MeV)."""

    metric_names = ("critic_loss", "gradient_penalty", "wasserstein_distance", "constrainer_loss",
                    "generator_loss", "generator_energy_penalty")
    default_batch_size = 250  # 5 critic batches of 50
    default_epochs = 50

    def __init__(
        self,
        latent_dim: int = 100,
        ngf: int = 32,
        ndf: int = 32,
        critic_steps: int = 5,
        gradient_penalty_weight: float = 5.0,
        energy_penalty_weight: float = 0.01,
        generator_lr: float = 1e-4,
        critic_lr: float = 1e-5,
        constrainer_lr: float = 1e-5,
        train_constrainer: bool = True,
        energy_range: tuple[float, float] = ENERGY_RANGE,
        mip_threshold: float = 0.1,
        seed: int | None = None,
        **kwargs,
    ):
        options = dict(latent_dim=int(latent_dim), ngf=int(ngf), ndf=int(ndf), critic_steps=int(critic_steps),
                       gradient_penalty_weight=float(gradient_penalty_weight),
                       energy_penalty_weight=float(energy_penalty_weight), generator_lr=float(generator_lr),
                       critic_lr=float(critic_lr), constrainer_lr=float(constrainer_lr),
                       train_constrainer=bool(train_constrainer), energy_range=energy_range,
                       mip_threshold=float(mip_threshold), seed=seed)
        super().__init__(options, **kwargs)
        self.latent_dim = options["latent_dim"]
        self.critic_steps = options["critic_steps"]
        with keras.name_scope("generator"):
            self.generator = build_generator(self.latent_dim, options["ngf"])
        with keras.name_scope("critic"):
            self.critic = build_critic(options["ndf"])
        with keras.name_scope("constrainer"):
            self.constrainer = build_constrainer()
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def networks(self) -> dict:
        return {"generator": self.generator, "critic": self.critic, "constrainer": self.constrainer}

    def update_schedule(self) -> list[Update]:
        schedule = [Update("critic", "critic_loss", repeats=self.critic_steps, split_batch=True)]
        if self._options["train_constrainer"]:
            # Independent of the critic's update, so running them side by side
            # or one after the other is the same.
            schedule.insert(0, Update("constrainer", "constrainer_loss", repeats=self.critic_steps, split_batch=True))
        return schedule + [Update("generator", "generator_loss")]

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        o = self._options
        return {
            "generator": keras.optimizers.Adam(o["generator_lr"], beta_1=0.5, beta_2=0.9, epsilon=1e-8),
            "critic": keras.optimizers.Adam(o["critic_lr"], beta_1=0.5, beta_2=0.9, epsilon=1e-8),
            "constrainer": keras.optimizers.SGD(o["constrainer_lr"]),
        }

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def _noise(self, batch_size):
        return keras.random.uniform((batch_size, self.latent_dim), -1.0, 1.0, seed=self.seed_generator)

    def critic_loss(self, batch):
        real, energy = batch["layers"], batch["energy"]
        with no_gradient():
            fake = ops.stop_gradient(self.generator([self._noise(ops.shape(real)[0]), energy], training=True))
        real_scores = self.critic([real, energy], training=True)
        fake_scores = self.critic([fake, energy], training=True)
        penalty = gradient_penalty(lambda x: self.critic([x, energy], training=True), real, fake,
                                   seed=self.seed_generator)
        distance = ops.mean(real_scores) - ops.mean(fake_scores)
        loss = -distance + self._options["gradient_penalty_weight"] * penalty
        return loss, {"critic_loss": loss, "gradient_penalty": penalty, "wasserstein_distance": distance}

    def constrainer_loss(self, batch):
        loss = ops.mean(ops.abs(self.constrainer(batch["layers"], training=True) - batch["energy"]))
        return loss, {"constrainer_loss": loss}

    def generator_loss(self, batch):
        size = ops.shape(batch["energy"])[0] // self.critic_steps
        real, energy = batch["layers"][:size], batch["energy"][:size]
        fake = self.generator([self._noise(size), energy], training=True)
        adversarial = -ops.mean(self.critic([fake, energy], training=True))
        fake_error = ops.square(self.constrainer(fake, training=True) - energy)
        real_error = ops.square(self.constrainer(real, training=True) - energy)
        energy_penalty = ops.mean(ops.abs(fake_error - real_error))
        loss = adversarial + self._options["energy_penalty_weight"] * energy_penalty
        return loss, {"generator_loss": loss, "generator_energy_penalty": energy_penalty}

    def generate_volumes(self, energies, rng):
        z = rng.uniform(-1.0, 1.0, size=(len(energies), self.latent_dim)).astype("float32")
        return volumes_from_output(self.predict_in_batches(self.generator, [z, energies], batch_size=256))
