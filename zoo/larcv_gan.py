"""LArCV particle generator: the MLP GAN of kseuro/particle_generator (@f426119).

Images are single-channel (H, W) pictures mapped to [-1, 1] (LArCV1 event-display
crops, MNIST as the original's proof of concept, scikit-learn's 8x8 digits offline);
batches are dicts `{"image": (B, H, W, 1) float32}`. The model trains on the data
sets `digits`, `mnist` and `larcv`; `sample()` returns the events of the one it was
built for (`dataset`), in its physical units (`image_scale` maps [-1, 1] back).

Architecture (the original `gan.py`, `layers.py`, `setup_model.get_gan_kwargs`):
- generator: z (100) ~ N(0, 1) -> `n_layers` (4) x [Linear(n_hidden=512) +
  LeakyReLU(0.5)] -> Linear(H*W) -> tanh -> (H, W, 1)
  (1,241,872 parameters for 28x28);
- discriminator: image flattened row-major (torch's `x.view(B, -1)`) ->
  `n_layers` x [Linear(n_hidden) + LeakyReLU(0.5)] -> Linear(1)
  (1,190,401 parameters for 28x28);
- both initialised as the original `weights_init`: weights N(0, 0.02), biases 0.

Training (the original `train_fns.GAN_train_fn`): one discriminator update then
one generator update per batch (1:1). Discriminator loss BCE(D(x), 1) +
BCE(D(G(z)), 0) (the original backpropagated the two terms one after the other
before one optimizer step: the gradient of their sum); generator loss
BCE(D(G(z')), 1) with fresh noise z' (non-saturating); hard labels 1 / 0. The
original logged d_loss_real, d_loss_fake and g_loss; we also log their sum d_loss.
Optimizers (`--g_opt`, `--d_opt`, `utils.gan_optim`), one per network: `adam` is
torch.optim.Adam's defaults (beta_1 0.9, beta_2 0.999, epsilon 1e-8) at
learning rate 1e-4 -- the original parses `--beta 0.5` but never passes it to
Adam, so the launch scripts' `--beta 0.5` had no effect and we do not use it;
`sgd` is SGD with momentum `p` = 0.9 (the original's `--p`, "Momentum value for
SGD optimizer"; it is not label smoothing). Batch 24 (the argparser default;
launch_scripts/gan_mnist.sh used 128); 150 epochs as that launch script (the
argparser's default is 1 epoch). On LArCV data the original flipped each
training image horizontally with probability 0.5 (torchvision's
RandomHorizontalFlip; `horizontal_flip=True` here); MNIST was not flipped, and
the default here is off because the model cannot tell which data it is given.

Departures, and why:
- The original discriminator ends in a sigmoid and trains with `nn.BCELoss`; ours
  outputs the logit and uses BCE from logits. The loss is mathematically the
  same function of the weights (BCE(sigmoid(l), y)); from logits it stays finite
  where a float32 sigmoid saturates to 0 or 1 (where torch's BCELoss clamps
  log at -100 and its gradient vanishes).
- `rmsprop` is an addition (torch.optim.RMSprop's defaults: rho 0.99, epsilon
  1e-8); the original offered adam and sgd only. Keras adds epsilon under the
  square root, torch to it: we pass epsilon 1e-16 so the floor of the
  denominator is torch's 1e-8 (sqrt(v + 1e-16) against sqrt(v) + 1e-8).
- Keras' Adam adds epsilon to sqrt(v) before the bias correction of v, torch
  after: Keras' step is torch's with epsilon 1e-8 / sqrt(1 - 0.999**t) (3e-7 at
  the first step, 1e-8 after some thousands), so the two differ only where a
  gradient is below about 1e-6.
- The original reshaped every batch with `x.view(config['batch_size'], -1)` and
  so needed full batches (`--drop_last True`); any batch size works here.
- `sample` and `discriminate` (the discriminator's probability) are additions
  for evaluation; the original wrote sample grids from fixed noise.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from physgan.backend import no_gradient
from physgan.data.images import ImageEvents, denormalise
from physgan.errors import ConfigError, DataError
from physgan.registry import register_model
from physgan.training import DiscriminatorThenGenerator, GenerativeModel

LEAKY_SLOPE = 0.5  # the original FullyConnected blocks: nn.LeakyReLU(0.5)
INIT_STDDEV = 0.02  # the original weights_init: weight.normal_(0, 0.02), bias zero
SGD_MOMENTUM = 0.9  # the original --p
OPTIMIZER_NAMES = ("adam", "sgd", "rmsprop")


# === Options =======================================================================


def checked_number(name: str, value, test, wanted: str) -> float:
    """Returns float `value`; ConfigError naming `name` and `wanted` unless
    `test(float(value))` holds (booleans and non-numbers never pass)."""
    try:
        number = float(value)
        ok = not isinstance(value, (bool, str)) and bool(test(number))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be {wanted}, got {value!r}")
    return number


def checked_positive(name: str, value, minimum: int = 1) -> int:
    """Returns int `value`; ConfigError naming `name` unless it is a whole number >= `minimum`."""
    return int(checked_number(name, value, lambda v: v == int(v) and v >= minimum, f"an int >= {minimum}"))


def checked_learning_rate(name: str, value) -> float:
    """Returns learning rate `value` as float; ConfigError naming `name` unless it is > 0."""
    return checked_number(name, value, lambda v: v > 0, "a learning rate > 0")


def checked_momentum(value) -> float:
    """Returns the SGD momentum `value` as float; ConfigError unless 0 <= value <= 1."""
    return checked_number("momentum", value, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1] (the original --p)")


def checked_image_scale(value) -> float:
    """Returns the physical value of a pixel at +1 as float; ConfigError unless it is > 0."""
    return checked_number("image_scale", value, lambda v: v > 0, "> 0 (the physical value of a pixel at +1)")


def checked_image_shape(image_shape) -> tuple[int, int]:
    """Returns `image_shape` as (H, W) positive ints in pixels; ConfigError naming the value otherwise."""
    if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__") or len(image_shape) != 2:
        raise ConfigError(f"image_shape must be (height, width) in pixels, got {image_shape!r}")
    try:
        return tuple(checked_positive("image_shape", v) for v in image_shape)
    except ConfigError:
        raise ConfigError(f"image_shape must be (height, width) of positive ints, got {image_shape!r}") from None


def checked_optimizer_name(name: str, value: str) -> str:
    """Returns optimizer `value` lower-cased; ConfigError if it is not one of OPTIMIZER_NAMES."""
    if not isinstance(value, str) or value.lower() not in OPTIMIZER_NAMES:
        raise ConfigError(f"{name} must be one of {', '.join(OPTIMIZER_NAMES)}, got {value!r}")
    return value.lower()


def make_optimizer(name: str, learning_rate: float, momentum: float = SGD_MOMENTUM):
    """Returns the Keras twin of the original's torch optimizer `name`."""
    if name == "adam":  # torch.optim.Adam defaults
        return keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    if name == "sgd":  # torch SGD momentum: v = mu v + g; same steps at a constant rate
        return keras.optimizers.SGD(learning_rate, momentum=momentum)
    # torch adds epsilon 1e-8 to sqrt(v), Keras adds it to v: the same floor with 1e-16.
    return keras.optimizers.RMSprop(learning_rate, rho=0.99, epsilon=1e-16)


# === Images ========================================================================


def check_image_batch(images, image_shape: tuple[int, int], model: str):
    """Returns `images` after checking they are (B, H, W, 1) for `image_shape` (static shape)."""
    expected = (*image_shape, 1)
    shape = tuple(images.shape[1:])
    if len(shape) != 3 or any(s is not None and s != e for s, e in zip(shape, expected)):
        raise DataError(
            f"physgan: {model} with image_shape={tuple(image_shape)} trains on images of shape "
            f"(N, {expected[0]}, {expected[1]}, 1), got (N, {', '.join(str(s) for s in shape)})"
        )
    return images


def images_from_batch(batch, image_shape: tuple[int, int], model: str):
    """Returns the `image` tensor of a training batch, checked."""
    if not isinstance(batch, dict) or "image" not in batch:
        found = ", ".join(sorted(batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"physgan: {model} trains on batches {{'image': (B, H, W, 1)}}, got {found}")
    return check_image_batch(batch["image"], image_shape, model)


def as_image_array(images, image_shape: tuple[int, int], model: str) -> np.ndarray:
    """Returns numpy `images` (N, H, W) or (N, H, W, 1) as float32 (N, H, W, 1)."""
    array = np.asarray(images, dtype="float32")
    given = array.shape
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[1:] != (*image_shape, 1):
        raise DataError(
            f"physgan: {model} with image_shape={tuple(image_shape)} takes images (N, {image_shape[0]}, "
            f"{image_shape[1]}) or (N, {image_shape[0]}, {image_shape[1]}, 1), got {given}"
        )
    return array


def image_events(dataset: str, images, image_scale: float) -> ImageEvents:
    """Returns images (n, H, W) in [-1, 1] as the events of image data set `dataset`, in
    its physical units (pixel +1 is `image_scale`; below 0 clipped to 0)."""
    from physgan.datasets import get_dataset

    physical = np.maximum(denormalise(images, "tanh", image_scale), 0.0)
    return get_dataset(dataset).events(physical)


def random_horizontal_flip(images, seed_generator):
    """Returns `images` (B, H, W, 1) with each one mirrored left-right with probability 0.5
    (torchvision's RandomHorizontalFlip, as the original LArCV loader)."""
    batch = ops.shape(images)[0]
    flip = keras.random.uniform((batch, 1, 1, 1), seed=seed_generator) < 0.5
    return ops.where(flip, ops.flip(images, axis=2), images)


# === Networks ======================================================================


def weights_init(fan_in: int):
    """Returns the (kernel, bias) initialisers of the original `weights_init`:
    N(0, 0.02) and zeros, whatever the fan-in."""
    return keras.initializers.RandomNormal(stddev=INIT_STDDEV), "zeros"


def torch_linear_init(fan_in: int):
    """Returns the (kernel, bias) initialisers of torch's nn.Linear default:
    both uniform in +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5))."""
    bound = 1.0 / np.sqrt(fan_in)
    return (keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
            keras.initializers.RandomUniform(-bound, bound))


def build_mlp(
    name: str,
    input_shape: tuple[int, ...],
    widths: list[int],
    units: int,
    init,
    input_name: str,
    output_name: str,
    activation=None,
    output_shape: tuple[int, ...] | None = None,
    hidden_activation: str = "leaky_relu",
) -> keras.Model:
    """Returns the original MLP: input (flattened row-major, as torch's
    `view(B, -1)` of one channel) -> one FullyConnected block (Linear +
    LeakyReLU(0.5), or ReLU with `hidden_activation="relu"`) per width ->
    Linear(units) with `activation`, reshaped to `output_shape` if given.
    `init(fan_in)` gives each Linear's initialisers."""
    inputs = keras.Input(input_shape, name=input_name)
    x = layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i, width in enumerate([*widths, units]):
        kernel, bias = init(int(x.shape[-1]))
        last = i == len(widths)
        x = layers.Dense(width, activation=activation if last else None, kernel_initializer=kernel,
                         bias_initializer=bias, name=output_name if last else f"fc_{i}")(x)
        if not last and hidden_activation == "relu":
            x = layers.ReLU(name=f"relu_{i}")(x)
        elif not last:
            x = layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu_{i}")(x)
    if output_shape is not None:
        x = layers.Reshape(output_shape, name="image")(x)
    return keras.Model(inputs, x, name=name)


def build_generator(z_dim: int, n_hidden: int, n_layers: int, image_shape: tuple[int, int]) -> keras.Model:
    """Returns the original MLP generator: z -> images (H, W, 1) in [-1, 1]."""
    return build_mlp("generator", (z_dim,), [n_hidden] * n_layers, image_shape[0] * image_shape[1],
                     weights_init, "z", "out", activation="tanh", output_shape=(*image_shape, 1))


def build_discriminator(n_hidden: int, n_layers: int, image_shape: tuple[int, int]) -> keras.Model:
    """Returns the original MLP discriminator: images (H, W, 1) -> a real-vs-fake logit."""
    return build_mlp("discriminator", (*image_shape, 1), [n_hidden] * n_layers, 1, weights_init,
                     "image", "logit")


def _bce_from_logits(logits, target: float):
    """Returns mean BCE(sigmoid(logits), target) for a constant hard label."""
    labels = ops.full_like(logits, target)
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))


# === Shared model base =============================================================


class ImageModel(GenerativeModel):
    """What the particle_generator image models share: the image data set and
    shape, the scale of its physical units, the SGD momentum, the training-time
    flip, the seed, and a config made of the constructor options listed in
    `config_options`."""

    zoo_name = ""  # the registry name, for error messages
    datasets = ("digits", "mnist", "larcv")  # the first is train.py's default
    default_batch_size = 24  # the original argparser's --batch_size (both models)
    config_options: tuple[str, ...] = ("dataset", "image_shape", "image_scale", "momentum", "horizontal_flip", "seed")

    def __init__(self, dataset: str, image_shape, image_scale: float, momentum: float, horizontal_flip: bool,
                 seed: int | None, **kwargs):
        super().__init__(**kwargs)
        if dataset not in self.datasets:
            raise ConfigError(f"{self.zoo_name} models images of the data sets {', '.join(self.datasets)}, "
                              f"not {dataset!r}")
        self.dataset = dataset
        self.image_scale = checked_image_scale(image_scale)
        self.image_shape = checked_image_shape(image_shape)
        self.momentum = checked_momentum(momentum)
        self.horizontal_flip = bool(horizontal_flip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return ("image",)

    def training_images(self, batch):
        """Returns the checked `image` tensor of a batch, mirrored at random if `horizontal_flip`."""
        images = images_from_batch(batch, self.image_shape, self.zoo_name)
        return random_horizontal_flip(images, self.seed_generator) if self.horizontal_flip else images

    def image_events(self, images) -> ImageEvents:
        """Returns images (n, H, W) in [-1, 1] as the events of the model's data set, in physical units."""
        return image_events(self.dataset, images, self.image_scale)

    def get_config(self) -> dict:
        config = super().get_config()
        for option in self.config_options:
            value = getattr(self, option)
            config[option] = list(value) if isinstance(value, tuple) else value  # as JSON keeps it
        return config


# === Model =========================================================================


@register_model(
    "larcv_gan",
    "LArCV particle generator: MLP GAN (LeakyReLU 0.5, BCE, 1:1) of single-channel images in [-1, 1]",
)
@keras.saving.register_keras_serializable(package="physgan")
class LArCVGAN(DiscriminatorThenGenerator, ImageModel):
    """The particle_generator MLP GAN.

    Batches are dicts: `image` (B, H, W, 1) pixel values in [-1, 1].
    """

    zoo_name = "larcv_gan"
    metric_names = ("d_loss", "d_loss_real", "d_loss_fake", "g_loss")
    config_options = ("z_dim", "n_hidden", "n_layers", "g_opt", "d_opt", "g_lr", "d_lr", *ImageModel.config_options)
    default_epochs = 150  # launch_scripts/gan_mnist.sh (the argparser's default is 1)

    def __init__(
        self,
        dataset: str = "mnist",
        image_shape=(28, 28),
        image_scale: float = 255.0,
        z_dim: int = 100,
        n_hidden: int = 512,
        n_layers: int = 4,
        g_opt: str = "adam",
        d_opt: str = "adam",
        g_lr: float = 1e-4,
        d_lr: float = 1e-4,
        momentum: float = SGD_MOMENTUM,
        horizontal_flip: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(dataset, image_shape, image_scale, momentum, horizontal_flip, seed, **kwargs)
        self.z_dim = checked_positive("z_dim", z_dim)
        self.n_hidden = checked_positive("n_hidden", n_hidden)
        self.n_layers = checked_positive("n_layers", n_layers, minimum=0)
        self.g_opt = checked_optimizer_name("g_opt", g_opt)
        self.d_opt = checked_optimizer_name("d_opt", d_opt)
        self.g_lr = checked_learning_rate("g_lr", g_lr)
        self.d_lr = checked_learning_rate("d_lr", d_lr)
        with keras.name_scope("generator"):
            self.generator = build_generator(self.z_dim, self.n_hidden, self.n_layers, self.image_shape)
        with keras.name_scope("discriminator"):
            self.discriminator = build_discriminator(self.n_hidden, self.n_layers, self.image_shape)
        self.built = True

    # --- engine hooks ----------------------------------------------------------------

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        return {
            "generator": make_optimizer(self.g_opt, self.g_lr, self.momentum),
            "discriminator": make_optimizer(self.d_opt, self.d_lr, self.momentum),
        }

    # --- forward -----------------------------------------------------------------------

    def _noise(self, batch_size):
        return keras.random.normal((batch_size, self.z_dim), seed=self.seed_generator)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    # --- losses ------------------------------------------------------------------------

    def discriminator_loss(self, batch):
        real = self.training_images(batch)
        with no_gradient():
            fake = ops.stop_gradient(self.generator(self._noise(ops.shape(real)[0]), training=True))
        real_error = _bce_from_logits(self.discriminator(real, training=True), 1.0)
        fake_error = _bce_from_logits(self.discriminator(fake, training=True), 0.0)
        loss = real_error + fake_error
        return loss, {"d_loss": loss, "d_loss_real": real_error, "d_loss_fake": fake_error}

    def generator_loss(self, batch):
        batch_size = ops.shape(images_from_batch(batch, self.image_shape, self.zoo_name))[0]
        fake = self.generator(self._noise(batch_size), training=True)
        loss = _bce_from_logits(self.discriminator(fake, training=True), 1.0)
        return loss, {"g_loss": loss}

    # --- generation --------------------------------------------------------------------

    def sample(self, n: int, condition=None, seed: int | None = None) -> ImageEvents:
        """Returns `n` generated images (n, H, W) as the events of the model's data
        set, in its physical units (`generate_normalised` gives them in [-1, 1]).

        Args:
            n: number of images.
            condition: must be None (the GAN is unconditional).
            seed: makes the noise draw reproducible (the same on every backend).
        """
        return self.image_events(self.generate_normalised(n, condition, seed))

    def generate_normalised(self, n: int, condition=None, seed: int | None = None) -> np.ndarray:
        """Returns `n` generated images (n, H, W) with pixel values in [-1, 1], the training units."""
        if condition is not None:
            raise ConfigError("the LArCV GAN is unconditional; it takes no condition")
        z = np.random.default_rng(seed).standard_normal((int(n), self.z_dim)).astype("float32")
        return self.predict_in_batches(self.generator, z)[..., 0]

    def discriminate(self, images) -> np.ndarray:
        """Returns the discriminator's probability (N,) that each image is real."""
        array = as_image_array(images, self.image_shape, "larcv_gan")
        logits = self.predict_in_batches(self.discriminator, array)[:, 0]
        return (1.0 / (1.0 + np.exp(-logits.astype("float64")))).astype("float32")
