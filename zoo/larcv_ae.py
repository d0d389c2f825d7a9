"""LArCV particle generator: the MLP autoencoder of kseuro/particle_generator (@f426119).

The autoencoder compresses single-channel images in [-1, 1] to code vectors;
its encoder's codes of a data set are the targets the EWM generator learns
(`deploy`), its decoder turns generated codes back into images. Batches are
dicts `{"image": (B, H, W, 1) float32}`.

Architecture (the original `ae.py`, `layers.py`, `setup_model.get_ae_kwargs`):
- widths: base 128 if H*W <= 784 else 256, encoder widths
  [base * 2**i for i < n_layers] from the widest down, e.g. 28x28 and 4 layers:
  1024, 512, 256, 128; 64x64 and 3 layers (the LArCV launch script): 1024, 512, 256;
- encoder: image flattened -> n_layers x [Linear + LeakyReLU(0.5)] -> Linear(l_dim)
  (no activation: codes are unbounded);
- decoder: l_dim -> the widths reversed, each Linear + LeakyReLU(0.5) ->
  Linear(H*W) -> tanh -> (H, W, 1);
- 28x28, n_layers 4, l_dim 20: encoder 1,495,444 and decoder 1,496,208 parameters;
- initialisation: torch's nn.Linear default (kernel and bias uniform in
  +-1/sqrt(fan_in)); the original's `weights_init` is never called for the AE.

Training (the original `train_fns.AE_train_fn`, `utils.ae_optim`): reconstruction
loss `loss_fn` between output and input: "mse" (nn.MSELoss, mean over pixels)
or "bce"; Adam at ae_lr 1e-4 with torch's `weight_decay=1e-5` for the `adam`
choice, SGD with momentum 0.9 (no weight decay) for `sgd`. torch.optim.Adam's
weight_decay is the coupled, L2 kind: it adds weight_decay * w to the gradient
before the moment estimates. Keras' `Adam(weight_decay=...)` is the decoupled
(AdamW) kind, which shrinks weights outside the moments and gives other steps;
so we add 0.5 * weight_decay * sum(w**2) over all autoencoder variables (biases
too, as torch) to the loss: its gradient is exactly torch's extra term, with
Adam's defaults as torch (beta 0.9/0.999, epsilon 1e-8). The logged `ae_loss`
is the reconstruction loss alone, as the original logged it. Batch 24 (the
argparser default) and 100 epochs (launch_scripts/ae_mnist.sh, which used batch
128, n_layers 3, l_dim 10; ae_larcv.sh: 64x64, batch 256, 1000 epochs, n_layers
3, l_dim 384, mse). LArCV images were flipped left-right with probability 0.5
while training (`horizontal_flip=True` here; off by default, as for MNIST).

Additions and departures, and why:
- The original has no default loss: an empty `--loss_fn` stops with "No
  AutoEncoder loss function selected!". We default to "mse", the LArCV launch
  script's choice.
- "bce": the original applied nn.BCELoss to tanh outputs and images in [-1, 1],
  which torch rejects (BCELoss needs values in [0, 1]); we compute the BCE of
  (output + 1) / 2 against (image + 1) / 2, the same pixels mapped to [0, 1].
- `fit_code_distribution` / `sample`: the original AE does not sample (EWM
  learns its codes). To make the autoencoder a generative model of its own we
  fit a Gaussian (mean and full covariance of the codes of a data set, kept in
  non-trainable variables and saved with the model) and decode draws of it.
- `rmsprop` (as in `larcv_gan`) is an addition, without weight decay, as sgd.
- `deploy` writes all codes to one `.npz` (`physgan.data.codes`) where the
  original wrote one `target_<i>.npy` per image.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

from physgan.data.codes import write_codes
from physgan.errors import ConfigError, DataError
from physgan.registry import register_model
from physgan.training import Update
from physgan.zoo.larcv_gan import (
    SGD_MOMENTUM,
    ImageModel,
    as_image_array,
    build_mlp,
    checked_learning_rate,
    checked_number,
    checked_optimizer_name,
    checked_positive,
    make_optimizer,
    torch_linear_init,
)

LOSS_FUNCTIONS = ("mse", "bce")
ADAM_WEIGHT_DECAY = 1e-5  # the original utils.ae_optim: torch.optim.Adam(..., weight_decay=1e-5)


# === Networks ======================================================================


def encoder_widths(image_shape: tuple[int, int], n_layers: int) -> list[int]:
    """Returns the original encoder's hidden widths, widest first (decoder: reversed)."""
    base = 128 if image_shape[0] * image_shape[1] <= 784 else 256
    return [base * 2**i for i in range(n_layers)][::-1]


def build_encoder(image_shape: tuple[int, int], widths: list[int], l_dim: int) -> keras.Model:
    """Returns the original MLP encoder: images (H, W, 1) -> codes (l_dim,), unbounded."""
    return build_mlp("encoder", (*image_shape, 1), widths, l_dim, torch_linear_init, "image", "code")


def build_decoder(image_shape: tuple[int, int], widths: list[int], l_dim: int) -> keras.Model:
    """Returns the original MLP decoder: codes (l_dim,) -> images (H, W, 1) in [-1, 1]."""
    return build_mlp("decoder", (l_dim,), widths[::-1], image_shape[0] * image_shape[1], torch_linear_init,
                     "code", "out", activation="tanh", output_shape=(*image_shape, 1))


def build_autoencoder(image_shape: tuple[int, int], n_layers: int, l_dim: int) -> keras.Model:
    """Returns encoder then decoder as one network (one optimizer, as the original)."""
    widths = encoder_widths(image_shape, n_layers)
    encoder = build_encoder(image_shape, widths, l_dim)
    decoder = build_decoder(image_shape, widths, l_dim)
    image = keras.Input((*image_shape, 1), name="image")
    return keras.Model(image, decoder(encoder(image)), name="autoencoder")


# === Model =========================================================================


@register_model(
    "larcv_ae",
    "LArCV particle generator: MLP autoencoder (codes for EWM; samples a Gaussian fit of its codes)",
)
@keras.saving.register_keras_serializable(package="physgan")
class LArCVAutoencoder(ImageModel):
    """The particle_generator MLP autoencoder: `encode` images to code vectors,
    `decode` codes to images, `deploy` a data set's codes to a file for EWM.

    Trains on batches `{"image": (B, H, W, 1)}` in [-1, 1].
    """

    zoo_name = "larcv_ae"
    metric_names = ("ae_loss",)
    config_options = ("l_dim", "n_layers", "loss_fn", "ae_opt", "ae_lr", "weight_decay", *ImageModel.config_options)
    default_epochs = 100  # launch_scripts/ae_mnist.sh (the argparser's default is 1)

    def __init__(
        self,
        dataset: str = "mnist",
        image_shape=(28, 28),
        image_scale: float = 255.0,
        l_dim: int = 20,
        n_layers: int = 4,
        loss_fn: str = "mse",
        ae_opt: str = "adam",
        ae_lr: float = 1e-4,
        weight_decay: float | None = None,
        momentum: float = SGD_MOMENTUM,
        horizontal_flip: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        """Args (beyond the original's flags): `weight_decay` is the L2
        coefficient; None takes the original's (1e-5 with adam, 0 otherwise)."""
        super().__init__(dataset, image_shape, image_scale, momentum, horizontal_flip, seed, **kwargs)
        self.l_dim = checked_positive("l_dim", l_dim)
        self.n_layers = checked_positive("n_layers", n_layers, minimum=0)
        if not isinstance(loss_fn, str) or loss_fn.lower() not in LOSS_FUNCTIONS:
            raise ConfigError(f"loss_fn must be one of {', '.join(LOSS_FUNCTIONS)}, got {loss_fn!r}")
        self.loss_fn = loss_fn.lower()
        self.ae_opt = checked_optimizer_name("ae_opt", ae_opt)
        self.ae_lr = checked_learning_rate("ae_lr", ae_lr)
        if weight_decay is not None:
            weight_decay = checked_number("weight_decay", weight_decay, lambda v: v >= 0, "a number >= 0 (or None)")
        self.weight_decay = weight_decay
        with keras.name_scope("autoencoder"):
            self.autoencoder = build_autoencoder(self.image_shape, self.n_layers, self.l_dim)
        self.code_mean = self.add_weight(shape=(self.l_dim,), initializer="zeros", trainable=False,
                                         name="code_mean")
        self.code_covariance = self.add_weight(shape=(self.l_dim, self.l_dim), initializer="identity",
                                               trainable=False, name="code_covariance")
        self.code_distribution_fitted = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                        name="code_distribution_fitted")
        self.built = True

    @property
    def encoder(self) -> keras.Model:
        return self.autoencoder.get_layer("encoder")

    @property
    def decoder(self) -> keras.Model:
        return self.autoencoder.get_layer("decoder")

    @property
    def l2_coefficient(self) -> float:
        """The L2 (torch-Adam-style weight decay) coefficient in use."""
        if self.weight_decay is not None:
            return self.weight_decay
        return ADAM_WEIGHT_DECAY if self.ae_opt == "adam" else 0.0

    # --- engine hooks ----------------------------------------------------------------

    def networks(self) -> dict:
        return {"autoencoder": self.autoencoder}

    def update_schedule(self) -> list[Update]:
        return [Update("autoencoder", "autoencoder_loss")]

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        return {"autoencoder": make_optimizer(self.ae_opt, self.ae_lr, self.momentum)}

    # --- forward and loss -----------------------------------------------------------------

    def call(self, inputs, training=False):
        return self.autoencoder(inputs, training=training)

    def reconstruction_loss(self, images, reconstructions):
        """Returns the mean per-pixel reconstruction loss (`loss_fn`)."""
        if self.loss_fn == "mse":
            return ops.mean(ops.square(reconstructions - images))
        target = (images + 1.0) / 2.0
        probability = ops.clip((reconstructions + 1.0) / 2.0, 1e-7, 1.0 - 1e-7)
        return ops.mean(ops.binary_crossentropy(target, probability))

    def autoencoder_loss(self, batch):
        images = self.training_images(batch)
        reconstruction = self.reconstruction_loss(images, self.autoencoder(images, training=True))
        loss = reconstruction
        if self.l2_coefficient:
            squares = [ops.sum(ops.square(v)) for v in self.autoencoder.trainable_variables]
            loss = loss + 0.5 * self.l2_coefficient * ops.sum(ops.stack(squares))
        return loss, {"ae_loss": reconstruction}

    # --- encoding, decoding ------------------------------------------------------------

    def encode(self, images, batch_size: int = 4096) -> np.ndarray:
        """Returns the code vectors (N, l_dim) of images (N, H, W[, 1]) in [-1, 1]."""
        array = as_image_array(images, self.image_shape, "larcv_ae")
        return self.predict_in_batches(self.encoder, array, batch_size)

    def decode(self, codes, batch_size: int = 4096) -> np.ndarray:
        """Returns the images (N, H, W) in [-1, 1] decoded from codes (N, l_dim)."""
        array = np.asarray(codes, dtype="float32")
        if array.ndim != 2 or array.shape[1] != self.l_dim:
            raise DataError(f"physgan: larcv_ae decodes codes of shape (N, {self.l_dim}), got {array.shape}")
        return self.predict_in_batches(self.decoder, array, batch_size)[..., 0]

    def reconstruct(self, images, batch_size: int = 4096) -> np.ndarray:
        """Returns decode(encode(images)): (N, H, W) in [-1, 1]."""
        array = as_image_array(images, self.image_shape, "larcv_ae")
        return self.predict_in_batches(self.autoencoder, array, batch_size)[..., 0]

    def reconstruction_error(self, images, batch_size: int = 4096) -> float:
        """Returns the mean squared reconstruction error per pixel of `images`."""
        array = as_image_array(images, self.image_shape, "larcv_ae")[..., 0]
        return float(np.mean(np.square(self.reconstruct(array, batch_size) - array)))

    def deploy(self, images, path: str | Path, batch_size: int = 4096, **metadata) -> Path:
        """Returns `path` after writing the codes of `images` there (`physgan.data.codes`):
        the original's deploy step, whose code vectors are EWM's training targets."""
        codes = self.encode(images, batch_size)
        info = {"model": "larcv_ae", "image_shape": list(self.image_shape), "code_dim": self.l_dim,
                "n_images": int(len(codes)), "loss_fn": self.loss_fn, **metadata}
        return write_codes(path, codes, **info)

    # --- sampling (an addition: the original AE does not sample) -------------------------

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        """Returns `keras.Model.fit`'s History. With array inputs {"image": ...},
        the Gaussian of the codes (`fit_code_distribution`) is refitted on (at
        most 10,000 of) them after every epoch, before the other callbacks run,
        so `sample` works during and after training."""
        callbacks = list(callbacks or [])
        if isinstance(x, dict) and "image" in x:
            images = np.asarray(x["image"][:10_000])
            refit = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: self.fit_code_distribution(images))
            callbacks.insert(0, refit)
        return super().fit(x, y, *args, callbacks=callbacks, **kwargs)

    def fit_code_distribution(self, images, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Returns the (mean, covariance) of the codes of `images`, after storing them
        in the model (saved with it) for `sample`."""
        codes = self.encode(images, batch_size).astype("float64")
        if len(codes) < 2:
            raise DataError(f"physgan: fitting the code distribution needs >= 2 images, got {len(codes)}")
        mean = codes.mean(axis=0)
        covariance = np.atleast_2d(np.cov(codes, rowvar=False))
        self.code_mean.assign(mean.astype("float32"))
        self.code_covariance.assign(covariance.astype("float32"))
        self.code_distribution_fitted.assign(1.0)
        return mean, covariance

    def sample(self, n: int, condition=None, seed: int | None = None):
        """Returns `n` images decoded from codes drawn from the Gaussian fitted by
        `fit_code_distribution`, as the events of the model's data set (physical units)."""
        return self.image_events(self.generate_normalised(n, condition, seed))

    def generate_normalised(self, n: int, condition=None, seed: int | None = None) -> np.ndarray:
        """Returns `n` images (n, H, W) in [-1, 1] decoded from draws of the fitted code Gaussian."""
        if condition is not None:
            raise ConfigError("the LArCV autoencoder is unconditional; it takes no condition")
        if float(np.asarray(self.code_distribution_fitted)) != 1.0:
            raise ConfigError(
                "larcv_ae samples from a Gaussian fit of its codes: call "
                "model.fit_code_distribution(images) on training images first"
            )
        mean = np.asarray(self.code_mean, dtype="float64")
        covariance = np.asarray(self.code_covariance, dtype="float64")
        # A tiny jitter keeps the factorisation defined for rank-deficient covariances.
        jitter = 1e-9 * max(1.0, float(np.trace(covariance)) / self.l_dim)
        scale = np.linalg.cholesky(covariance + jitter * np.eye(self.l_dim))
        z = np.random.default_rng(seed).standard_normal((int(n), self.l_dim))
        return self.decode((mean + z @ scale.T).astype("float32"))
