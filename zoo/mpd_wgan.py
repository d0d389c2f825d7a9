"""MPD NICA TPC PhysGAN: an improved WGAN (WGAN-GP) for 8x8 pad x time responses.

Port of prutianova-nastia/GAN-for-simulting-physical-experiment (@0c7f44c): the
TPC response of a track segment is an 8 (pads) x 8 (time bins) image of
ln(amplitude), empty cells 0.

Architecture (as the original `make_generator` and critic):
- generator: latent 32 ~ N(0, 1) -> Dense 64 -> Dense 360 -> (3, 3, 40) -> Conv 32
  -> Up x2 -> Conv 16 -> Up x2 -> Conv 8 -> Conv 4 valid -> Conv 1 valid, all ReLU
  (43,177 parameters, the same network as the published `best_unparameterized.h5`);
- critic: Conv 16 -> MaxPool -> Conv 32 -> MaxPool -> Conv 64 (3x3, ReLU, dropout
  0.2 after each conv) -> Dense 128 (dropout 0.4) -> Dense 1 (56,321 parameters;
  56,449 parametrized).
- parametrized variant: latent slot 0 carries the track crossing angle (degrees,
  raw), fakes get angles uniform over the data's range; the critic sees the angle
  concatenated to its flattened conv features (as in ARCHITECTURES.md).

Training (original hyper-parameters): critic loss = 10 * GP - mean(y * D) over
the concatenated [fake, real] batch with y = -1/+1, i.e. the Wasserstein term is
half of mean D(real) - mean D(fake), as the original computed it; generator loss
= -mean D(fake); one critic step per generator step; RMSprop(3e-4) for both,
learning rate x0.995 per epoch; batch 128; 60 epochs.

Departures, and why:
- The original called its Keras models outside `fit` without `training=True`,
  so the critic's dropout never acted. We keep that (`critic_dropout=False`)
  to reproduce its training; set it True to train with dropout.
- The gradient penalty interpolates images only; the parametrized critic sees
  the real angles for the interpolates (the original parametrized critic code is
  not public in a runnable state).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from physgan.backend import image_data_format, no_gradient
from physgan.data.mpd import TPCEvents, generated_events
from physgan.errors import ConfigError
from physgan.losses import gradient_penalty
from physgan.registry import register_model
from physgan.training import GenerativeModel, LearningRateDecay, Update

IMAGE_SHAPE = (8, 8, 1)


def to_internal(x, data_format: str, name: str):
    """Returns channels-last `x` in the layout the convolutions run in."""
    return x if data_format == "channels_last" else layers.Permute((3, 1, 2), name=name)(x)


def to_channels_last(x, data_format: str, name: str):
    """Returns `x` back in channels-last layout (same flatten order everywhere)."""
    return x if data_format == "channels_last" else layers.Permute((2, 3, 1), name=name)(x)


def build_generator(latent_dim: int, parametrized: bool, data_format: str = "channels_last") -> keras.Model:
    """Returns the original PhysGAN generator (latent [, angle] -> log amplitude).

    `data_format` is only the internal layout of the convolutions; inputs,
    outputs and weights are the same for both (see `physgan.backend`).
    """
    noise = keras.Input((latent_dim - 1 if parametrized else latent_dim,), name="noise")
    inputs = [noise]
    x = noise
    if parametrized:
        angle = keras.Input((1,), name="angle")
        inputs = [noise, angle]
        x = layers.Concatenate(name="angle_in_slot_0")([angle, noise])
    x = layers.Dense(64, activation="relu", name="dense_64")(x)
    x = layers.Dense(360, activation="relu", name="dense_360")(x)
    x = layers.Reshape((3, 3, 40), name="reshape")(x)
    x = to_internal(x, data_format, "to_internal_layout")
    conv = dict(activation="relu", data_format=data_format)
    x = layers.Conv2D(32, 3, padding="same", name="conv_32", **conv)(x)
    x = layers.UpSampling2D(data_format=data_format, name="up_6")(x)
    x = layers.Conv2D(16, 3, padding="same", name="conv_16", **conv)(x)
    x = layers.UpSampling2D(data_format=data_format, name="up_12")(x)
    x = layers.Conv2D(8, 3, padding="same", name="conv_8", **conv)(x)
    x = layers.Conv2D(4, 3, padding="valid", name="conv_4", **conv)(x)
    x = layers.Conv2D(1, 3, padding="valid", name="log_amplitude", **conv)(x)
    x = to_channels_last(x, data_format, "to_channels_last")
    return keras.Model(inputs if parametrized else noise, x, name="generator")


def build_critic(parametrized: bool, data_format: str = "channels_last") -> keras.Model:
    """Returns the original PhysGAN critic (log amplitude [, angle] -> score)."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = to_internal(image, data_format, "to_internal_layout")
    for i, filters in enumerate((16, 32, 64)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", data_format=data_format,
                          name=f"conv_{filters}")(x)
        x = layers.Dropout(0.2, name=f"dropout_{filters}")(x)
        if i < 2:
            x = layers.MaxPooling2D(padding="same", data_format=data_format, name=f"pool_{filters}")(x)
    x = to_channels_last(x, data_format, "to_channels_last")
    x = layers.Flatten(name="flatten")(x)
    inputs = image
    if parametrized:
        angle = keras.Input((1,), name="angle")
        inputs = [image, angle]
        x = layers.Concatenate(name="with_angle")([x, angle])
    x = layers.Dense(128, activation="relu", name="dense_128")(x)
    x = layers.Dropout(0.4, name="dropout_128")(x)
    score = layers.Dense(1, name="score")(x)
    return keras.Model(inputs, score, name="critic")


@register_model(
    "mpd_wgan_param",
    "MPD TPC PhysGAN, parametrized by the track crossing angle (WGAN-GP, 8x8)",
    parametrized=True,
)
@register_model(
    "mpd_wgan",
    "MPD TPC PhysGAN (WGAN-GP on 8x8 pad x time log amplitudes)",
    parametrized=False,
)
@keras.saving.register_keras_serializable(package="physgan")
class MPDWGAN(GenerativeModel):
    """WGAN-GP of the MPD NICA TPC pad response.

    Batches are dicts: `image` (B, 8, 8, 1) ln(amplitude), and for the
    parametrized variant `angle` (B, 1) the crossing angle in degrees.
    """

    dataset = "mpd_tpc"

    metric_names = ("critic_loss", "gradient_penalty", "wasserstein_distance", "generator_loss")
    default_batch_size = 128
    default_epochs = 60

    def __init__(
        self,
        latent_dim: int = 32,
        parametrized: bool = False,
        gradient_penalty_weight: float = 10.0,
        critic_steps: int = 1,
        learning_rate: float = 3e-4,
        lr_decay_per_epoch: float = 0.995,
        angle_range: tuple[float, float] = (0.0, 15.0),
        critic_dropout: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if latent_dim < 2:
            raise ValueError(f"latent_dim must be >= 2, got {latent_dim}")
        self.latent_dim = int(latent_dim)
        self.parametrized = bool(parametrized)
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.critic_steps = int(critic_steps)
        self.learning_rate = float(learning_rate)
        self.lr_decay_per_epoch = float(lr_decay_per_epoch)
        self.angle_range = (float(angle_range[0]), float(angle_range[1]))
        self.critic_dropout = bool(critic_dropout)
        self.seed = seed
        with keras.name_scope("generator"):
            self.generator = build_generator(self.latent_dim, self.parametrized, image_data_format())
        with keras.name_scope("critic"):
            self.critic = build_critic(self.parametrized, image_data_format())
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    # --- engine hooks ----------------------------------------------------------------

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return ("image", "angle") if self.parametrized else ("image",)

    @property
    def takes_condition(self) -> bool:
        return self.parametrized

    def networks(self) -> dict:
        return {"generator": self.generator, "critic": self.critic}

    def update_schedule(self) -> list[Update]:
        return [
            Update("critic", "critic_loss", repeats=self.critic_steps, split_batch=True),
            Update("generator", "generator_loss"),
        ]

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        return {"generator": keras.optimizers.RMSprop(self.learning_rate),
                "critic": keras.optimizers.RMSprop(self.learning_rate)}

    def training_callbacks(self) -> list:
        """Both learning rates x `lr_decay_per_epoch` after every epoch (the original's)."""
        return [] if self.lr_decay_per_epoch == 1.0 else [LearningRateDecay(self.lr_decay_per_epoch)]

    # --- forward -----------------------------------------------------------------------

    def _fake_inputs(self, batch_size):
        noise_dim = self.latent_dim - 1 if self.parametrized else self.latent_dim
        noise = keras.random.normal((batch_size, noise_dim), seed=self.seed_generator)
        if not self.parametrized:
            return noise, None
        low, high = self.angle_range
        angle = keras.random.uniform(
            (batch_size, 1), minval=low, maxval=high, seed=self.seed_generator
        )
        return [noise, angle], angle

    def _score(self, image, angle):
        inputs = [image, angle] if self.parametrized else image
        return self.critic(inputs, training=self.critic_dropout)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # --- losses ------------------------------------------------------------------------

    def critic_loss(self, batch):
        real = batch["image"]
        real_angle = batch["angle"] if self.parametrized else None
        fake_inputs, fake_angle = self._fake_inputs(ops.shape(real)[0])
        with no_gradient():
            fake = ops.stop_gradient(self.generator(fake_inputs, training=True))
        real_scores = self._score(real, real_angle)
        fake_scores = self._score(fake, fake_angle)
        penalty = gradient_penalty(
            lambda x: self._score(x, real_angle), real, fake, seed=self.seed_generator
        )
        distance = ops.mean(real_scores) - ops.mean(fake_scores)
        # The original's mean(y * D) over [fake, real] with y = -1/+1.
        loss = self.gradient_penalty_weight * penalty - 0.5 * distance
        return loss, {
            "critic_loss": loss,
            "gradient_penalty": penalty,
            "wasserstein_distance": distance,
        }

    def generator_loss(self, batch):
        batch_size = ops.shape(batch["image"])[0]
        fake_inputs, fake_angle = self._fake_inputs(batch_size)
        fake = self.generator(fake_inputs, training=True)
        loss = -ops.mean(self._score(fake, fake_angle))
        return loss, {"generator_loss": loss}

    # --- generation --------------------------------------------------------------------

    def sample(self, n: int, condition=None, seed: int | None = None) -> TPCEvents:
        """Returns `n` generated responses as `TPCEvents`: amplitudes (n, 8, 8) [pad, time]
        in ADC counts and, for the parametrized model, the crossing angles (dip angle 0).

        Args:
            n: number of events.
            condition: crossing angle(s) in degrees for the parametrized model:
                a scalar or an (n,) array; None draws them uniformly over
                `angle_range`. Must be None for the unparametrized model.
            seed: makes the latent draw reproducible (the same on every backend).
        """
        rng = np.random.default_rng(seed)
        noise_dim = self.latent_dim - 1 if self.parametrized else self.latent_dim
        noise = rng.standard_normal((n, noise_dim)).astype("float32")
        if self.parametrized:
            if condition is None:
                angle = rng.uniform(*self.angle_range, size=n)
            else:
                angle = np.broadcast_to(np.asarray(condition, dtype="float64"), (n,))
            inputs = [noise, angle.reshape(n, 1).astype("float32")]
        else:
            if condition is not None:
                raise ConfigError("the unparametrized MPD model takes no condition")
            inputs = noise
        return generated_events(self.predict_in_batches(self.generator, inputs),
                                angle if self.parametrized else None)

    # --- config ------------------------------------------------------------------------

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "parametrized": self.parametrized,
            "gradient_penalty_weight": self.gradient_penalty_weight,
            "critic_steps": self.critic_steps,
            "learning_rate": self.learning_rate,
            "lr_decay_per_epoch": self.lr_decay_per_epoch,
            "angle_range": list(self.angle_range),
            "critic_dropout": self.critic_dropout,
            "seed": self.seed,
        }
