"""ILD "Getting High" BIB-AE with post-processor, for 30x30x30 photon showers.

Port of FLC-QU-hep/getting_high (@3547483) BIBAE/BIBAE_models.py,
BIBAE_functions.py, BIBAE_Run.py and BIBAE_PP_Run.py (arXiv:2005.05334, the
"BIB-AE" of the paper): a VAE whose reconstruction is judged by a critic
(Bounded Information Bottleneck autoencoder), with a latent critic, and a
post-processor that sharpens the hit-energy spectrum.

Encoder: Conv3d 8, 16, 32 (k4 s2 pad 2: 30 -> 16 -> 9 -> 5) and 64 (k3 pad 1),
each LayerNorm over the spatial axes + LeakyReLU 0.2; flatten 8000 + E -> Dense
4000 -> 768 -> mu, logvar (24 each). Latent 512 = the 24 encoded dimensions +
488 pure N(0, 1) dimensions (mu = logvar = 0).
Decoder: (z 512, E) -> Dense 768, 4000, 8000 (LeakyReLU 0.2) -> 8 x 10^3 ->
ConvT3d 8 k3 s3 (-> 30^3) -> ConvT3d 16 k3 s2 (-> 60^3) -> Conv3d 8 k2 s2 (-> 30^3)
-> Conv3d 16, 32, 16 (k3), each with LayerNorm + LeakyReLU 0.2 -> Conv3d 1 k3, ReLU.
Critic (ndf 128) of a pair (input, second), second = input (real) or its
reconstruction (fake): conv branch on the second, conv branch on log(second + 1)
(each Conv3d 128 k3 s2 LN, 128 k3 s2 LN, 128 k3 -> Dense 64), Dense 64 on
(second - input) flattened, Dense 64 on E -> Dense 256 x 3 -> 1.
Latent critic: 1 -> 50 -> 100 -> 50 -> 1 applied to every latent scalar
(real: N(0, 1) samples).
Post-processor: 1x1x1 convolutions of 128 channels (LayerNorm + LeakyReLU
0.01), conditioned on (sum of the shower, E) through Dense 64 x 3 broadcast
over the volume; linear output.

Training, per step (batch 8): 5 steps of the critic (mean D(fake) - mean
D(real) + 10 GP on the pairs) and 5 of the latent critic (WGAN-GP, lambda 10),
each with a fresh encoding; one autoencoder step minimising
-(1 * D(pair) + 100 * D_latent(z)) + 0.05 KLD + 100 latent MMD (Gaussian kernels
alpha 1 and 0.01); no pixel-wise reconstruction term. Then one post-processor
step on the detached reconstruction: MSE to it for the first 100 epochs, after
that MSE + 5 * MMD of the sorted hit energies against the input (windows of 100
hits, stride 25, the first 2000 hits, alpha 200). Adam betas (0.5, 0.9): 5e-4
(autoencoder, critic, post-processor), 2e-3 (latent critic), all x0.95 per
epoch. The paper trained up to 1000 epochs.

Generation: z ~ N(0, 1)^512 -> decoder -> post-processor (unless
`use_post_processor=False`: the plain BIB-AE of the paper) -> cells below
0.1 MeV set to 0.

Parameter counts (`python train.py --model bibae --summary`, trainable):
autoencoder 71,491,176 (encoder 35,226,080, decoder 36,265,096), critic
4,762,753, latent critic 10,351, post-processor 291,136. ARCHITECTURES.md:
~71M, 4.76M, 0.3M. tests/test_ild_models.py asserts them.

Departures, and why:
- The original trains the post-processor in a second run (BIBAE_PP_Run.py)
  whose model name BIBAE_Main.py's training loop never matches, so that run
  trains nothing (a bug). We train the post-processor beside the BIB-AE, as
  the paper describes (`train_post_processor=True`), with the paper's two
  phases; the epoch count comes from `steps_per_epoch` given to `compile`.
- The first transposed convolution (k3 s3) uses no padding: PyTorch's padding 1
  with output_size 30 shifts the volume by one cell and leaves the last plane
  without input. The k3 s2 one drops the first plane of its 61^3 output on
  each axis (PyTorch's padding 1 + output_size 60 keeps the same cells);
  Keras' "same" would crop asymmetrically, and not the same way on every
  backend.
- Initialisation: PyTorch's default (uniform, variance 1/(3 fan_in)) for the
  kernels, biases 0, LayerNorm scales 1 (the BIB-AE code applies no init).
- The generate scripts multiply the energy label by 100 (inconsistent with the
  training labels in GeV); `sample` uses GeV throughout.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from physgan.backend import image_data_format, no_gradient
from physgan.data.ild import SHOWER_SHAPE
from physgan.layers import LayerEnergy
from physgan.layers.conv import Conv3D, Conv3DTranspose
from physgan.layers.volume import (
    BroadcastToVolume,
    Log1p,
    Reparameterize,
    channel_axis,
    spatial_layer_norm,
    to_channels_last_3d,
    to_internal_3d,
)
from physgan.losses import gradient_penalty
from physgan.registry import register_model
from physgan.training import LearningRateDecay, Update
from physgan.zoo.ild_common import ENERGY_RANGE, IldModel, volumes_from_output

TORCH_DEFAULT_INIT = keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")
_CONV = dict(use_bias=False, kernel_initializer=TORCH_DEFAULT_INIT)


def _dense(units: int, name: str, **kwargs):
    return layers.Dense(units, kernel_initializer=TORCH_DEFAULT_INIT, name=name, **kwargs)


def _norm_lrelu(x, data_format: str, name: str, slope: float = 0.2):
    x = spatial_layer_norm(data_format, f"{name}_ln", init=False)(x)
    return layers.LeakyReLU(slope, name=f"{name}_lrelu")(x)


def build_encoder(ngf: int = 8, n_encoded: int = 24, latent_dim: int = 512, hidden: int | None = None,
                  data_format: str | None = None) -> keras.Model:
    """Returns the encoder: (shower [MeV], E [GeV]) -> (mu, logvar) of the encoded latents."""
    data_format = data_format or image_data_format()
    shower = keras.Input((*SHOWER_SHAPE, 1), name="shower")
    energy = keras.Input((1,), name="energy")
    conv = dict(data_format=data_format, **_CONV)
    x = to_internal_3d(shower, data_format, "to_internal_layout")
    for i, filters in enumerate((ngf, ngf * 2, ngf * 4), start=1):
        x = layers.ZeroPadding3D(2, data_format=data_format, name=f"pad_{i}")(x)
        x = Conv3D(filters, 4, strides=2, name=f"conv_{i}", **conv)(x)
        x = _norm_lrelu(x, data_format, f"conv_{i}")
    x = Conv3D(ngf * 8, 3, padding="same", name="conv_4", **conv)(x)
    x = _norm_lrelu(x, data_format, "conv_4")
    x = to_channels_last_3d(x, data_format, "to_channels_last")
    x = layers.Concatenate(name="with_energy")([layers.Flatten(name="flatten")(x), energy])
    x = layers.LeakyReLU(0.2, name="dense_1_lrelu")(_dense(hidden or ngf * 500, "dense_1")(x))
    x = layers.LeakyReLU(0.2, name="dense_2_lrelu")(_dense(int(latent_dim * 1.5), "dense_2")(x))
    return keras.Model([shower, energy], [_dense(n_encoded, "mu")(x), _dense(n_encoded, "logvar")(x)],
                       name="encoder")


def build_decoder(ngf: int = 8, latent_dim: int = 512, hidden: int | None = None,
                  data_format: str | None = None) -> keras.Model:
    """Returns the decoder: (z, E [GeV]) -> shower (30, 30, 30, 1) MeV."""
    data_format = data_format or image_data_format()
    z = keras.Input((latent_dim,), name="z")
    energy = keras.Input((1,), name="energy")
    x = layers.Concatenate(name="z_and_energy")([z, energy])
    for i, width in enumerate((int(latent_dim * 1.5), hidden or ngf * 500, 10 * 10 * 10 * ngf), start=1):
        x = layers.LeakyReLU(0.2, name=f"dense_{i}_lrelu")(_dense(width, f"dense_{i}")(x))
    x = layers.Reshape((10, 10, 10, ngf), name="as_volume")(x)
    x = to_internal_3d(x, data_format, "to_internal_layout")
    conv = dict(data_format=data_format, **_CONV)
    x = _norm_lrelu(Conv3DTranspose(ngf, 3, strides=3, name="deconv_30", **conv)(x), data_format, "deconv_30")
    x = Conv3DTranspose(ngf * 2, 3, strides=2, name="deconv_60", **conv)(x)  # 30 -> 61
    x = layers.Cropping3D(((1, 0), (1, 0), (1, 0)), data_format=data_format, name="crop_to_60")(x)
    x = _norm_lrelu(x, data_format, "deconv_60")
    x = _norm_lrelu(Conv3D(ngf, 2, strides=2, name="conv_0", **conv)(x), data_format, "conv_0")
    for i, filters in enumerate((ngf * 2, ngf * 4, ngf * 2), start=1):
        x = Conv3D(filters, 3, padding="same", name=f"conv_{i}", **conv)(x)
        x = _norm_lrelu(x, data_format, f"conv_{i}")
    x = Conv3D(1, 3, padding="same", name="conv_out", **conv)(x)
    x = layers.ReLU(name="shower")(x)
    x = to_channels_last_3d(x, data_format, "to_channels_last")
    return keras.Model([z, energy], x, name="decoder")


def build_autoencoder(encoder: keras.Model, decoder: keras.Model) -> keras.Model:
    """Returns the BIB-AE: (shower, E, noise N(0,1)^latent) -> recon, mu, logvar, z."""
    shower = keras.Input((*SHOWER_SHAPE, 1), name="shower")
    energy = keras.Input((1,), name="energy")
    noise = keras.Input((decoder.input_shape[0][-1],), name="noise")
    mu, logvar = encoder([shower, energy])
    z = Reparameterize(name="z")([mu, logvar, noise])
    recon = decoder([z, energy])
    return keras.Model([shower, energy, noise], {"recon": recon, "mu": mu, "logvar": logvar, "z": z},
                       name="autoencoder")


def _critic_branch(x, ndf: int, data_format: str, name: str):
    conv = dict(data_format=data_format, **_CONV)
    x = to_internal_3d(x, data_format, f"{name}_to_internal_layout")
    x = _norm_lrelu(Conv3D(ndf, 3, strides=2, name=f"{name}_conv_1", **conv)(x), data_format, f"{name}_1")
    x = _norm_lrelu(Conv3D(ndf, 3, strides=2, name=f"{name}_conv_2", **conv)(x), data_format, f"{name}_2")
    x = layers.LeakyReLU(0.2, name=f"{name}_lrelu_3")(Conv3D(ndf, 3, name=f"{name}_conv_3", **conv)(x))
    x = layers.Flatten(name=f"{name}_flatten")(to_channels_last_3d(x, data_format, f"{name}_to_channels_last"))
    return layers.LeakyReLU(0.2, name=f"{name}_dense_lrelu")(_dense(ndf // 2, f"{name}_dense")(x))


def build_critic(ndf: int = 128, data_format: str | None = None) -> keras.Model:
    """Returns the pair critic: (shower, reference input, E [GeV]) -> score."""
    data_format = data_format or image_data_format()
    shower = keras.Input((*SHOWER_SHAPE, 1), name="shower")
    reference = keras.Input((*SHOWER_SHAPE, 1), name="reference")
    energy = keras.Input((1,), name="energy")
    difference = layers.Flatten(name="difference_flat")(layers.Subtract(name="difference")([shower, reference]))
    features = [
        _critic_branch(shower, ndf, data_format, "energy_branch"),
        _critic_branch(Log1p(name="log_energy")(shower), ndf, data_format, "log_branch"),
        layers.LeakyReLU(0.01, name="difference_lrelu")(_dense(ndf // 2, "difference_dense")(difference)),
        layers.LeakyReLU(0.2, name="energy_lrelu")(_dense(ndf // 2, "energy_dense")(energy)),
    ]
    x = layers.Concatenate(name="features")(features)
    for i in range(1, 4):
        x = layers.LeakyReLU(0.2, name=f"dense_{i}_lrelu")(_dense(ndf * 2, f"dense_{i}")(x))
    return keras.Model([shower, reference, energy], _dense(1, "score")(x), name="critic")


def build_latent_critic() -> keras.Model:
    """Returns the latent critic of one latent scalar: (B, 1) -> (B, 1)."""
    x = inputs = keras.Input((1,), name="latent")
    for i, width in enumerate((50, 100, 50), start=1):
        x = layers.LeakyReLU(0.01, name=f"dense_{i}_lrelu")(_dense(width, f"dense_{i}")(x))
    return keras.Model(inputs, _dense(1, "score")(x), name="latent_critic")


def build_post_processor(ndf: int = 128, data_format: str | None = None) -> keras.Model:
    """Returns the post-processor: (shower [MeV], E [GeV]) -> corrected shower."""
    data_format = data_format or image_data_format()
    shower = keras.Input((*SHOWER_SHAPE, 1), name="shower")
    energy = keras.Input((1,), name="energy")
    e = layers.Concatenate(name="sum_and_energy")([LayerEnergy(name="shower_sum")(shower), energy])
    for i in range(1, 4):
        e = layers.LeakyReLU(0.01, name=f"condition_{i}_lrelu")(_dense(ndf // 2, f"condition_{i}")(e))
    e = BroadcastToVolume(SHOWER_SHAPE, data_format, name="condition_volume")(e)
    conv = dict(data_format=data_format, kernel_initializer=TORCH_DEFAULT_INIT)
    x = to_internal_3d(shower, data_format, "to_internal_layout")
    x = _norm_lrelu(Conv3D(ndf, 1, name="conv_1", **conv)(x), data_format, "conv_1", 0.01)
    x = layers.Concatenate(axis=channel_axis(data_format), name="with_condition")([x, e])
    for i in range(2, 5):
        x = _norm_lrelu(Conv3D(ndf, 1, name=f"conv_{i}", **conv)(x), data_format, f"conv_{i}", 0.01)
    x = layers.LeakyReLU(0.01, name="conv_5_lrelu")(Conv3D(ndf, 1, name="conv_5", **conv)(x))
    x = Conv3D(1, 1, use_bias=False, name="conv_out", **conv)(x)
    x = to_channels_last_3d(x, data_format, "to_channels_last")
    return keras.Model([shower, energy], x, name="post_processor")


def latent_mmd(a, b, alpha: float):
    """Returns the (unnormalised) Gaussian-kernel MMD sum between latent batches a, b (B, d)."""
    def kernel_sum(x, y):
        d2 = (ops.sum(x * x, axis=1)[:, None] + ops.sum(y * y, axis=1)[None, :] - 2.0 * ops.matmul(x, ops.transpose(y)))
        return ops.sum(ops.exp(-alpha * d2))

    return kernel_sum(a, a) + kernel_sum(b, b) - 2.0 * kernel_sum(a, b)


def sorted_hit_mmd(fake, real, kernel_size: int = 100, stride: int = 25, cutoff: int = 2000, alpha: float = 200.0):
    """Returns BIB-AE's MMD between the sorted cell energies of `fake` and `real`
    showers: per shower, windows of `kernel_size` of the largest cells (starting
    every `stride` within the first `cutoff`) compared with a Gaussian kernel;
    averaged over showers and windows."""
    n_cells = int(np.prod(fake.shape[1:]))
    starts = np.arange(0, min(cutoff, n_cells), stride)
    k = min(n_cells, int(starts[-1]) + kernel_size)
    windows = np.stack([np.minimum(np.arange(s, s + kernel_size), k - 1) for s in starts])

    def top(x):
        values = ops.top_k(ops.reshape(x, (ops.shape(x)[0], -1)), k, sorted=True)[0]
        return ops.take(values, windows, axis=1)  # (B, windows, kernel_size)

    x, y = top(real), top(fake)

    def mean_kernel(a, b):
        return ops.mean(ops.exp(-alpha * ops.square(a[..., :, None] - b[..., None, :])), axis=(-2, -1))

    per_window = mean_kernel(x, x) + mean_kernel(y, y) - 2.0 * mean_kernel(y, x)
    return ops.mean(ops.sum(per_window, axis=1)) / len(starts)


@register_model(
    "bibae",
    "ILD Getting High BIB-AE with post-processor (30x30x30 photon showers)",
)
@keras.saving.register_keras_serializable(package="physgan")
class BIBAE(IldModel):
    """The BIB-AE + post-processor of arXiv:2005.05334 (batches: `energy` (B,1) GeV, `layers` (B,30,30,30,1) MeV)."""

    metric_names = ("critic_loss", "critic_gradient_penalty", "latent_critic_loss", "autoencoder_loss",
                    "kld", "latent_mmd", "post_processor_loss", "post_processor_mse", "post_processor_mmd")
    default_batch_size = 8
    generation_batch_size = 16  # showers per network call in generation: faster than 64 on every backend, 1/4 the memory
    default_epochs = 100

    def __init__(
        self,
        ngf: int = 8,
        ndf: int = 128,
        post_processor_ndf: int = 128,
        n_encoded: int = 24,
        latent_dim: int = 512,
        hidden: int | None = None,
        critic_steps: int = 5,
        gradient_penalty_weight: float = 10.0,
        adversarial_weight: float = 1.0,
        latent_adversarial_weight: float = 100.0,
        kld_weight: float = 0.05,
        latent_mmd_weight: float = 100.0,
        post_processor_mmd_weight: float = 5.0,
        post_processor_mse_epochs: int = 100,
        hit_mmd: tuple = (100, 25, 2000, 200.0),
        learning_rate: float = 5e-4,
        latent_critic_lr: float = 2e-3,
        lr_decay_per_epoch: float = 0.95,
        train_post_processor: bool = True,
        use_post_processor: bool = True,
        energy_range: tuple[float, float] = ENERGY_RANGE,
        mip_threshold: float = 0.1,
        seed: int | None = None,
        **kwargs,
    ):
        options = dict(
            ngf=int(ngf), ndf=int(ndf), post_processor_ndf=int(post_processor_ndf), n_encoded=int(n_encoded),
            latent_dim=int(latent_dim), hidden=None if hidden is None else int(hidden),
            critic_steps=int(critic_steps), gradient_penalty_weight=float(gradient_penalty_weight),
            adversarial_weight=float(adversarial_weight), latent_adversarial_weight=float(latent_adversarial_weight),
            kld_weight=float(kld_weight), latent_mmd_weight=float(latent_mmd_weight),
            post_processor_mmd_weight=float(post_processor_mmd_weight),
            post_processor_mse_epochs=int(post_processor_mse_epochs),
            hit_mmd=[int(hit_mmd[0]), int(hit_mmd[1]), int(hit_mmd[2]), float(hit_mmd[3])],
            learning_rate=float(learning_rate), latent_critic_lr=float(latent_critic_lr),
            lr_decay_per_epoch=float(lr_decay_per_epoch), train_post_processor=bool(train_post_processor),
            use_post_processor=bool(use_post_processor), energy_range=energy_range, mip_threshold=float(mip_threshold), seed=seed,
        )
        super().__init__(options, **kwargs)
        if not 0 < options["n_encoded"] <= options["latent_dim"]:
            raise ValueError(f"n_encoded must be in 1..latent_dim, got {n_encoded} of {latent_dim}")
        self.latent_dim = options["latent_dim"]
        self.critic_steps = options["critic_steps"]
        with keras.name_scope("autoencoder"):
            self.encoder = build_encoder(ngf, n_encoded, latent_dim, options["hidden"])
            self.decoder = build_decoder(ngf, latent_dim, options["hidden"])
            self.autoencoder = build_autoencoder(self.encoder, self.decoder)
        with keras.name_scope("critic"):
            self.critic = build_critic(ndf)
        with keras.name_scope("latent_critic"):
            self.latent_critic = build_latent_critic()
        with keras.name_scope("post_processor"):
            self.post_processor = build_post_processor(post_processor_ndf)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._steps_per_epoch = None
        self.built = True

    # --- engine hooks ----------------------------------------------------------------

    def networks(self) -> dict:
        return {"autoencoder": self.autoencoder, "critic": self.critic, "latent_critic": self.latent_critic,
                "post_processor": self.post_processor}

    def update_schedule(self) -> list[Update]:
        schedule = [
            Update("critic", "critic_loss", repeats=self.critic_steps),
            Update("latent_critic", "latent_critic_loss", repeats=self.critic_steps),
            Update("autoencoder", "autoencoder_loss"),
        ]
        if self._options["train_post_processor"]:
            schedule.append(Update("post_processor", "post_processor_loss"))
        return schedule

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        self._steps_per_epoch = steps_per_epoch
        o = self._options

        def adam(lr):
            return keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.9, epsilon=1e-8)

        return {"autoencoder": adam(o["learning_rate"]), "critic": adam(o["learning_rate"]),
                "latent_critic": adam(o["latent_critic_lr"]), "post_processor": adam(o["learning_rate"])}

    def training_callbacks(self) -> list:
        """Every learning rate x `lr_decay_per_epoch` after every epoch (the original's)."""
        decay = self._options["lr_decay_per_epoch"]
        return [] if decay == 1.0 else [LearningRateDecay(decay)]

    def call(self, inputs, training=False):
        return self.decoder(inputs, training=training)

    # --- forward pieces ----------------------------------------------------------------

    def _noise(self, batch):
        return keras.random.normal((ops.shape(batch["energy"])[0], self.latent_dim), seed=self.seed_generator)

    def _autoencode(self, batch, training=True):
        return self.autoencoder([batch["layers"], batch["energy"], self._noise(batch)], training=training)

    def _encode(self, batch):
        """Returns the latent z of `batch` (encoder + reparameterisation, no decoder)."""
        mu, logvar = self.encoder([batch["layers"], batch["energy"]], training=True)
        return self.autoencoder.get_layer("z")([mu, logvar, self._noise(batch)])

    def _latent_scores(self, z):
        return self.latent_critic(ops.reshape(z, (-1, 1)))

    # --- losses ------------------------------------------------------------------------

    def critic_loss(self, batch):
        real, energy = batch["layers"], batch["energy"]
        with no_gradient():
            recon = ops.stop_gradient(self._autoencode(batch)["recon"])
        real_scores = self.critic([real, real, energy])
        fake_scores = self.critic([recon, real, energy])

        def pair_critic(pair):  # pair = [input, second] on the last axis, as the original's 2 channels
            return self.critic([pair[..., 1:], pair[..., :1], energy])

        penalty = gradient_penalty(pair_critic, ops.concatenate([real, real], axis=-1),
                                   ops.concatenate([real, recon], axis=-1), seed=self.seed_generator)
        loss = ops.mean(fake_scores) - ops.mean(real_scores) + self._options["gradient_penalty_weight"] * penalty
        return loss, {"critic_loss": loss, "critic_gradient_penalty": penalty}

    def latent_critic_loss(self, batch):
        with no_gradient():
            z = ops.stop_gradient(self._encode(batch))  # the latent critic needs no decoding
        prior = keras.random.normal(ops.shape(z), seed=self.seed_generator)
        penalty = gradient_penalty(self._latent_scores, prior, z, seed=self.seed_generator)
        loss = (ops.mean(self._latent_scores(z)) - ops.mean(self._latent_scores(prior))
                + self._options["gradient_penalty_weight"] * penalty)
        return loss, {"latent_critic_loss": loss}

    def autoencoder_loss(self, batch):
        o = self._options
        real, energy = batch["layers"], batch["energy"]
        out = self._autoencode(batch)
        mu, logvar, z = out["mu"], out["logvar"], out["z"]
        size = ops.cast(ops.shape(z)[0], "float32")
        adversarial = ops.mean(self.critic([out["recon"], real, energy]))
        latent_adversarial = ops.mean(self._latent_scores(z))
        kld = -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar)) / size
        prior = keras.random.normal(ops.shape(z), seed=self.seed_generator)
        mmd = (latent_mmd(z, prior, 1.0) + latent_mmd(z, prior, 0.01)) / (size * size)
        loss = (o["kld_weight"] * kld + o["latent_mmd_weight"] * mmd
                - o["adversarial_weight"] * adversarial - o["latent_adversarial_weight"] * latent_adversarial)
        return loss, {"autoencoder_loss": loss, "kld": kld, "latent_mmd": mmd}

    def post_processor_loss(self, batch):
        o = self._options
        with no_gradient():
            recon = ops.stop_gradient(self._autoencode(batch)["recon"])
        processed = self.post_processor([recon, batch["energy"]], training=True)
        mse = ops.mean(ops.square(processed - recon))
        kernel, stride, cutoff, alpha = o["hit_mmd"]
        mmd = sorted_hit_mmd(processed, batch["layers"], kernel, stride, cutoff, alpha)
        loss = mse + self._mmd_weight() * mmd
        return loss, {"post_processor_loss": loss, "post_processor_mse": mse, "post_processor_mmd": mmd}

    def _mmd_weight(self):
        """The post-processor's MMD weight: 0 in the first `post_processor_mse_epochs` epochs."""
        steps = self._steps_per_epoch or 1  # unknown epoch length: count steps
        epoch = ops.floor_divide(ops.cast(self.post_processor_optimizer.iterations, "int32"), steps)
        on = ops.cast(ops.greater_equal(epoch, self._options["post_processor_mse_epochs"]), "float32")
        return on * self._options["post_processor_mmd_weight"]

    # --- generation ----------------------------------------------------------------------

    def generate_volumes(self, energies, rng, post_process: bool | None = None):
        """Returns decoded showers (n, 30, 30, 30) MeV for `energies` (n, 1) GeV,
        post-processed unless `post_process` (default: `use_post_processor`) is False."""
        z = rng.standard_normal((len(energies), self.latent_dim)).astype("float32")
        showers = self.predict_in_batches(self.decoder, [z, energies], batch_size=self.generation_batch_size)
        if self._options["use_post_processor"] if post_process is None else post_process:
            showers = self.predict_in_batches(self.post_processor, [showers, energies], batch_size=self.generation_batch_size)
        return volumes_from_output(showers)

    def reconstruct(self, showers: np.ndarray, energies: np.ndarray, seed: int | None = None,
                    post_process: bool = False) -> np.ndarray:
        """Returns BIB-AE reconstructions (n, 30, 30, 30) MeV of `showers` (n, 30, 30, 30) MeV."""
        showers = np.asarray(showers, dtype="float32")[..., None]
        energies = np.asarray(energies, dtype="float32").reshape(-1, 1)
        mu, logvar = self.predict_in_batches(self.encoder, [showers, energies], batch_size=self.generation_batch_size)
        noise = np.random.default_rng(seed).standard_normal((len(showers), self.latent_dim)).astype("float32")
        n_encoded = mu.shape[1]
        z = np.concatenate([mu + np.exp(0.5 * logvar) * noise[:, :n_encoded], noise[:, n_encoded:]], axis=1)
        recon = self.predict_in_batches(self.decoder, [z, energies], batch_size=self.generation_batch_size)
        if post_process:
            recon = self.predict_in_batches(self.post_processor, [recon, energies], batch_size=self.generation_batch_size)
        return volumes_from_output(recon)
