"""Explicit Wasserstein Minimization (EWM): a generator fitted to optimal-transport targets.

Port of chen0706/EWM (@ee3c358), the code of "A gradual, semi-discrete approach to
generative network training via explicit Wasserstein minimization" (Chen et al.,
ICML 2019, arXiv:1906.03471), and of its use by kseuro/particle_generator (@f426119)
on the code vectors of a LArCV autoencoder (`larcv_ae`, `python -m physgan.deploy`).

The target set is ALL N training examples y_1..y_N (images in [-1, 1] flattened to
d values, or AE code vectors), kept inside the model. Training alternates outer rounds of
1. OT (semi-discrete optimal transport): a potential psi (N,), zeros at the start
   and kept across rounds, trained by Adam(psi_lr 0.1). Per step a batch
   z ~ N(0, 1) (64, 100) gives x_i = G(z_i) and
       score_ij = -||x_i - y_j||_1 - psi_j,  hit_i = argmax_j score_ij,
   and psi takes one step on -mean(psi[hit]). The (z, hit) batch goes into a ring
   memory of `mem_size` (4000) batches. Every `check_every` (1000) steps the hits
   in memory are histogrammed (1000 bins over target index 0..N-1); the phase
   ends when every bin holds 200..320 hits, or after `max_ot_steps` (20000).
2. FIT: `fit_steps` (= mem_size) Adam(g_lr 1e-4) steps of G, one memory batch each,
   in memory order, on d * mean|y[hit] - G(z)|.
The original runs 100 rounds (`max_rounds`). Its W2 and hybrid variants
(`distance="w2" | "hybrid"`) score with x_i . y_j - psi_j and fit with MSE x d (W2)
or L1 x d (hybrid).

Why the minus sign. The Kantorovich dual of W_c(law of G(z), (1/N) sum_j delta(y_j))
with psi_j = -g_j is W_c = -min_psi E_x[max_j(-c(x, y_j) - psi_j)] + mean(psi), so
the hit is argmin_j (c(x, y_j) + psi_j): the nearest target once psi is added. That
inner objective is logged as `dual_loss`; `transport_cost` = mean c(x_i, y_hit_i).
Its gradient 1/N - P(hit = j) differs from that of -mean(psi[hit]), which the
original back-propagates, by a constant: a target hit more often than the others
gets its psi raised, its score falls, and the hits spread until each target
receives its 1/N share.

Architecture (every Dense kernel N(0, 0.02), biases zero, as both originals):
- `generator="ewm"`: z 100 -> 512 -> 512 -> 512 -> d, ReLU, tanh output (images in [-1, 1]);
  for MNIST (d = 784) 979,216 parameters;
- `generator="particle_generator"`: z 100 -> 4 x (512, LeakyReLU 0.5) -> d, linear
  output (AE code vectors are unbounded); for l_dim 384 1,036,672 parameters.
The default is "ewm" for image targets and "particle_generator" for code vectors.

How it maps onto `Model.fit`: every training step is ONE step of the original, OT
or FIT, chosen in-graph by a non-trainable `phase` variable that the step itself
advances, so the plain `fit` of train.py trains EWM on every backend. Both updates
are computed every step and the one of the inactive phase is undone (variables,
optimizer slots and iteration count put back with `ops.where`), so each Adam sees
exactly the original's sequence of updates. The B x N assignment runs under
`ops.cond`, only in OT steps; everything is `keras.ops`. The batches `fit` feeds
are never read: the targets are inside the model (taken from the first `fit`, see
`EWM.fit`), and the batches only count steps. 100 rounds of the original are
0.8M-2.4M steps; after `max_rounds` the steps change nothing.

Data sets: trained on images (`digits`, `mnist`, `larcv`: inputs {"image"},
`image_shape`) `sample` returns that data set's events in physical units
(`image_scale` maps [-1, 1] back, as `larcv_gan`); trained on code vectors (`codes`,
inputs {"code"}, `target_shape=(l_dim,)`) it returns `CodeVectors`. The AE + EWM
pipeline (particle_generator): AE `deploy` -> codes file -> EWM on `codes` ->
decode. Embed the decoder to sample images directly:
    EWM(dataset=ae.dataset, image_scale=ae.image_scale, target_shape=(ae.l_dim,),
        decoder=ae.decoder)
(`dataset` is then the image data set of the decoded events; the .keras file holds
the decoder; `sample(..., decode=False)` still gives the codes).

Memory (a user-visible cost): the targets, N x d x 4 bytes (MNIST: 188 MB), are a
variable saved in the .keras file unless `store_targets=False` (then `fit` takes
them again from its inputs; sampling does not need them). The ring memory,
mem_size x 64 x (z_dim + 1) x 4 bytes (103 MB at the original sizes), is always
saved, so training resumes mid-phase.

Departures, and why:
- particle_generator's train_ewm.py scores `+L1 - psi`: at psi = 0 that picks the
  FARTHEST target, and psi then equalises the counts of a max-cost assignment, so
  its FIT pulled G(z) toward far codes. We use the paper's `-L1 - psi`.
- particle_generator's Gaussian "tessellation" noise on outputs and targets, and its
  test-vector stopping band, are not ported; the stopping rule is EWM's.
- The stop check waits for a full memory. The original histograms the whole memory,
  whose unfilled slots hold hit 0, which for its sizes makes stopping impossible
  before the memory is full; here that holds for every size.
- `stop_band=None` scales the original (200, 320) to the mean hits per bin
  (mem_size x batch / bins), so smaller memories keep the same relative rule; at
  most N bins.
- The default `mem_size` is EWM's 4000 (particle_generator's argparser says 5000).
- The generated batch of every step is `ot_batch_size` (EWM's 64); train.py's
  --batch-size only sets how many steps an epoch has, because the targets live
  in the model. particle_generator's EWM launch script ran --batch_size 250: pass
  `ot_batch_size=250` (train.py `--set ot_batch_size=250`) for that batch.
- `rounds` is logged as the count so far (not a mean over the epoch's steps);
  `hist_min` / `hist_max` are the means over the epoch's histogram checks (0 when
  the epoch had none).
- Adam as torch's (epsilon 1e-8; see `larcv_gan` for Keras' placement of epsilon).
- L1 distances in chunks of targets with keras.ops (the original: a CUDA kernel).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from physgan import backend
from physgan.data.codes import CodeVectors
from physgan.errors import ConfigError
from physgan.registry import register_model
from physgan.training import GenerativeModel, Update
from physgan.zoo.larcv_gan import (
    build_mlp,
    checked_image_scale,
    checked_image_shape,
    checked_learning_rate,
    checked_positive,
    image_events,
    make_optimizer,
    weights_init,
)

OT, FIT, DONE = 0, 1, 2
PHASE_NAMES = {OT: "transport", FIT: "fit", DONE: "done"}
GENERATORS = ("ewm", "particle_generator")
DISTANCES = ("w1", "w2", "hybrid")
IMAGE_DATASETS = ("digits", "mnist", "larcv")
ORIGINAL_BAND = (200.0, 320.0)  # hits per bin, for 4000 x 64 hits in 1000 bins
ORIGINAL_MEAN_PER_BIN = 4000 * 64 / 1000
SEED_STATE = "training_seed_state"  # key of the training draws' seed state in saved files
DISTANCE_CHUNK_ELEMENTS = 2**24  # batch x targets x d values per chunk of the L1 distances


# === Generator ===


def build_generator(z_dim: int, output_dim: int, variant: str = "ewm", n_hidden: int = 512,
                    n_layers: int | None = None) -> keras.Model:
    """Returns the EWM generator MLP z (z_dim,) -> flat targets (output_dim,).

    `variant`: "ewm" (3 hidden ReLU layers, tanh output) or "particle_generator"
    (4 hidden LeakyReLU(0.5) layers, linear output); `n_layers` overrides the
    variant's number of hidden layers.
    """
    if variant not in GENERATORS:
        raise ConfigError(f"generator must be one of {', '.join(GENERATORS)}, got {variant!r}")
    if n_layers is None:
        n_layers = 3 if variant == "ewm" else 4
    return build_mlp("generator", (z_dim,), [n_hidden] * n_layers, output_dim, weights_init, "z", "output",
                     activation="tanh" if variant == "ewm" else None,
                     hidden_activation="relu" if variant == "ewm" else "leaky_relu")


# === Transport ===


@keras.saving.register_keras_serializable(package="physgan")
class TransportPotential(layers.Layer):
    """The OT potential psi (N,) (trainable) and the fixed target set (N, d).

    `ready` says whether targets were set. With `store_targets=False` the targets
    are left out of saved files (and `ready` is saved as 0).
    """

    def __init__(self, target_dim: int, n_targets: int | None = None, store_targets: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.target_dim = int(target_dim)
        self.n_targets = None
        self.store_targets = bool(store_targets)
        self.ready = self.add_weight(shape=(), initializer="zeros", trainable=False, name="ready")
        if n_targets is not None:
            self.create(int(n_targets))
        self.built = True

    def create(self, n_targets: int) -> None:
        """Creates psi and the target variable for `n_targets` targets."""
        if self.n_targets is not None:
            raise ConfigError(f"the transport already holds {self.n_targets} targets")
        self.n_targets = checked_positive("n_targets", n_targets)
        self.psi = self.add_weight(shape=(self.n_targets,), initializer="zeros", name="psi")
        self.targets = self.add_weight(shape=(self.n_targets, self.target_dim), initializer="zeros",
                                       trainable=False, name="targets")

    def save_own_variables(self, store):
        store["ready"] = self.ready if self.store_targets else np.zeros((), "float32")
        if self.n_targets is not None:
            store["psi"] = self.psi
            if self.store_targets:
                store["targets"] = self.targets

    def load_own_variables(self, store):
        self.ready.assign(store["ready"])
        if self.n_targets is not None:
            self.psi.assign(store["psi"])
            if "targets" in store:
                self.targets.assign(store["targets"])

    def get_config(self):
        return {**super().get_config(), "target_dim": self.target_dim, "n_targets": self.n_targets,
                "store_targets": self.store_targets}


def pairwise_cost(generated, targets, distance: str = "w1", chunk: int | None = None):
    """Returns the (B, N) cost matrix: L1 distances (w1), or minus inner products (w2, hybrid).

    The L1 distances are computed `chunk` targets at a time (B x chunk x d values).
    """
    if distance != "w1":
        return -ops.matmul(generated, ops.transpose(targets))
    n, d = int(targets.shape[0]), int(targets.shape[1])
    batch = int(generated.shape[0])
    chunk = min(n, chunk or max(1, DISTANCE_CHUNK_ELEMENTS // max(1, batch * d)))

    def block(y):
        return ops.sum(ops.abs(generated[:, None, :] - y[None, :, :]), axis=-1)

    if chunk >= n:
        return block(targets)
    n_chunks = -(-n // chunk)

    def body(i, cost):
        # The last chunk is shifted back to end at N (it recomputes a few columns).
        start = ops.minimum(i * chunk, n - chunk)
        y = ops.slice(targets, ops.stack([start, 0]), (chunk, d))
        return ops.slice_update(cost, ops.stack([0, start]), block(y))

    return ops.fori_loop(0, n_chunks, body, ops.zeros((batch, n), generated.dtype))


def assign_targets(generated, targets, psi, distance: str = "w1", chunk: int | None = None):
    """Returns (hit (B,) int32, phi (B,)): argmax_j and max_j of score_ij = -c(x_i, y_j) - psi_j
    (the paper's sign, see the module docstring)."""
    scores = -pairwise_cost(generated, targets, distance, chunk) - psi[None, :]
    return ops.cast(ops.argmax(scores, axis=1), "int32"), ops.max(scores, axis=1)


def histogram_bins(hits, n_targets: int, bins: int):
    """Returns the bin of each target index, as np.histogram(hits, bins, range=(0, N - 1))."""
    return ops.minimum((hits * bins) // max(n_targets - 1, 1), bins - 1)


class LatestValue(keras.metrics.Metric):
    """A metric whose result is the value of the last update (the rounds done so far),
    where a Mean would average a counter over the epoch's steps."""

    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, value, sample_weight=None):
        self.value.assign(ops.cast(value, self.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)


# === Model ===


@register_model(
    "ewm",
    "Explicit Wasserstein Minimization: MLP generator fitted to semi-discrete OT targets (images or AE codes)",
)
@keras.saving.register_keras_serializable(package="physgan")
class EWM(GenerativeModel):
    """Explicit Wasserstein Minimization of a generator against a fixed target set.

    Inputs are dicts `{"image": (N, H, W, 1)}` in [-1, 1] (image data sets,
    `image_shape`) or `{"code": (N, d)}` (the `codes` data set, `target_shape=(d,)`).
    The first `fit` takes its inputs as the target set (see `fit`), or call
    `set_targets` before. One training step is one OT or FIT step of the original,
    whatever the batch size: the batch size only sets how many steps an epoch has.
    train.py's default batch of 1 makes an epoch N steps (one OT step per target);
    `--steps-per-epoch` sets it directly.

    Args:
        dataset: the data set whose events `sample` returns: an image data set
            (digits, mnist, larcv) or "codes".
        image_shape: (H, W) of image targets (None: 28 x 28 unless `target_shape`).
        image_scale: the physical value of a pixel at +1 (digits 16, MNIST 255).
        target_shape: (d,) of code-vector targets (the `codes` data set, or codes
            decoded by `decoder`).
        n_targets: N; None: taken by the first `fit` or `set_targets`.
        generator: "ewm" or "particle_generator" (see `build_generator`; None: "ewm"
            for images, "particle_generator" for codes).
        z_dim, n_hidden, n_layers: the generator MLP (n_layers None: the variant's).
        distance: "w1" (L1 score and fit), "w2" (inner-product score, MSE fit) or
            "hybrid" (inner-product score, L1 fit).
        ot_batch_size: generated batch of every OT and FIT step (the original 64).
        psi_lr, g_lr: Adam learning rates of psi and the generator.
        mem_size: OT memory, in batches (the original 4000).
        fit_steps: FIT steps per round (None: mem_size; more cycle the memory).
        max_ot_steps, check_every, hist_bins, stop_band: the OT stopping rule
            (absolute hits per bin; None: the original band scaled to the mean).
        max_rounds: outer rounds, after which training steps change nothing (None: no end).
        distance_chunk: targets per chunk of the L1 distances (None: automatic).
        store_targets: save the targets in .keras files.
        decoder: a Keras model (or its serialized config) codes (d,) -> images
            (H, W, 1) in [-1, 1], used by `sample`.
        seed: seeds the generated batches of training (weights: keras.utils.set_random_seed).
    """

    datasets = ("digits", "mnist", "larcv", "codes")  # the first is train.py's default
    metric_names = ("dual_loss", "transport_cost", "fit_loss", "hist_min", "hist_max", "rounds")
    default_batch_size = 1  # the batches are not read: the batch size only sets the steps per epoch
    default_epochs = 100

    def __init__(
        self,
        dataset: str = "mnist",
        image_shape=None,
        image_scale: float = 255.0,
        target_shape=None,
        n_targets: int | None = None,
        generator: str | None = None,
        z_dim: int = 100,
        n_hidden: int = 512,
        n_layers: int | None = None,
        distance: str = "w1",
        ot_batch_size: int = 64,
        psi_lr: float = 0.1,
        g_lr: float = 1e-4,
        mem_size: int = 4000,
        fit_steps: int | None = None,
        max_ot_steps: int = 20_000,
        check_every: int = 1000,
        hist_bins: int = 1000,
        stop_band=None,
        max_rounds: int | None = 100,
        distance_chunk: int | None = None,
        store_targets: bool = True,
        decoder=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if dataset not in self.datasets:
            raise ConfigError(f"ewm models the data sets {', '.join(self.datasets)}, not {dataset!r}")
        self.dataset = dataset
        self.image_scale = checked_image_scale(image_scale)
        if isinstance(decoder, dict):
            decoder = keras.saving.deserialize_keras_object(decoder)
        self.image_shape, self.target_shape = _checked_shapes(dataset, image_shape, target_shape, decoder)
        if generator is None:
            generator = "particle_generator" if len(self.target_shape) == 1 else "ewm"
        if generator not in GENERATORS:
            raise ConfigError(f"generator must be one of {', '.join(GENERATORS)}, got {generator!r}")
        if distance not in DISTANCES:
            raise ConfigError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")
        self.generator_variant, self.distance = generator, distance
        self.z_dim = checked_positive("z_dim", z_dim)
        self.n_hidden = checked_positive("n_hidden", n_hidden)
        self.n_layers = None if n_layers is None else checked_positive("n_layers", n_layers, minimum=0)
        self.ot_batch_size = checked_positive("ot_batch_size", ot_batch_size)
        self.psi_lr = checked_learning_rate("psi_lr", psi_lr)
        self.g_lr = checked_learning_rate("g_lr", g_lr)
        self.mem_size = checked_positive("mem_size", mem_size)
        self.fit_steps = self.mem_size if fit_steps is None else checked_positive("fit_steps", fit_steps)
        self.max_ot_steps = checked_positive("max_ot_steps", max_ot_steps)
        if self.max_ot_steps < self.mem_size:
            raise ConfigError(f"max_ot_steps ({max_ot_steps}) must be >= mem_size ({mem_size}): "
                              "the FIT phase reads a full memory")
        self.check_every = checked_positive("check_every", check_every)
        self.hist_bins = checked_positive("hist_bins", hist_bins)
        if stop_band is not None:
            try:
                low, high = (float(b) for b in stop_band)
            except (TypeError, ValueError):
                low, high = 1.0, 0.0
            if not 0 <= low <= high:
                raise ConfigError(f"stop_band must be (min hits, max hits) per bin, 0 <= min <= max, "
                                  f"got {stop_band!r}")
            stop_band = (low, high)
        self.stop_band = stop_band
        self.max_rounds = None if max_rounds is None else checked_positive("max_rounds", max_rounds)
        self.distance_chunk = None if distance_chunk is None else checked_positive("distance_chunk",
                                                                                    distance_chunk)
        self.store_targets = bool(store_targets)
        self.seed = seed
        self.target_dim = int(np.prod(self.target_shape))

        with keras.name_scope("generator"):
            self.generator = build_generator(self.z_dim, self.target_dim, generator, self.n_hidden, self.n_layers)
        with keras.name_scope("psi"):
            self.transport = TransportPotential(
                self.target_dim, None if n_targets is None else checked_positive("n_targets", n_targets),
                self.store_targets, name="psi")
        self.decoder = None
        if decoder is not None:
            with keras.name_scope("decoder"):
                self.decoder = decoder
            self.decoder.trainable = False

        def state(name, shape=(), dtype="int32"):
            return self.add_weight(shape=shape, initializer="zeros", trainable=False, dtype=dtype, name=name)

        self.phase = state("phase")
        self.ot_step = state("ot_step")  # OT steps of the current round
        self.fit_step = state("fit_step")  # FIT steps of the current round
        self.rounds = state("rounds")  # finished outer rounds
        self.memory_pointer = state("memory_pointer")
        self.memory_filled = state("memory_filled")
        self.last_hist_min = state("last_hist_min")
        self.last_hist_max = state("last_hist_max")
        # Slot mem_size is scratch: FIT steps write there, so the memory they read stays whole.
        self.memory_z = state("memory_z", (self.mem_size + 1, self.ot_batch_size, self.z_dim), "float32")
        self.memory_hit = state("memory_hit", (self.mem_size + 1, self.ot_batch_size))
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    # --- engine hooks ----------------------------------------------------------------

    @property
    def codes_are_targets(self) -> bool:
        """Whether the targets are code vectors (else images)."""
        return len(self.target_shape) == 1

    @property
    def target_key(self) -> str:
        """The batch key of the targets: "code" for vectors, "image" otherwise."""
        return "code" if self.codes_are_targets else "image"

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return (self.target_key,)

    @property
    def n_targets(self) -> int | None:
        return self.transport.n_targets

    def networks(self) -> dict:
        return {"generator": self.generator, "psi": self.transport}

    def update_schedule(self) -> list[Update]:
        """The two updates; `run_training_step` runs the one of the current phase."""
        return [Update("psi", "transport_loss"), Update("generator", "fit_loss")]

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        return {"generator": make_optimizer("adam", self.g_lr), "psi": make_optimizer("adam", self.psi_lr)}

    # --- targets ---------------------------------------------------------------------

    @property
    def targets_ready(self) -> bool:
        """Whether the model holds its target set (False before the first fit, or
        after loading a file saved with `store_targets=False`)."""
        return bool(ops.convert_to_numpy(self.transport.ready))

    @property
    def targets(self) -> np.ndarray:
        """Returns the target set (N, *target_shape)."""
        if not self.targets_ready:
            raise ConfigError("this EWM holds no targets (fit it on them, or call set_targets)")
        return ops.convert_to_numpy(self.transport.targets).reshape(self.n_targets, *self.target_shape)

    def set_targets(self, targets, reset_potential: bool = True) -> None:
        """Stores the target set (N, *target_shape), (N, H, W) or flat (N, d) in the model.

        `reset_potential`: psi back to zeros and training back to the start of an
        OT phase (new targets make the old potential meaningless).
        """
        array = np.asarray(targets, dtype="float32")
        shapes = {self.target_shape, (self.target_dim,)}
        if not self.codes_are_targets:
            shapes.add(self.image_shape)
        if array.ndim < 2 or len(array) == 0 or array.shape[1:] not in shapes:
            accepted = " or ".join(f"(N, {', '.join(map(str, shape))})" for shape in sorted(shapes, key=len))
            raise ConfigError(f"EWM targets must be {accepted}, got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ConfigError("the EWM targets hold NaN or infinite values")
        n = len(array)
        if self.n_targets is None:
            with keras.name_scope("psi"):  # the weight paths of a model built with n_targets
                self.transport.create(n)
            if self.compiled:
                self._renew_psi_optimizer()
        elif n != self.n_targets:
            raise ConfigError(f"this EWM was built for n_targets={self.n_targets} targets, got {n}")
        self.transport.targets.assign(array.reshape(n, self.target_dim))
        self.transport.ready.assign(1.0)
        if reset_potential:
            self.transport.psi.assign(np.zeros(n, "float32"))
            for variable in (self.phase, self.ot_step, self.fit_step, self.rounds, self.memory_pointer,
                             self.memory_filled, self.last_hist_min, self.last_hist_max):
                variable.assign(0)

    def _renew_psi_optimizer(self) -> None:
        # compile built psi's optimizer before psi existed: a fresh copy, built on psi.
        old = self.psi_optimizer
        new = type(old).from_config(old.get_config())
        new.build(self.transport.trainable_variables)
        self.psi_optimizer = new
        self.optimizer.by_network["psi"] = new

    def fit(self, x=None, y=None, *args, **kwargs):
        """Returns `keras.Model.fit(x, ...)`'s History; the first time, `x[target_key]`
        becomes the target set (kept after that: later fits only count steps).

        Inputs repeated whole to fill an epoch (as train.py does) give one copy:
        N copies of a set are the same target measure as the set.
        """
        if not self.targets_ready:
            if not (isinstance(x, dict) and self.target_key in x):
                found = sorted(x) if isinstance(x, dict) else type(x).__name__
                raise ConfigError(f"EWM takes its targets from the first fit: fit on arrays "
                                  f"{{{self.target_key!r}: targets}} (got {found}) or call set_targets first")
            self.set_targets(_one_copy(np.asarray(x[self.target_key]), self.n_targets), reset_potential=False)
        return super().fit(x, y, *args, **kwargs)

    # --- forward ---------------------------------------------------------------------

    def call(self, inputs, training=False):
        """Returns flat generated targets (B, d) for latent `inputs` (B, z_dim)."""
        return self.generator(inputs, training=training)

    def _stop_band(self, bins: int) -> tuple[float, float]:
        if self.stop_band is not None:
            return self.stop_band
        mean = self.mem_size * self.ot_batch_size / bins
        return tuple(b * mean / ORIGINAL_MEAN_PER_BIN for b in ORIGINAL_BAND)

    # --- losses ------------------------------------------------------------------------

    def _assign(self, z):
        """Returns (hit, phi, cost) of batch z: the OT assignment under the current psi."""
        with backend.no_gradient():
            generated = ops.stop_gradient(self.generator(z, training=True))
            psi = ops.stop_gradient(ops.convert_to_tensor(self.transport.psi))
            targets = ops.convert_to_tensor(self.transport.targets)
            hit, phi = assign_targets(generated, targets, psi, self.distance, self.distance_chunk)
            cost = self._cost(generated, ops.take(targets, hit, axis=0))
        return hit, phi, cost

    def _cost(self, generated, matched):
        # The original's d * mean over the batch and the values: per-sample L1 (or squared L2).
        diff = matched - generated
        per_value = ops.square(diff) if self.distance == "w2" else ops.abs(diff)
        return ops.mean(per_value) * self.target_dim

    def transport_loss(self, hit, phi):
        """Returns (-mean(psi[hit]), logs): the original's back-propagated OT loss."""
        psi = ops.convert_to_tensor(self.transport.psi)
        loss = -ops.mean(ops.take(psi, hit, axis=0))
        return loss, {"dual_loss": ops.mean(phi) + ops.mean(psi)}

    def fit_loss(self, z, hit):
        """Returns (d * mean|y[hit] - G(z)|, logs) (MSE x d for distance "w2")."""
        matched = ops.take(ops.convert_to_tensor(self.transport.targets), hit, axis=0)
        loss = self._cost(self.generator(z, training=True), matched)
        return loss, {"fit_loss": loss}

    # --- the training step ------------------------------------------------------------

    def _ensure_trackers(self):
        if not hasattr(self, "_trackers"):
            self._trackers = {n: LatestValue(n) if n == "rounds" else keras.metrics.Mean(name=n)
                              for n in self.metric_names}

    def _gated_step(self, name: str, loss_fn, active) -> dict:
        """Returns the logs of `loss_fn`, after one step of network `name`'s optimizer
        that is undone (variables and optimizer state put back) unless `active`."""
        variables = self.networks()[name].trainable_variables
        optimizer = self.network_optimizer(name)
        logs, grads = self.gradients(optimizer, loss_fn, variables)
        state = list(variables) + list(optimizer.variables)
        with backend.no_gradient():
            before = [ops.copy(ops.convert_to_tensor(v)) for v in state]
            backend.apply_gradients(optimizer, grads, variables)
            for variable, old in zip(state, before):
                variable.assign(ops.where(active, ops.convert_to_tensor(variable), old))
        return logs

    def run_training_step(self, data) -> dict:
        """Runs one OT or FIT step (as `phase` says) and advances the phase."""
        self._ensure_trackers()
        mem, batch = self.mem_size, self.ot_batch_size
        phase = ops.convert_to_tensor(self.phase)
        in_ot, in_fit = phase == OT, phase == FIT

        # OT: assignment (only computed in the OT phase), psi step, memory.
        z = keras.random.normal((batch, self.z_dim), seed=self.seed_generator)
        hit, phi, cost = ops.cond(
            in_ot,
            lambda: self._assign(z),
            lambda: (ops.zeros((batch,), "int32"), ops.zeros((batch,)), ops.zeros(())),
        )
        ot_logs = self._gated_step("psi", lambda: self.transport_loss(hit, phi), in_ot)
        pointer = ops.convert_to_tensor(self.memory_pointer)
        slot = ops.where(in_ot, pointer, mem)
        backend.update_row(self.memory_z, slot, z)  # in place: the memory is 100 MB at the original sizes
        backend.update_row(self.memory_hit, slot, hit)

        # FIT: one generator step on the memory batch of this step.
        fit_step = ops.convert_to_tensor(self.fit_step)
        index = fit_step % mem
        mem_z = backend.read_row(self.memory_z, index)
        mem_hit = backend.read_row(self.memory_hit, index)
        fit_logs = self._gated_step("generator", lambda: self.fit_loss(mem_z, mem_hit), in_fit)

        # Phase bookkeeping.
        one, zero = ops.ones((), "int32"), ops.zeros((), "int32")
        ot_step = ops.convert_to_tensor(self.ot_step) + ops.where(in_ot, one, zero)
        filled = ops.convert_to_tensor(self.memory_filled)
        filled = ops.where(in_ot, ops.minimum(filled + 1, mem), filled)
        pointer = ops.where(in_ot, (pointer + 1) % mem, pointer)
        check = in_ot & (ot_step % self.check_every == 0) & (filled == mem)
        bins = min(self.hist_bins, self.n_targets)
        hist_min, hist_max = ops.cond(check, lambda: self._histogram_extremes(bins), lambda: (zero, zero))
        low, high = self._stop_band(bins)
        in_band = (ops.cast(hist_min, "float32") >= low) & (ops.cast(hist_max, "float32") <= high)
        stop_ot = in_ot & ((check & in_band) | (ot_step >= self.max_ot_steps))
        fit_step = fit_step + ops.where(in_fit, one, zero)
        fit_done = in_fit & (fit_step >= self.fit_steps)
        rounds = ops.convert_to_tensor(self.rounds) + ops.where(fit_done, one, zero)
        if self.max_rounds is None:
            after_fit = ops.full((), OT, "int32")
        else:
            after_fit = ops.where(rounds >= self.max_rounds, DONE, OT)
        new_phase = ops.where(stop_ot, FIT, ops.where(fit_done, after_fit, phase))
        self.phase.assign(ops.cast(new_phase, "int32"))
        self.ot_step.assign(ops.where(fit_done, zero, ot_step))
        self.memory_pointer.assign(ops.where(fit_done, zero, pointer))
        self.memory_filled.assign(ops.where(fit_done, zero, filled))
        self.fit_step.assign(ops.where(stop_ot | fit_done, zero, fit_step))
        self.rounds.assign(rounds)
        self.last_hist_min.assign(ops.where(check, hist_min, ops.convert_to_tensor(self.last_hist_min)))
        self.last_hist_max.assign(ops.where(check, hist_max, ops.convert_to_tensor(self.last_hist_max)))

        # Metrics: each value counts only in the steps that compute it.
        weights = {"dual_loss": in_ot, "transport_cost": in_ot, "fit_loss": in_fit,
                   "hist_min": check, "hist_max": check, "rounds": True}
        values = {**ot_logs, **fit_logs, "transport_cost": cost, "hist_min": hist_min, "hist_max": hist_max,
                  "rounds": rounds}
        for key, tracker in self._trackers.items():
            tracker.update_state(ops.cast(values[key], "float32"),
                                 sample_weight=ops.cast(weights[key], "float32"))
        return {m.name: m.result() for m in self.metrics}

    def _histogram_extremes(self, bins: int):
        hits = ops.reshape(ops.convert_to_tensor(self.memory_hit)[: self.mem_size], (-1,))
        counts = ops.segment_sum(ops.ones_like(hits), histogram_bins(hits, self.n_targets, bins),
                                 num_segments=bins)
        return ops.cast(ops.min(counts), "int32"), ops.cast(ops.max(counts), "int32")

    # --- inspection --------------------------------------------------------------------

    @property
    def phase_name(self) -> str:
        """Returns "transport", "fit" or "done" (after max_rounds)."""
        return PHASE_NAMES[int(ops.convert_to_numpy(self.phase))]

    def memory(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns the filled OT memory: z (k, batch, z_dim) and hits (k, batch)."""
        filled = int(ops.convert_to_numpy(self.memory_filled))
        if self.phase_name == "fit":
            filled = self.mem_size
        z = ops.convert_to_numpy(self.memory_z)[:filled]
        return z, ops.convert_to_numpy(self.memory_hit)[:filled]

    def hit_histogram(self, bins: int | None = None) -> np.ndarray:
        """Returns the hits per target of the filled memory (N,), or per bin as the stopping rule."""
        hits = self.memory()[1].reshape(-1)
        if bins is None:
            return np.bincount(hits, minlength=self.n_targets)
        return np.histogram(hits, bins=bins, range=(0, self.n_targets - 1))[0]

    # --- generation --------------------------------------------------------------------

    def generate_normalised(self, n: int, condition=None, seed: int | None = None,
                            decode: bool = True) -> np.ndarray:
        """Returns `n` generated targets in training units: images (n, H, W) in [-1, 1]
        (decoded by the embedded `decoder` when there is one and `decode`) or codes (n, d)."""
        if condition is not None:
            raise ConfigError("EWM is unconditional; it takes no condition")
        z = np.random.default_rng(seed).standard_normal((int(n), self.z_dim)).astype("float32")
        flat = self.predict_in_batches(self.generator, z)
        if self.decoder is not None and decode:
            return self.predict_in_batches(self.decoder, flat).reshape(int(n), *self.image_shape)
        return flat.reshape(int(n), *(self.target_shape if self.codes_are_targets else self.image_shape))

    def sample(self, n: int, condition=None, seed: int | None = None, decode: bool = True):
        """Returns `n` generated events: images of the model's image data set in its
        physical units, or `CodeVectors` (codes targets without a decoder, or `decode`
        False). `seed` makes the latent draw reproducible on every backend."""
        generated = self.generate_normalised(n, condition, seed, decode)
        if generated.ndim == 2:
            return CodeVectors(generated)
        return image_events(self.dataset, generated, self.image_scale)

    # --- saving ------------------------------------------------------------------------

    def save_own_variables(self, store):
        super().save_own_variables(store)
        # Keras leaves seed generators out of .keras files: keep the state of the
        # training draws, so a resumed run draws what it would have drawn.
        store[SEED_STATE] = self.seed_generator.state

    def load_own_variables(self, store):
        if SEED_STATE in store:
            self.seed_generator.state.assign(ops.cast(store[SEED_STATE], self.seed_generator.state.dtype))
        super().load_own_variables({key: store[key] for key in store.keys() if key != SEED_STATE})

    # --- config ------------------------------------------------------------------------

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "dataset": self.dataset,
            "image_shape": None if self.codes_are_targets else list(self.image_shape),
            "image_scale": self.image_scale,
            "target_shape": list(self.target_shape) if self.codes_are_targets else None,
            "n_targets": self.n_targets,
            "generator": self.generator_variant,
            "z_dim": self.z_dim,
            "n_hidden": self.n_hidden,
            "n_layers": self.n_layers,
            "distance": self.distance,
            "ot_batch_size": self.ot_batch_size,
            "psi_lr": self.psi_lr,
            "g_lr": self.g_lr,
            "mem_size": self.mem_size,
            "fit_steps": self.fit_steps,
            "max_ot_steps": self.max_ot_steps,
            "check_every": self.check_every,
            "hist_bins": self.hist_bins,
            "stop_band": None if self.stop_band is None else list(self.stop_band),
            "max_rounds": self.max_rounds,
            "distance_chunk": self.distance_chunk,
            "store_targets": self.store_targets,
            "decoder": None if self.decoder is None else keras.saving.serialize_keras_object(self.decoder),
            "seed": self.seed,
        }


def _checked_shapes(dataset: str, image_shape, target_shape, decoder) -> tuple[tuple | None, tuple]:
    """Returns (image_shape (H, W) or None, target_shape: (H, W, 1) for images, (d,) for codes);
    ConfigError naming a bad option or combination."""
    codes = target_shape is not None
    if codes:
        if isinstance(target_shape, (int, np.integer)):
            target_shape = (target_shape,)
        if isinstance(target_shape, (str, bytes)) or not hasattr(target_shape, "__len__") or len(target_shape) != 1:
            raise ConfigError(f"target_shape must be (code_dim,), the size of a code vector, got {target_shape!r}")
        target_shape = (checked_positive("target_shape", target_shape[0]),)
    if dataset == "codes":
        if not codes or decoder is not None:
            raise ConfigError("ewm on the codes data set needs target_shape=(code_dim,) and no decoder "
                              "(with a decoder, dataset is the image data set of the decoded images)")
        if image_shape is not None:
            raise ConfigError(f"ewm on the codes data set takes no image_shape, got {image_shape!r}")
        return None, target_shape
    if decoder is not None:
        if not codes:
            raise ConfigError("an ewm with a decoder learns code vectors: give target_shape=(code_dim,)")
        out = tuple(decoder.output_shape[1:])
        if tuple(decoder.input_shape[1:]) != target_shape or len(out) != 3 or out[-1] != 1:
            raise ConfigError(f"the decoder must map codes {target_shape} to images (H, W, 1), it maps "
                              f"{tuple(decoder.input_shape[1:])} to {out}")
        if image_shape is not None and checked_image_shape(image_shape) != out[:2]:
            raise ConfigError(f"image_shape {image_shape!r} is not the decoder's {out[:2]}")
        return out[:2], target_shape
    if codes:
        raise ConfigError(f"target_shape is for code vectors (dataset 'codes', or a decoder); the {dataset} "
                          f"data set's targets are images (image_shape)")
    shape = checked_image_shape((28, 28) if image_shape is None else image_shape)
    return shape, (*shape, 1)


def _one_copy(array: np.ndarray, n: int | None) -> np.ndarray:
    """Returns `array` without whole repetitions: its first p rows if it is them
    repeated (p = n, or with n None the shortest such period), else `array`."""
    total = len(array)
    periods = [n] if n is not None else range(1, total // 2 + 1)
    flat = array.reshape(total, -1)
    for p in periods:
        if p >= total or total % p or not np.array_equal(flat[p], flat[0]):
            continue
        if np.array_equal(flat.reshape(total // p, p, -1), np.broadcast_to(flat[:p], (total // p, *flat[:p].shape))):
            return array[:p]
    return array
