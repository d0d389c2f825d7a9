"""ALICE ZDC CorrVAE: property-controllable generation of 44x44 ZDC responses.

Port of karolrogozinski/cern_alice_fast_sim_corrvae (@79616f2), the CorrVAE of
arXiv:2210.01796 adjusted to ZDC images. A response is log(1 + photon counts),
(44, 44, 1); its 9 properties (`physgan.data.zdc.PROPERTY_NAMES`) are scaled to
[0, 1]. Three latents of 8 dimensions:
- z: free, from the image encoder;
- w: controls `w_properties` (default the centre of mass x, y = [2, 3]) through a
  learned sparse mask and one invertible map per property;
- c: from the conditional inputs through a spectral-normalised MLP; it decodes
  `condition_target_properties` (default sum and max = [7, 8]).

Networks (as the original; LeakyReLU 0.1 everywhere, also on the decoder output):
- image encoder: Conv 32 k4 s2 p1 (44 -> 22 -> 11), Conv 32 k4 s3 p1 (-> 4),
  Dense 512, 512, Dense 2 x (z + w) (mean / log-variance interleaved);
- condition encoder: SN Dense 512, 512, SN Dense 2 x 8;
- decoder: [w, z, c] -> Dense 512, 512, 512 -> 32 x 4 x 4 -> ConvT 32 k4 s3 p1 (11)
  -> ConvT 32 k4 s2 p1 (22) -> ConvT 1 k4 s2 p1 (44);
- property path: mask logits (props, 8, 2), hard Gumbel-softmax (tau 0.2, x0.1 every
  10 epochs) picks w dims; per property Dense 16 -> 1 gives w'; y = g(w') + w' with
  g = SN(coeff 0.97) Dense 16 -> SN Dense 1 -> sigmoid (invertible: `invert_property`
  runs the original's 20 fixed-point steps);
- condition property decoder: SN Dense 512 -> SN Dense 2 (LeakyReLU).
1,428,631 parameters with 9 conditional inputs (as the original); the spectral-norm
layers use 5 power iterations with coeff 0.97 (the original's spectral_norm_fc).

Loss (the original's get_losses): 1e6 x reconstruction (MSE sum / 64 / batch) + 1e6 x
property MSE (sum) of the w and c paths + beta-TC on w + groupwise TC of (w, z),
(w, c), (c, z) with minibatch-stratified sampling; for the first 100k iterations
+ 1e5 x L1 of the hard mask and no KL; after it, + kl_weight x KL with kl_weight
from 100, +1 per iteration, capped at 1e5. Adam 1e-4 (eps 1e-8, torch's),
MultiStepLR [50, 100, 150, 200] x 0.1 (per epoch), batch 64, 250 epochs.
Kaiming-uniform kernels (the original's weights_init), torch's default uniform biases.
The convolutions are `physgan.layers`' drop-in `Conv2D` / `Conv2DTranspose`
(Keras' weights; on JAX computed without strided convolutions, which XLA:CPU runs slowly).

Departures, and why:
- KL schedule in epochs: the original's 100k warm-up iterations and +1 per
  iteration are ~27 epochs each of its 295,867 responses (~3,700 steps of 64 per
  epoch with an 80% training split, our estimate: the split is not public). On the
  bundled 13,000 responses (203 steps per epoch) 250 epochs are 50,750 iterations:
  the KL would never switch on. So, when the steps per epoch are known
  (`compile(steps_per_epoch=...)`, as train.py does), the warm-up lasts
  `warmup_epochs` (27) epochs and the KL weight grows by 3,700 / steps_per_epoch
  per step: the original's schedule in epochs. `warmup_steps=N` (and
  `kl_weight_increment`) give the original's schedule in iterations.
- Conditional inputs: the original's 9 particle-level inputs (label columns 9-17)
  are not public; here the condition is a set of the response's own intensity
  properties (`condition_properties`, default n_nonzero, its category, n > 1, sum,
  max), so c carries the intensity and w the position. Pass all 9 indices to get
  the original's 9-input network.
- Minibatch-stratified sampling (a bug of the original, inherited from the beta-TCVAE
  reference code): its importance matrix is filled with a flat-index stride equal
  to the batch size, which marks columns 0 and 1 instead of the diagonal (and the
  wrap-around weight at row B-2), and the log weights are added once per latent
  dimension to all three densities; here the matrix is the one the beta-TCVAE
  paper defines (diagonal 1/N, the next element (N-M)/(NM), the wrap-around at
  row B-1) and the log weight is added once to each density.
- Properties: the original's prepare_data.py computes the centre of mass, sum and
  max on the log image (it reuses the log-transformed array) and divides by fixed
  maxima; its README defines them on the deposits ("energy distribution
  center", "total deposited energy", "peak energy"), which is what
  `physgan.data.zdc.zdc_properties` computes, min-max scaled to [0, 1].
- `optimize_w` (the original's optim.py: w ~ N(0, 1), frozen decoder, 100 plain SGD
  steps of lr 0.2 on 1e6 x the summed squared property error / n) uses Adam (lr
  0.05, 300 steps): SGD's step on each sample scales as 1e6 x lr / n, stable for
  the original's whole test set at once but divergent for a few requests; Adam's
  step does not depend on n.
- Generation clamps the decoded log(1 + counts) at 0 (a LeakyReLU output can be
  negative: no negative photon counts) and zeroes counts below `count_threshold`
  (0.5: counts are integers); `count_threshold=0` keeps every positive count.
- The notebook adds a "quasi-WS" `total_q` argument that get_losses no longer
  accepts; it is not part of the loss (as in the last runnable version).
- Generation uses the deterministic mask argmax(logits) (training samples it).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from physgan.backend import compiled, image_data_format, input_gradient
from physgan.data.zdc import IMAGE_SHAPE, PROPERTY_NAMES, PropertyScaler, ZdcData
from physgan.errors import ConfigError
from physgan.layers import Conv2D, Conv2DTranspose, SpectralNormDense
from physgan.registry import register_model
from physgan.training import GenerativeModel, LearningRateDecay, Update

SLOPE = 0.1
SN_COEFF = 0.97
SN_ITERATIONS = 5
RECONSTRUCTION_SCALE = 64.0  # the original's "/ 64" in the reconstruction loss
LOG_2PI = math.log(2.0 * math.pi)
ORIGINAL_WARMUP_STEPS = 100_000  # iterations without KL in the original
ORIGINAL_STEPS_PER_EPOCH = 3_700  # ~0.8 x 295,867 responses / 64 (see the departures)


def _torch_bias(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def _dense(units: int, fan_in: int, name: str, spectral: bool = False, activation=None):
    """Returns a Dense (or soft spectral-norm Dense) with the original's initialisation."""
    kwargs = dict(kernel_initializer="he_uniform", bias_initializer=_torch_bias(fan_in), name=name,
                  activation=activation)
    if spectral:
        return SpectralNormDense(units, coeff=SN_COEFF, power_iterations=SN_ITERATIONS, **kwargs)
    return layers.Dense(units, **kwargs)


def _lrelu(name: str):
    return layers.LeakyReLU(SLOPE, name=name)


def _split_mean_logvar(x, dim: int, name: str):
    """The original's `view(-1, dim, 2).unbind(-1)`: even columns mean, odd log-variance."""
    pairs = layers.Reshape((dim, 2), name=f"{name}_pairs")(x)
    mean = layers.Lambda(lambda t: t[..., 0], output_shape=(dim,), name=f"{name}_mean")(pairs)
    logvar = layers.Lambda(lambda t: t[..., 1], output_shape=(dim,), name=f"{name}_logvar")(pairs)
    return mean, logvar


def build_image_encoder(z_dim: int, w_dim: int, channels: int = 32, hidden: int = 512,
                        data_format: str = "channels_last") -> keras.Model:
    """Returns image (44, 44, 1) -> [mean_z, mean_w, logvar_z, logvar_w]."""
    image = keras.Input((*IMAGE_SHAPE, 1), name="log_image")
    x = image if data_format == "channels_last" else layers.Permute((3, 1, 2), name="to_internal")(image)
    in_channels = 1
    for i, stride in enumerate((2, 2, 3)):
        x = layers.ZeroPadding2D(1, data_format=data_format, name=f"pad_{i}")(x)
        x = Conv2D(channels, 4, strides=stride, data_format=data_format, kernel_initializer="he_uniform",
                   bias_initializer=_torch_bias(in_channels * 16), name=f"conv_{i}")(x)
        x = _lrelu(f"conv_{i}_lrelu")(x)
        in_channels = channels
    if data_format != "channels_last":
        x = layers.Permute((2, 3, 1), name="to_channels_last")(x)
    x = layers.Flatten(name="flatten")(x)
    fan_in = channels * 16
    for i in range(2):
        x = _lrelu(f"dense_{i}_lrelu")(_dense(hidden, fan_in, f"dense_{i}")(x))
        fan_in = hidden
    x = _dense(2 * (z_dim + w_dim), hidden, "mean_logvar")(x)
    mean, logvar = _split_mean_logvar(x, z_dim + w_dim, "latent")
    cut = lambda t, lo, hi, name: layers.Lambda(lambda a: a[:, lo:hi], output_shape=(hi - lo,), name=name)(t)  # noqa: E731
    total = z_dim + w_dim
    outputs = [cut(mean, 0, z_dim, "mean_z"), cut(mean, z_dim, total, "mean_w"),
               cut(logvar, 0, z_dim, "logvar_z"), cut(logvar, z_dim, total, "logvar_w")]
    return keras.Model(image, outputs, name="image_encoder")


def build_condition_encoder(n_conditions: int, c_dim: int, hidden: int = 512) -> keras.Model:
    """Returns conditions (n_conditions,) -> [mean_c, logvar_c] (spectral-norm MLP)."""
    conditions = keras.Input((n_conditions,), name="conditions")
    x = _lrelu("sn_dense_0_lrelu")(_dense(hidden, n_conditions, "sn_dense_0", spectral=True)(conditions))
    x = _lrelu("sn_dense_1_lrelu")(_dense(hidden, hidden, "sn_dense_1", spectral=True)(x))
    x = _dense(2 * c_dim, hidden, "sn_mean_logvar", spectral=True)(x)
    return keras.Model(conditions, list(_split_mean_logvar(x, c_dim, "c")), name="condition_encoder")


def build_decoder(latent_dim: int, channels: int = 32, hidden: int = 512,
                  data_format: str = "channels_last") -> keras.Model:
    """Returns [w, z, c] concatenated (latent_dim,) -> log image (44, 44, 1)."""
    latent = keras.Input((latent_dim,), name="wzc")
    x, fan_in = latent, latent_dim
    for i, units in enumerate((hidden, hidden, channels * 16)):
        x = _lrelu(f"dense_{i}_lrelu")(_dense(units, fan_in, f"dense_{i}")(x))
        fan_in = units
    x = layers.Reshape((4, 4, channels), name="to_4x4")(x)
    if data_format != "channels_last":
        x = layers.Permute((3, 1, 2), name="to_internal")(x)
    # torch ConvTranspose2d(k4, s, p1) = Keras "valid" transpose, cropped by 1 on each side.
    for i, (stride, filters) in enumerate(((3, channels), (2, channels), (2, 1))):
        x = Conv2DTranspose(filters, 4, strides=stride, data_format=data_format,
                            kernel_initializer="he_uniform", bias_initializer=_torch_bias(filters * 16),
                            name=f"conv_t_{i}")(x)
        x = layers.Cropping2D(1, data_format=data_format, name=f"crop_{i}")(x)
        x = _lrelu(f"conv_t_{i}_lrelu")(x)
    if data_format != "channels_last":
        x = layers.Permute((2, 3, 1), name="to_channels_last")(x)
    return keras.Model(latent, x, name="decoder")


def build_property_map(w_dim: int, index: int) -> tuple[keras.Model, keras.Model]:
    """Returns (masked w (w_dim,) -> w' (1,), w' (1,) -> g(w') (1,)) of one property."""
    w = keras.Input((w_dim,), name="masked_w")
    h = _lrelu("lrelu")(_dense(16, w_dim, "dense_0")(w))
    to_prime = keras.Model(w, _dense(1, 16, "dense_1")(h), name=f"w_prime_{index}")
    w_prime = keras.Input((1,), name="w_prime")
    h = _lrelu("lrelu")(_dense(16, 1, "sn_dense_0", spectral=True)(w_prime))
    g = _dense(1, 16, "sn_dense_1", spectral=True, activation="sigmoid")(h)
    return to_prime, keras.Model(w_prime, g, name=f"residual_{index}")


def build_condition_property_decoder(c_dim: int, n_out: int, hidden: int = 512) -> keras.Model:
    """Returns c (c_dim,) -> the condition-decoded properties (n_out,)."""
    c = keras.Input((c_dim,), name="c")
    x = _lrelu("lrelu_0")(_dense(hidden, c_dim, "sn_dense_0", spectral=True)(c))
    x = _lrelu("lrelu_1")(_dense(n_out, hidden, "sn_dense_1", spectral=True)(x))
    return keras.Model(c, x, name="condition_property_decoder")


@keras.saving.register_keras_serializable(package="physgan")
class CorrVAENetworks(keras.Model):
    """All CorrVAE networks and the mask logits: the one network the optimizer updates."""

    def __init__(self, z_dim: int, w_dim: int, c_dim: int, n_conditions: int, n_properties: int,
                 n_condition_targets: int, **kwargs):
        super().__init__(**kwargs)
        data_format = image_data_format()
        with keras.name_scope("image_encoder"):
            self.image_encoder = build_image_encoder(z_dim, w_dim, data_format=data_format)
        with keras.name_scope("condition_encoder"):
            self.condition_encoder = build_condition_encoder(n_conditions, c_dim)
        with keras.name_scope("decoder"):
            self.decoder = build_decoder(z_dim + w_dim + c_dim, data_format=data_format)
        self.w_prime_maps, self.residual_maps = [], []
        for i in range(n_properties):
            with keras.name_scope(f"property_{i}"):
                to_prime, residual = build_property_map(w_dim, i)
            self.w_prime_maps.append(to_prime)
            self.residual_maps.append(residual)
        with keras.name_scope("condition_property_decoder"):
            self.condition_property_decoder = build_condition_property_decoder(c_dim, n_condition_targets)
        self.mask_logits = self.add_weight(shape=(n_properties, w_dim, 2), name="mask_logits",
                                           initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.built = True

    def properties_from_w(self, w, mask, training=False):
        """Returns (y (B, props), w' (B, props)): y_i = g_i(w'_i) + w'_i, w'_i from w * mask_i."""
        primes, values = [], []
        for i, (to_prime, residual) in enumerate(zip(self.w_prime_maps, self.residual_maps)):
            w_prime = to_prime(w * ops.cast(mask[i][None, :], w.dtype), training=training)
            primes.append(w_prime)
            values.append(residual(w_prime, training=training) + w_prime)
        return ops.concatenate(values, axis=-1), ops.concatenate(primes, axis=-1)


def log_density_gaussian(x, mean, logvar):
    """Returns the elementwise log N(x; mean, exp(logvar))."""
    x, mean, logvar = (ops.convert_to_tensor(t) for t in (x, mean, logvar))
    return -0.5 * (LOG_2PI + logvar) - 0.5 * ops.square(x - mean) * ops.exp(-logvar)


def _pairwise_log_density(sample, mean, logvar):
    """Returns (B, B, D): log q(sample_i | x_j) per dimension."""
    sample, mean, logvar = (ops.convert_to_tensor(t) for t in (sample, mean, logvar))
    return log_density_gaussian(sample[:, None, :], mean[None, :, :], logvar[None, :, :])


def log_importance_weights(batch_size, dataset_size: float):
    """Returns the (B, B) log weights of minibatch-stratified sampling (beta-TCVAE)."""
    m = ops.cast(batch_size - 1, "float32")
    n = float(dataset_size)
    strat = (n - m) / (n * m)
    i = ops.arange(batch_size)[:, None]
    j = ops.arange(batch_size)[None, :]
    weights = ops.where(i == j, 1.0 / n, ops.where(j == (i + 1) % batch_size, strat, 1.0 / m))
    return ops.log(weights)


def total_correlation(sample, mean, logvar):
    """Returns mean_i [log q(w_i) - sum_d log q(w_id)], the TC of one latent (no stratification)."""
    matrix = _pairwise_log_density(sample, mean, logvar)
    log_q = ops.logsumexp(ops.sum(matrix, axis=2), axis=1)
    log_prod = ops.sum(ops.logsumexp(matrix, axis=1), axis=1)
    return ops.mean(log_q - log_prod)


def groupwise_total_correlation(a, b, dataset_size: float):
    """Returns mean [log q(a, b) - log q(a) - log q(b)] with stratified sampling.

    `a`, `b`: (sample, mean, logvar) of two latents.
    """
    log_iw = log_importance_weights(ops.shape(a[1])[0], dataset_size)

    def log_q(*groups):
        total = sum(ops.sum(_pairwise_log_density(*g), axis=2) for g in groups)
        return ops.logsumexp(total + log_iw, axis=1)

    return ops.mean(log_q(a, b) - log_q(a) - log_q(b))


def kl_to_prior(mean, logvar):
    """Returns sum_d of the batch mean of KL(N(mean, exp(logvar)) || N(0, 1))."""
    mean, logvar = ops.convert_to_tensor(mean), ops.convert_to_tensor(logvar)
    return ops.sum(ops.mean(0.5 * (-1.0 - logvar + ops.square(mean) + ops.exp(logvar)), axis=0))


@register_model(
    "corrvae",
    "ALICE ZDC CorrVAE: 44x44 responses controlled by 9 properties (w/z/c latents, spectral norm)",
)
@keras.saving.register_keras_serializable(package="physgan")
class CorrVAE(GenerativeModel):
    """CorrVAE of ZDC responses.

    Batches are dicts: `image` (B, 44, 44, 1) log(1 + counts) and `properties`
    (B, 9) scaled to [0, 1] by `scaler`.
    """

    dataset = "zdc"

    metric_names = ("loss", "reconstruction_loss", "property_loss", "condition_property_loss", "kl_loss",
                    "tc_loss", "groupwise_tc_wz", "groupwise_tc_wc", "groupwise_tc_cz", "mask_l1", "kl_weight")
    default_batch_size = 64
    default_epochs = 250

    def __init__(
        self,
        z_dim: int = 8,
        w_dim: int = 8,
        c_dim: int = 8,
        w_properties: tuple = (2, 3),
        condition_properties: tuple = (4, 5, 6, 7, 8),
        condition_target_properties: tuple = (7, 8),
        beta: float = 1.0,
        reconstruction_weight: float = 1e6,
        property_weight: float = 1e6,
        mask_l1_weight: float = 1e5,
        warmup_epochs: float = ORIGINAL_WARMUP_STEPS / ORIGINAL_STEPS_PER_EPOCH,
        warmup_steps: int | None = None,
        kl_weight_start: float = 100.0,
        kl_weight_max: float = 1e5,
        kl_weight_increment: float | None = None,
        tau: float = 0.2,
        tau_decay: float = 0.1,
        tau_decay_epochs: int = 10,
        mask_noise: bool = True,
        learning_rate: float = 1e-4,
        lr_milestones: tuple = (50, 100, 150, 200),
        lr_decay: float = 0.1,
        dataset_size: int = 13_000,
        scaler: dict | None = None,
        reference_properties: tuple | None = None,
        count_threshold: float = 0.5,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        n = len(PROPERTY_NAMES)
        for name, indices in (("w_properties", w_properties), ("condition_properties", condition_properties),
                              ("condition_target_properties", condition_target_properties)):
            if not indices or any(not 0 <= int(i) < n for i in indices):
                raise ConfigError(f"{name} must be a non-empty list of property indices 0..{n - 1}, got {indices!r}")
        for name, value in (("z_dim", z_dim), ("w_dim", w_dim), ("c_dim", c_dim), ("dataset_size", dataset_size)):
            if int(value) < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if warmup_epochs < 0 or (warmup_steps is not None and warmup_steps < 0):
            raise ConfigError(f"the KL warm-up must be >= 0, got warmup_epochs={warmup_epochs}, "
                              f"warmup_steps={warmup_steps}")
        self.z_dim, self.w_dim, self.c_dim = int(z_dim), int(w_dim), int(c_dim)
        self.w_properties = tuple(int(i) for i in w_properties)
        self.condition_properties = tuple(int(i) for i in condition_properties)
        self.condition_target_properties = tuple(int(i) for i in condition_target_properties)
        self.beta = float(beta)
        self.reconstruction_weight = float(reconstruction_weight)
        self.property_weight = float(property_weight)
        self.mask_l1_weight = float(mask_l1_weight)
        self.warmup_epochs = float(warmup_epochs)
        self.warmup_steps = None if warmup_steps is None else int(warmup_steps)
        self.kl_weight_increment = None if kl_weight_increment is None else float(kl_weight_increment)
        self.kl_weight_start = float(kl_weight_start)
        self.kl_weight_max = float(kl_weight_max)
        self.tau = float(tau)
        self.tau_decay = float(tau_decay)
        self.tau_decay_epochs = int(tau_decay_epochs)
        self.mask_noise = bool(mask_noise)
        self.learning_rate = float(learning_rate)
        self.lr_milestones = tuple(int(m) for m in lr_milestones)
        self.lr_decay = float(lr_decay)
        self.dataset_size = int(dataset_size)
        self.scaler = PropertyScaler.from_dict(scaler) if scaler else PropertyScaler.default()
        if reference_properties is None:
            reference_properties = (0.5,) * n
        if len(reference_properties) != n:
            raise ConfigError(f"reference_properties must hold {n} scaled values, got {reference_properties!r}")
        self.reference_properties = tuple(float(v) for v in reference_properties)
        self.count_threshold = float(count_threshold)
        self.seed = seed
        with keras.name_scope("corrvae"):
            self.vae = CorrVAENetworks(self.z_dim, self.w_dim, self.c_dim, len(self.condition_properties),
                                       len(self.w_properties), len(self.condition_target_properties),
                                       name="corrvae")
        self.iteration = self.add_weight(shape=(), initializer="zeros", trainable=False, name="iteration")
        self.kl_weight = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.kl_weight_start),
                                         trainable=False, name="kl_weight")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    # --- engine hooks ----------------------------------------------------------------

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return ("image", "properties")

    def networks(self) -> dict:
        return {"corrvae": self.vae}

    def update_schedule(self) -> list[Update]:
        return [Update("corrvae", "vae_loss")]

    def _steps_per_epoch(self) -> int | None:
        return self.get_compile_config().get("steps_per_epoch")

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        return {"corrvae": keras.optimizers.Adam(self.learning_rate, epsilon=1e-8)}

    def training_callbacks(self) -> list:
        """The learning rate x `lr_decay` after each epoch in `lr_milestones` (MultiStepLR)."""
        if not self.lr_milestones or self.lr_decay == 1.0:
            return []
        return [LearningRateDecay(self.lr_decay, milestones=self.lr_milestones)]

    # --- forward -----------------------------------------------------------------------

    def _reparameterize(self, mean, logvar):
        noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator, dtype=mean.dtype)
        return mean + ops.exp(0.5 * logvar) * noise

    def kl_schedule(self) -> tuple[int, float]:
        """Returns (warm-up steps, KL weight increment per step): `warmup_steps` if
        given, else `warmup_epochs` in steps and the original's increment rescaled to
        the same epochs; the original's (100k, +1) when the steps per epoch are unknown."""
        steps_per_epoch = self._steps_per_epoch()
        increment = self.kl_weight_increment
        if self.warmup_steps is not None or not steps_per_epoch:
            warmup = ORIGINAL_WARMUP_STEPS if self.warmup_steps is None else self.warmup_steps
            return warmup, 1.0 if increment is None else increment
        return (round(self.warmup_epochs * steps_per_epoch),
                ORIGINAL_STEPS_PER_EPOCH / steps_per_epoch if increment is None else increment)

    def temperature(self, step):
        """Returns the Gumbel-softmax temperature at (0-based) training `step`."""
        steps_per_epoch = self._steps_per_epoch()
        if not steps_per_epoch:
            return ops.convert_to_tensor(self.tau, "float32")
        epoch = ops.floor(ops.cast(step, "float32") / float(steps_per_epoch))
        decays = ops.floor((epoch + 1.0) / float(self.tau_decay_epochs))
        return ops.maximum(self.tau * ops.power(self.tau_decay, decays), 1e-30)

    def sampled_mask(self, tau):
        """Returns the hard Gumbel-softmax mask (props, w_dim), straight-through gradients."""
        # The original passes sigmoid(m) / (1 - sigmoid(m)) = exp(m) as the logits.
        logits = ops.exp(self.vae.mask_logits)
        if self.mask_noise:
            uniform = keras.random.uniform(ops.shape(logits), minval=1e-10, maxval=1.0, seed=self.seed_generator)
            logits = logits - ops.log(-ops.log(uniform))
        soft = ops.softmax(logits / tau, axis=-1)
        hard = ops.one_hot(ops.argmax(soft, axis=-1), 2, dtype=soft.dtype)
        return (hard - ops.stop_gradient(soft) + soft)[..., 1]

    def mask(self):
        """Returns the deterministic mask used for generation: argmax of the logits."""
        logits = self.vae.mask_logits
        return ops.cast(logits[..., 1] > logits[..., 0], "float32")

    def _columns(self, properties, indices):
        return ops.stack([properties[:, i] for i in indices], axis=1)

    def call(self, inputs, training=False):
        """Returns the reconstruction (B, 44, 44, 1) of `inputs` {image, properties} from latent means."""
        mean_z, mean_w, _, _ = self.vae.image_encoder(inputs["image"], training=training)
        mean_c, _ = self.vae.condition_encoder(self._columns(inputs["properties"], self.condition_properties),
                                               training=training)
        return self.vae.decoder(ops.concatenate([mean_w, mean_z, mean_c], axis=-1), training=training)

    # --- loss --------------------------------------------------------------------------

    def vae_loss(self, batch):
        image, properties = batch["image"], batch["properties"]
        batch_size = ops.cast(ops.shape(image)[0], "float32")
        vae = self.vae
        step = self.iteration + 1.0  # the original counts the iteration before its loss
        self.iteration.assign(step)
        as_float32 = lambda outputs: [ops.cast(t, "float32") for t in outputs]  # noqa: E731 (losses in float32)
        mean_z, mean_w, logvar_z, logvar_w = as_float32(vae.image_encoder(image, training=True))
        mean_c, logvar_c = as_float32(vae.condition_encoder(self._columns(properties, self.condition_properties),
                                                            training=True))
        z = self._reparameterize(mean_z, logvar_z)
        w = self._reparameterize(mean_w, logvar_w)
        c = self._reparameterize(mean_c, logvar_c)
        mask = self.sampled_mask(self.temperature(step - 1.0))
        reconstruction = ops.cast(vae.decoder(ops.concatenate([w, z, c], axis=-1), training=True), "float32")
        y_w = ops.cast(vae.properties_from_w(w, mask, training=True)[0], "float32")
        y_c = ops.cast(vae.condition_property_decoder(c, training=True), "float32")

        reconstruction_loss = ops.sum(ops.square(reconstruction - image)) / RECONSTRUCTION_SCALE / batch_size
        property_loss = ops.sum(ops.square(y_w - self._columns(properties, self.w_properties)))
        condition_property_loss = ops.sum(ops.square(y_c - self._columns(properties, self.condition_target_properties)))
        kl = kl_to_prior(ops.concatenate([mean_w, mean_z, mean_c], axis=-1),
                         ops.concatenate([logvar_w, logvar_z, logvar_c], axis=-1))
        tc = self.beta * total_correlation(w, mean_w, logvar_w)
        groups = {"w": (w, mean_w, logvar_w), "z": (z, mean_z, logvar_z), "c": (c, mean_c, logvar_c)}
        tc_wz = self.beta * groupwise_total_correlation(groups["z"], groups["w"], self.dataset_size)
        tc_wc = self.beta * groupwise_total_correlation(groups["c"], groups["w"], self.dataset_size)
        tc_cz = self.beta * groupwise_total_correlation(groups["c"], groups["z"], self.dataset_size)
        mask_l1 = ops.sum(ops.abs(mask))

        warmup_steps, increment = self.kl_schedule()
        warm = step <= float(warmup_steps)
        kl_weight = ops.convert_to_tensor(self.kl_weight)
        kl_weight = ops.where(warm, kl_weight, ops.minimum(kl_weight + increment, self.kl_weight_max))
        self.kl_weight.assign(kl_weight)
        loss = (self.reconstruction_weight * reconstruction_loss
                + self.property_weight * (property_loss + condition_property_loss)
                + tc + tc_wz + tc_wc + tc_cz
                + ops.where(warm, self.mask_l1_weight * mask_l1, kl_weight * kl))
        return loss, {
            "loss": loss, "reconstruction_loss": reconstruction_loss, "property_loss": property_loss,
            "condition_property_loss": condition_property_loss, "kl_loss": kl, "tc_loss": tc,
            "groupwise_tc_wz": tc_wz, "groupwise_tc_wc": tc_wc, "groupwise_tc_cz": tc_cz,
            "mask_l1": mask_l1, "kl_weight": kl_weight,
        }

    # --- operations ------------------------------------------------------------------

    def scale_properties(self, condition, n: int | None = None) -> np.ndarray:
        """Returns (n, 9) scaled properties from physical ones.

        `condition`: an (n, 9) or (9,) array of physical properties, or a dict
        {property name: physical value or (n,) values}; properties a dict leaves
        out take `reference_properties` (the training data's medians).
        """
        if isinstance(condition, dict):
            unknown = set(condition) - set(PROPERTY_NAMES)
            if unknown:
                raise ConfigError(f"unknown ZDC properties {sorted(unknown)}; expected some of {PROPERTY_NAMES}")
            scaled = np.tile(np.asarray(self.reference_properties, "float64"), (n or 1, 1))
            physical = self.scaler.inverse_transform(scaled)
            for name, value in condition.items():
                physical[:, PROPERTY_NAMES.index(name)] = value
            return self.scaler.transform(physical).astype("float32")
        physical = np.asarray(condition, dtype="float64")
        if physical.ndim == 1:
            physical = np.tile(physical, (n or 1, 1))
        if physical.shape[-1] != len(PROPERTY_NAMES) or physical.ndim != 2:
            raise ConfigError(f"a CorrVAE condition must be (n, {len(PROPERTY_NAMES)}) physical properties or a "
                              f"dict of them, got shape {physical.shape}")
        if not np.isfinite(physical).all():
            raise ConfigError("a CorrVAE condition holds NaN or infinite properties")
        return self.scaler.transform(physical).astype("float32")

    def predict_properties(self, w) -> np.ndarray:
        """Returns the scaled `w_properties` (n, props) that latent `w` (n, w_dim) encodes."""
        y, _ = self.vae.properties_from_w(ops.convert_to_tensor(np.asarray(w, "float32")), self.mask())
        return ops.convert_to_numpy(y)

    def invert_property(self, values, index: int, steps: int = 20) -> np.ndarray:
        """Returns w' with g(w') + w' = `values` for w-property `index` (the original's
        iterate_get_w: `steps` fixed-point iterations; g is a contraction)."""
        target = np.asarray(values, "float32").reshape(-1, 1)
        residual = self.vae.residual_maps[index]
        w_prime = target
        for _ in range(steps):
            w_prime = target - ops.convert_to_numpy(residual(ops.convert_to_tensor(w_prime)))
        return w_prime[:, 0]

    def optimize_w(self, target_properties, steps: int = 300, learning_rate: float = 0.05,
                   seed: int | None = None) -> np.ndarray:
        """Returns w (n, w_dim) whose predicted properties match `target_properties`.

        As the original's optim.py, the networks frozen and w ~ N(0, 1) optimised on
        the squared error of the property path, but with Adam (per sample,
        independent of n; see the module docstring) instead of plain SGD.
        `target_properties`: (n, len(w_properties)) scaled values in [0, 1].
        """
        target = np.asarray(target_properties, "float32")
        if target.ndim != 2 or target.shape[1] != len(self.w_properties):
            raise ConfigError(f"optimize_w needs (n, {len(self.w_properties)}) scaled targets for properties "
                              f"{[PROPERTY_NAMES[i] for i in self.w_properties]}, got shape {target.shape}")
        rng = np.random.default_rng(seed)
        w = rng.standard_normal((len(target), self.w_dim)).astype("float32")
        mask, target_tensor = self.mask(), ops.convert_to_tensor(target)

        def squared_error(w_tensor):
            y, _ = self.vae.properties_from_w(w_tensor, mask)
            return ops.sum(ops.square(y - target_tensor), axis=-1)

        beta1, beta2 = 0.9, 0.999

        def adam_step(w, first, second, t):
            grad = input_gradient(squared_error, w)
            first = beta1 * first + (1 - beta1) * grad
            second = beta2 * second + (1 - beta2) * ops.square(grad)
            step = learning_rate * (first / (1 - beta1**t)) / (ops.sqrt(second / (1 - beta2**t)) + 1e-8)
            return w - step, first, second

        step_fn = compiled(adam_step)
        w = ops.convert_to_tensor(w)
        first, second = ops.zeros_like(w), ops.zeros_like(w)
        for t in range(1, steps + 1):
            w, first, second = step_fn(w, first, second, ops.convert_to_tensor(float(t)))
        return ops.convert_to_numpy(w)

    def _latents(self, n: int, condition, seed: int | None, optimize_steps: int):
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.z_dim)).astype("float32")
        if condition is None:
            w = rng.standard_normal((n, self.w_dim)).astype("float32")
            c = rng.standard_normal((n, self.c_dim)).astype("float32")
            return z, w, c
        scaled = self.scale_properties(condition, n)
        if len(scaled) != n:
            raise ConfigError(f"the condition holds {len(scaled)} rows for n={n} samples")
        w = self.optimize_w(scaled[:, list(self.w_properties)], steps=optimize_steps, seed=seed)
        mean_c, logvar_c = self.predict_in_batches(self.vae.condition_encoder,
                                                   scaled[:, list(self.condition_properties)])
        c = (mean_c + np.exp(0.5 * logvar_c) * rng.standard_normal(mean_c.shape)).astype("float32")
        return z, w, c

    def decode(self, z, w, c) -> np.ndarray:
        """Returns photon counts (n, 44, 44) decoded from latents z, w, c."""
        latent = np.concatenate([w, z, c], axis=-1).astype("float32")
        log_image = self.predict_in_batches(self.vae.decoder, latent)[..., 0]
        counts = np.expm1(np.maximum(log_image, 0.0))
        return np.where(counts < self.count_threshold, 0.0, counts).astype("float32")

    def sample(self, n: int, condition=None, seed: int | None = None, optimize_steps: int = 300) -> ZdcData:
        """Returns `n` responses: `ZdcData` with images (n, 44, 44) in photon counts
        and the properties measured on them.

        Args:
            n: number of responses.
            condition: None (z, w, c from the prior), or the requested physical
                properties: an (n, 9) / (9,) array or a dict such as
                {"centre_x": 10, "centre_y": 30} (see `scale_properties`); w is
                then optimised to give the w-properties and c encodes the
                condition properties.
            seed: makes z (and the w start) reproducible on every backend.
            optimize_steps: Adam steps of `optimize_w`.
        """
        return ZdcData(self.decode(*self._latents(n, condition, seed, optimize_steps)))

    def reconstruct(self, log_images, scaled_properties) -> np.ndarray:
        """Returns the reconstructions (n, 44, 44) in photon counts from the latent means."""
        mean_z, mean_w, _, _ = self.predict_in_batches(self.vae.image_encoder, np.asarray(log_images, "float32"))
        cond = np.asarray(scaled_properties, "float32")[:, list(self.condition_properties)]
        mean_c, _ = self.predict_in_batches(self.vae.condition_encoder, cond)
        return self.decode(mean_z, mean_w, mean_c)

    def traverse(self, w_index: int, values, seed: int | None = 0, condition=None) -> np.ndarray:
        """Returns responses (len(values), 44, 44) along latent dimension `w_index` of w.

        z, c and the other w dimensions are fixed (drawn from the prior with
        `seed`, or c from `condition` as in `sample`).
        """
        if not 0 <= int(w_index) < self.w_dim:
            raise ConfigError(f"w_index must be in 0..{self.w_dim - 1}, got {w_index}")
        values = np.asarray(values, "float32").reshape(-1)
        z, w, c = self._latents(1, condition, seed, optimize_steps=300)
        n = len(values)
        w = np.repeat(w, n, axis=0)
        w[:, int(w_index)] = values
        return self.decode(np.repeat(z, n, axis=0), w, np.repeat(c, n, axis=0))

    def model_figures(self, reference: ZdcData, out_dir) -> list:
        """Returns the CorrVAE figures: reconstructions of `reference`, the original's
        example generation (centre 10, 30; scaled size 0.3), w traversals (PNG, GIF)."""
        from physgan.plots.zdc import plot_corrvae_figures

        return plot_corrvae_figures(self, reference, out_dir, seed=0)

    # --- config ------------------------------------------------------------------------

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "z_dim": self.z_dim,
            "w_dim": self.w_dim,
            "c_dim": self.c_dim,
            "w_properties": list(self.w_properties),
            "condition_properties": list(self.condition_properties),
            "condition_target_properties": list(self.condition_target_properties),
            "beta": self.beta,
            "reconstruction_weight": self.reconstruction_weight,
            "property_weight": self.property_weight,
            "mask_l1_weight": self.mask_l1_weight,
            "warmup_epochs": self.warmup_epochs,
            "warmup_steps": self.warmup_steps,
            "kl_weight_start": self.kl_weight_start,
            "kl_weight_max": self.kl_weight_max,
            "kl_weight_increment": self.kl_weight_increment,
            "tau": self.tau,
            "tau_decay": self.tau_decay,
            "tau_decay_epochs": self.tau_decay_epochs,
            "mask_noise": self.mask_noise,
            "learning_rate": self.learning_rate,
            "lr_milestones": list(self.lr_milestones),
            "lr_decay": self.lr_decay,
            "dataset_size": self.dataset_size,
            "scaler": self.scaler.to_dict(),
            "reference_properties": list(self.reference_properties),
            "count_threshold": self.count_threshold,
            "seed": self.seed,
        }
