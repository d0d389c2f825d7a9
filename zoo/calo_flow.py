"""calo_flow: a two-stage conditional flow-matching model of calorimeter showers.

Not a port: none of the original projects has it (issue #25). It follows
CaloFlow's split of the problem (Krause & Shih, arXiv:2106.05285) with
conditional flow matching (Lipman et al., arXiv:2210.02747) as the generative
core instead of masked autoregressive flows:

- Stage 1, `energy_flow`: the layer energies given the incident energy E.
  Features (CaloFlow's u): log(E_tot / E) and, for each layer but the last, the
  share of the energy left to it and the layers behind it that it takes,
  E_i / (E_i + ... + E_{L-1}), logit-transformed. Generated energies invert
  these, so the layers sum to the generated E_tot exactly.
- Stage 2, `cell_flow`: the cells of each layer divided by that layer's energy,
  logit-transformed, given E and the stage-1 features. Generated cells are
  clipped at 0, renormalised to sum 1 per layer and multiplied by the stage-1
  layer energies, so every layer holds exactly its generated energy.

Each stage is a velocity field v(x_t, t, condition): a residual MLP with
SiLU activations whose every block sees Fourier features of t and the
condition, plus a per-dimension pathway (`physgan.layers.ElementwiseMLP`: a
32-unit MLP of each x_i and the last block's features, with its own weights
per dimension). It is trained on the straight path x_t = (1 - t) x_0 + t x_1
from x_0 ~ N(0, 1) to a data point x_1 with the loss |v - (x_1 - x_0)|^2
(rectified flow, sigma_min = 0), t drawn logit-normal(0, 1) as in Esser et
al. (arXiv:2403.03206) rather than uniform. Generation integrates dx/dt = v
from t = 0 to 1 with a fixed-step solver (`solver` "euler" or "midpoint", `steps` steps; both are
options of `sample()`). Both stages train at once on every batch (stage 2 on
the true layer energies).

Preprocessing: cells below `threshold_mev` (1 keV for CaloGAN, 0.1 keV for
ILD) are empty. A lit cell's feature is logit(alpha + (1 - 2 alpha) x) of its
share x of the layer energy, with CaloFlow's alpha = 1e-6, so at least
logit(alpha) = -13.8; each feature is then standardised with the training
data's mean and standard deviation (`adapt`, which train.py runs on the
training events of a new run; the statistics are weights, saved with the
model).

Departure from CaloFlow, which adds uniform noise of [0, 1 keV] to every cell
(so an empty cell's share is about 0 and its feature about logit(alpha)): an
empty cell is parked `empty_gap` logit units below logit(alpha), spread over
one unit, and a generated cell is empty when its feature is below the middle
of the gap. Generated features are also capped at each cell's training
maximum (`adapt`), which cut the layer-0 width of the gap-4 model from 50 to
25 mm (Geant4: 15). A flow smears a narrow peak, and a wide gap makes each
cell's distribution wider, which the flow resolves worse. Measured on the
1,000 held-out e+ showers (`physgan.evaluate --run`, 21 steps per epoch):

| preprocessing | epoch | hits per shower, layers 0 / 1 / 2 | sep. power: hits L0 / width y L0 / width x L1 | FPD | AUC cells |
|---|---|---|---|---|---|
| Geant4 | | 118 / 110 / 19 | | | |
| CaloFlow's noise (alpha 1e-6) | 100 | 216 / 132 / 41 | 0.89 / 0.36 / 0.21 | 101 | 0.954 |
| noise, alpha 1e-9 | 100 | 190 / 129 / 40 | 0.69 / 0.69 / 0.62 | 3585 | 0.985 |
| gap 4 | 400 | 118 / 108 / 18 | 0.06 / 0.60 / 0.48 | 75 | 0.992 |
| gap 1 | 200 | 162 / 121 / 24 | 0.39 / 0.45 / 0.25 | 32 | 0.979 |
| gap 0.5 | 200 | 175 / 124 / 25 | 0.53 / 0.42 / 0.21 | 29 | 0.976 |
| gap 1, t logit-normal | 300 | 159 / 121 / 23 | 0.35 / 0.40 / 0.18 | 26 | 0.976 |
| gap 1, t logit-normal, per-dimension pathway (the default) | 200 | 140 / 118 / 19 | 0.14 / 0.46 / 0.10 | 19 | 0.866 |
| the same, shipped run (`calo_flow_eplus`) | 500 | | 0.08 / 0.24 / 0.05 | 7.8 | 0.756 |
| the same, the first shipped run | 1000 | | 0.07 / 0.10 / 0.04 | 5.3 | 0.723 |
| the same with `reflect` | 1000 | | 0.04 / 0.04 / 0.02 | 3.0 | 0.708 |
| the same, 1,500 more epochs (lr 2e-4, the shipped file) | 2500 | | 0.03 / 0.04 / 0.02 | 1.7 | 0.636 |

The rows above the default's are without the per-dimension pathway (and
those above logit-normal t with t uniform). What did not help: a wider network (cell_width 1024, depth 3: width
y L0 0.55, width x L1 0.51 after 100 epochs with gap 4), more epochs (gap 4:
the same at 200 and 400), LayerNorm in the blocks, and standardising each
cell by its lit values only. The dense MLP reproduced the core cells (their
logit quantiles within 0.02 of Geant4's) but spread the lit outer cells far
too widely, on the training showers as on the held-out ones: a capacity
limit of one dense field for 504 bimodal cells, which the per-dimension
pathway eases, and longer training narrows. `reflect` trains on showers
mirrored across the beam in y and x at random (the CaloGAN showers are centred
on it: their mean centroids sit at the grid centres to 0.01 cells), 4x the
data, which lowered every figure of both models (photons: AUC 0.840 -> 0.796,
largest separation power 0.16 -> 0.14), and 1,500 more epochs from those
weights lowered them again (photons: AUC 0.681, 0.082). Both shipped models meet
issue #25's AUC target (<= 0.75) but not its separation-power target (<= 0.05):
their layer-2 widths and centres score 0.05-0.08, as the flow puts too much of
layer 2's energy 3 or more cells from its hottest cell. They score the same on
their own training showers, so the limit is training length, not the data. Generation needs no more than 4-8 midpoint steps (the
default is 8): on the shipped e+ model 4, 8, 16 and 32 steps score the same
(`benchmarks/flow_generation.py --fidelity`), 2 steps do not.

Layouts (`dataset`):
- "calogan": 3 layers of 288, 144 and 72 cells; stage 2 models all 504 cells
  jointly (one MLP), so the correlations between layers are learned.
- "ild": 30 layers of 30 x 30 cells; stage 2 models one layer at a time (900
  cells) with ONE network shared by the layers, told which layer it draws by
  a one-hot index, conditioned on all 30 stage-1 features. A joint model of
  27,000 cells would need input and output layers of 27,000 x width (28M
  parameters at width 512) and far more than 5,000 training showers; the per-layer model
  learns each layer's shape given every layer's energy, and the longitudinal
  profile comes exactly from stage 1; what it cannot learn is the
  correlation of the lateral shapes of different layers beyond what the
  energies carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from physgan.errors import ConfigError
from physgan.layers import ElementwiseMLP, TimeFeatures
from physgan.registry import register_model
from physgan.training import GenerativeModel, Update

SOLVERS = ("euler", "midpoint")
STD_FLOOR = 1e-3  # the smallest standard deviation a feature is divided by
TINY_MEV = 1e-12  # guards divisions by the energy of an empty layer
CEILING = 50.0  # a cell feature's ceiling before `adapt` (logit(1 - alpha) is 13.8)


@dataclass(frozen=True)
class Layout:
    """The cells of one data set as calo_flow sees them."""

    cell_keys: tuple[str, ...]  # the training batch's cell arrays, in order
    layer_sizes: tuple[int, ...]  # cells per calorimeter layer, in the flattened order
    to_mev: float  # training arrays' cell unit in MeV
    threshold_mev: float  # default readout threshold: cells below it are empty
    energy_range: tuple[float, float]  # default incident energies, GeV
    per_layer: bool  # stage 2 draws one layer at a time (equal layer sizes)
    particle: str  # the default particle name
    lateral_axes: tuple[int, int]  # the axes of a cell array across the beam (y, x)

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes)

    @property
    def n_cells(self) -> int:
        return sum(self.layer_sizes)

    @property
    def block_size(self) -> int:
        """The cells stage 2 draws in one row: one layer's, or all of them."""
        return self.layer_sizes[0] if self.per_layer else self.n_cells

    def membership(self) -> np.ndarray:
        """Returns float32 (cells, layers): 1 where a cell belongs to a layer."""
        return np.repeat(np.eye(self.n_layers, dtype="float32"), self.layer_sizes, axis=0)


LAYOUTS = {
    "calogan": Layout(("layer_0", "layer_1", "layer_2"), (288, 144, 72), 1000.0, 1e-3, (1.0, 100.0), False, "eplus", (1, 2)),
    "ild": Layout(("layers",), (900,) * 30, 1.0, 1e-4, (10.0, 100.0), True, "gamma", (2, 3)),
}


def build_velocity_network(dim: int, condition_dim: int, width: int, depth: int, name: str,
                           elementwise: int = 32) -> keras.Model:
    """Returns a velocity field (x (B, dim), t (B, 1), condition (B, c)) -> (B, dim): a
    residual MLP of `depth` blocks of `width` whose blocks all see t and the condition,
    plus a per-dimension MLP of `elementwise` hidden units on each x_i and the last block."""
    x = keras.Input((dim,), name="x")
    t = keras.Input((1,), name="t")
    condition = keras.Input((condition_dim,), name="condition")
    context = layers.Concatenate(name="context_inputs")([TimeFeatures(name="time_features")(t), condition])
    context = layers.Dense(width, activation="silu", name="context")(context)
    h = layers.Dense(width, name="input")(layers.Concatenate(name="inputs")([x, context]))
    for i in range(depth):
        r = layers.Dense(width, name=f"block_{i}_dense_0")(layers.Activation("silu", name=f"block_{i}_act_0")(h))
        r = layers.Add(name=f"block_{i}_context")([r, layers.Dense(width, name=f"block_{i}_context_dense")(context)])
        r = layers.Dense(width, name=f"block_{i}_dense_1")(layers.Activation("silu", name=f"block_{i}_act_1")(r))
        h = layers.Add(name=f"block_{i}_residual")([h, r])
    v = layers.Dense(dim, kernel_initializer="zeros", name="velocity")(layers.Activation("silu", name="output_act")(h))
    v = layers.Add(name="velocity_sum")([v, ElementwiseMLP(elementwise, name="elementwise")([x, h])])
    return keras.Model([x, t, condition], v, name=name)


def _logit(x, alpha: float):
    x = alpha + (1.0 - 2.0 * alpha) * x
    return ops.log(x) - ops.log1p(-x)


def _inverse_logit(y: np.ndarray, alpha: float) -> np.ndarray:
    return np.clip((1.0 / (1.0 + np.exp(-y)) - alpha) / (1.0 - 2.0 * alpha), 0.0, 1.0)


@register_model(
    "calo_flow",
    "calo_flow: two-stage conditional flow matching (layer energies, then normalised cells) for CaloGAN and ILD showers",
)
@keras.saving.register_keras_serializable(package="physgan")
class CaloFlow(GenerativeModel):
    """Two-stage flow-matching model of calorimeter showers (see the module docstring).

    Batches are the data set's training arrays: CaloGAN `energy` (B, 1) GeV and
    `layer_0..2` (B, r, c, 1) GeV; ILD `energy` (B, 1) GeV and `layers`
    (B, 30, 30, 30, 1) MeV.
    """

    datasets = ("calogan", "ild")  # the first is train.py's default
    metric_names = ("energy_flow_loss", "cell_flow_loss")
    default_batch_size = 256
    default_epochs = 500

    def __init__(
        self,
        dataset: str = "calogan",
        particles: tuple[str, ...] | None = None,
        energy_range: tuple[float, float] | None = None,
        energy_width: int = 128,
        energy_depth: int = 3,
        cell_width: int = 512,
        cell_depth: int = 4,
        alpha: float = 1e-6,
        threshold_mev: float | None = None,
        empty_gap: float = 1.0,
        steps: int = 8,
        solver: str = "midpoint",
        learning_rate: float = 5e-4,
        reflect: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if dataset not in LAYOUTS:
            raise ConfigError(f"calo_flow models the {' and '.join(LAYOUTS)} layouts, not {dataset!r}")
        layout = LAYOUTS[dataset]
        particles = tuple(particles or (layout.particle,))
        if len(particles) != 1:
            raise ConfigError(f"calo_flow models one particle per model; train one for each of {', '.join(particles)}")
        self.dataset = dataset
        self.layout = layout
        self.particles = particles
        low, high = (float(v) for v in (energy_range or layout.energy_range))
        if not 0 < low < high:
            raise ConfigError(f"energy_range must be 0 < low < high GeV, got {[low, high]}")
        self.energy_range = (low, high)
        for option, value in (("energy_width", energy_width), ("energy_depth", energy_depth),
                              ("cell_width", cell_width), ("cell_depth", cell_depth)):
            if int(value) < 1:
                raise ConfigError(f"{option} must be >= 1, got {value}")
        self.energy_width, self.energy_depth = int(energy_width), int(energy_depth)
        self.cell_width, self.cell_depth = int(cell_width), int(cell_depth)
        alpha = float(alpha)  # --set alpha=1e-6 arrives as a string (YAML 1.1 wants 1.0e-6)
        if not 0 < alpha < 0.5:
            raise ConfigError(f"alpha must be in (0, 0.5), got {alpha}")
        self.alpha = alpha
        self.threshold_mev = float(layout.threshold_mev if threshold_mev is None else threshold_mev)
        if self.threshold_mev <= 0:
            raise ConfigError(f"threshold_mev must be > 0 MeV, got {self.threshold_mev}")
        self.empty_gap = float(empty_gap)
        if self.empty_gap <= 0:
            raise ConfigError(f"empty_gap must be > 0 (logit units), got {self.empty_gap}")
        self.steps = self._checked_steps(steps)
        self.solver = self._checked_solver(solver)
        self.learning_rate = float(learning_rate)
        self.reflect = bool(reflect)
        self.seed = seed
        n_layers = layout.n_layers
        cell_condition = 1 + n_layers + (n_layers if layout.per_layer else 0)
        with keras.name_scope("energy_flow"):
            self.energy_flow = build_velocity_network(n_layers, 1, self.energy_width, self.energy_depth, "energy_flow")
        with keras.name_scope("cell_flow"):
            self.cell_flow = build_velocity_network(layout.block_size, cell_condition, self.cell_width, self.cell_depth,
                                                    "cell_flow")
        self.energy_shift = self.add_weight((n_layers,), initializer="zeros", trainable=False, name="energy_shift")
        self.energy_scale = self.add_weight((n_layers,), initializer="ones", trainable=False, name="energy_scale")
        self.cell_shift = self.add_weight((layout.n_cells,), initializer="zeros", trainable=False, name="cell_shift")
        self.cell_scale = self.add_weight((layout.n_cells,), initializer="ones", trainable=False, name="cell_scale")
        self.cell_ceiling = self.add_weight((layout.n_cells,), initializer=keras.initializers.Constant(CEILING),
                                            trainable=False, name="cell_ceiling")
        self._membership = layout.membership()
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @staticmethod
    def _checked_steps(steps) -> int:
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ConfigError(f"steps (ODE steps of generation) must be an integer >= 1, got {steps!r}")
        return int(steps)

    @staticmethod
    def _checked_solver(solver) -> str:
        if solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        return solver

    # --- engine hooks ----------------------------------------------------------------

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return ("energy", *self.layout.cell_keys)

    def networks(self) -> dict:
        return {"energy_flow": self.energy_flow, "cell_flow": self.cell_flow}

    def update_schedule(self) -> list[Update]:
        return [Update("energy_flow", "energy_flow_loss"), Update("cell_flow", "cell_flow_loss")]

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        return {name: keras.optimizers.Adam(self.learning_rate) for name in self.networks()}

    def call(self, inputs, training=False):
        return self.cell_flow(inputs, training=training)

    # --- preprocessing (keras.ops: the same code in training and in `adapt`) ---------

    def _energy_condition(self, energy):
        """Returns log E scaled to [-1, 1] over `energy_range`: (B, 1)."""
        low, high = np.log(self.energy_range[0]), np.log(self.energy_range[1])
        return 2.0 * (ops.log(energy) - low) / (high - low) - 1.0

    @property
    def empty_level(self) -> float:
        """The cell feature below which a generated cell is empty: halfway down the gap."""
        return float(np.log(self.alpha) - np.log1p(-self.alpha)) - 0.5 * self.empty_gap

    def _features(self, batch, jitter):
        """Returns (energy features (B, L), cell features (B, cells)), not standardised;
        `jitter` (B, cells) in [0, 1) spreads the empty cells over one logit unit."""
        n = ops.shape(batch["energy"])[0]
        cells = ops.concatenate([ops.reshape(batch[key], (n, -1)) for key in self.layout.cell_keys], axis=1)
        cells = cells * self.layout.to_mev
        cells = ops.where(cells >= self.threshold_mev, cells, 0.0)
        membership = ops.convert_to_tensor(self._membership)
        layer_energy = ops.matmul(cells, membership)  # (B, L) MeV
        shares = cells / ops.maximum(ops.matmul(layer_energy, ops.transpose(membership)), TINY_MEV)
        total = ops.sum(layer_energy, axis=1, keepdims=True)
        behind = ops.convert_to_tensor(np.triu(np.ones((self.layout.n_layers,) * 2, dtype="float32")).T)
        remaining = ops.matmul(layer_energy, behind)  # E_i + ... + E_{L-1}
        taken = layer_energy[:, :-1] / ops.maximum(remaining[:, :-1], TINY_MEV)
        energy_features = ops.concatenate(
            [ops.log(ops.maximum(total, TINY_MEV) / (batch["energy"] * 1000.0)), _logit(taken, self.alpha)], axis=1)
        parked = self.empty_level - 0.5 * self.empty_gap - jitter
        return energy_features, ops.where(cells > 0, _logit(shares, self.alpha), parked)

    def _reflected(self, batch):
        """Returns `batch` with each shower mirrored across the beam in y and in x, each with
        probability 1/2 (the same for all its layers): the detector's symmetries."""
        n = ops.shape(batch["energy"])[0]
        flips = keras.random.uniform((n, 2), seed=self.seed_generator) < 0.5
        reflected = dict(batch)
        for key in self.layout.cell_keys:
            cells = batch[key]
            shape = (n,) + (1,) * (len(cells.shape) - 1)
            for i, axis in enumerate(self.layout.lateral_axes):
                cells = ops.where(ops.reshape(flips[:, i], shape), ops.flip(cells, axis=axis), cells)
            reflected[key] = cells
        return reflected

    def _training_features(self, batch):
        if self.reflect:
            batch = self._reflected(batch)
        n = ops.shape(batch["energy"])[0]
        jitter = keras.random.uniform((n, self.layout.n_cells), seed=self.seed_generator)
        energy_features, cell_features = self._features(batch, jitter)
        energy_features = (energy_features - self.energy_shift) / self.energy_scale
        cell_features = (cell_features - self.cell_shift) / self.cell_scale
        return energy_features, cell_features

    def _cell_condition(self, energy_condition, energy_features):
        """Returns stage 2's condition (B, 1 + L) or, per layer, (B * L, 1 + 2 L)."""
        condition = ops.concatenate([energy_condition, energy_features], axis=1)
        if not self.layout.per_layer:
            return condition
        n, n_layers = ops.shape(condition)[0], self.layout.n_layers
        repeated = ops.repeat(ops.expand_dims(condition, 1), n_layers, axis=1)
        index = ops.broadcast_to(ops.eye(n_layers, dtype=condition.dtype), (n, n_layers, n_layers))
        return ops.reshape(ops.concatenate([repeated, index], axis=2), (n * n_layers, -1))

    def adapt(self, inputs: dict, batch_size: int = 1024) -> None:
        """Sets the standardisation of both stages' features from training arrays
        (`inputs`: the data set's training arrays, numpy)."""
        rng = np.random.default_rng(self.seed)
        n = len(inputs["energy"])
        sums = None
        for start in range(0, n, batch_size):
            batch = {key: inputs[key][start:start + batch_size] for key in self.required_inputs}
            m = len(batch["energy"])
            jitter = rng.uniform(0.0, 1.0, (m, self.layout.n_cells)).astype("float32")
            features = [ops.convert_to_numpy(f).astype("float64") for f in self._features(batch, jitter)]
            moments = [(f.sum(0), np.square(f).sum(0)) for f in features]
            sums = moments if sums is None else [(a + s, b + q) for (a, b), (s, q) in zip(sums, moments)]
            ceiling = features[1].max(0) if start == 0 else np.maximum(ceiling, features[1].max(0))
        for (total, squares), shift, scale in zip(sums, (self.energy_shift, self.cell_shift),
                                                  (self.energy_scale, self.cell_scale)):
            mean = total / n
            std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
            shift.assign(mean.astype("float32"))
            scale.assign(np.maximum(std, STD_FLOOR).astype("float32"))
        self.cell_ceiling.assign(ceiling.astype("float32"))

    # --- losses ------------------------------------------------------------------------

    def _flow_matching_loss(self, network, target, condition):
        n = ops.shape(target)[0]
        start = keras.random.normal(ops.shape(target), seed=self.seed_generator)
        t = ops.sigmoid(keras.random.normal((n, 1), seed=self.seed_generator))  # logit-normal(0, 1)
        velocity = network([(1.0 - t) * start + t * target, t, condition], training=True)
        return ops.mean(ops.square(velocity - (target - start)))

    def energy_flow_loss(self, batch):
        energy_features, _ = self._training_features(batch)
        loss = self._flow_matching_loss(self.energy_flow, energy_features, self._energy_condition(batch["energy"]))
        return loss, {"energy_flow_loss": loss}

    def cell_flow_loss(self, batch):
        energy_features, cell_features = self._training_features(batch)
        condition = self._cell_condition(self._energy_condition(batch["energy"]), energy_features)
        if self.layout.per_layer:
            cell_features = ops.reshape(cell_features, (-1, self.layout.block_size))
        loss = self._flow_matching_loss(self.cell_flow, cell_features, condition)
        return loss, {"cell_flow_loss": loss}

    # --- generation --------------------------------------------------------------------

    def _integrate(self, network, condition: np.ndarray, dim: int, rng: np.random.Generator,
                   steps: int, solver: str, batch_size: int) -> np.ndarray:
        """Returns x(1) of dx/dt = network(x, t, condition) from x(0) ~ N(0, 1), (n, dim)."""
        x = rng.standard_normal((len(condition), dim)).astype("float32")
        h = 1.0 / steps
        for start in range(0, len(x), batch_size):
            xb, cb = x[start:start + batch_size], condition[start:start + batch_size]

            def velocity(state, t):
                return np.asarray(network.predict_on_batch([state, np.full((len(state), 1), t, "float32"), cb]))

            for k in range(steps):
                t = k * h
                if solver == "euler":
                    xb = xb + h * velocity(xb, t)
                else:
                    xb = xb + h * velocity(xb + 0.5 * h * velocity(xb, t), t + 0.5 * h)
            x[start:start + batch_size] = xb
        return x

    def _layer_energies(self, features: np.ndarray, energies: np.ndarray) -> np.ndarray:
        """Returns (n, L) layer energies [MeV] from stage-1 features (not standardised)."""
        total = np.exp(features[:, 0].astype("float64")) * energies * 1000.0
        taken = _inverse_logit(features[:, 1:].astype("float64"), self.alpha)
        layer_energy = np.zeros((len(energies), self.layout.n_layers))
        remaining = total
        for i in range(self.layout.n_layers - 1):
            layer_energy[:, i] = taken[:, i] * remaining
            remaining = remaining - layer_energy[:, i]
        layer_energy[:, -1] = remaining
        return layer_energy

    def generate_cells(self, energies: np.ndarray, rng: np.random.Generator, steps: int | None = None,
                       solver: str | None = None, batch_size: int = 4096) -> np.ndarray:
        """Returns (n, cells) float32 cells in MeV for incident `energies` (n,) GeV."""
        steps = self.steps if steps is None else self._checked_steps(steps)
        solver = self.solver if solver is None else self._checked_solver(solver)
        energies = np.asarray(energies, dtype="float64").reshape(-1)
        n, layout = len(energies), self.layout
        energy_condition = np.asarray(ops.convert_to_numpy(
            self._energy_condition(ops.convert_to_tensor(energies.reshape(-1, 1), "float32"))), "float32")
        energy_z = self._integrate(self.energy_flow, energy_condition, layout.n_layers, rng, steps, solver,
                                   batch_size)
        features = energy_z * ops.convert_to_numpy(self.energy_scale) + ops.convert_to_numpy(self.energy_shift)
        layer_energy = self._layer_energies(features, energies)
        condition = np.asarray(ops.convert_to_numpy(self._cell_condition(
            ops.convert_to_tensor(energy_condition), ops.convert_to_tensor(energy_z))), "float32")
        cell_z = self._integrate(self.cell_flow, condition, layout.block_size, rng, steps, solver, batch_size).reshape(n, -1)
        cell_features = np.minimum(cell_z * ops.convert_to_numpy(self.cell_scale) + ops.convert_to_numpy(self.cell_shift),
                                   ops.convert_to_numpy(self.cell_ceiling))
        shares = np.where(cell_features > self.empty_level, _inverse_logit(cell_features, self.alpha), 0.0)
        shares = shares / np.maximum((shares @ self._membership) @ self._membership.T, 1e-30)
        cells = shares * (layer_energy @ self._membership.T)
        cells[cells < self.threshold_mev] = 0.0
        return cells.astype("float32")

    def sample(self, n: int, condition=None, seed: int | None = None, steps: int | None = None,
               solver: str | None = None, batch_size: int = 4096):
        """Returns `n` showers of the model's layout (cells in MeV, energies in GeV).

        Args:
            condition: incident energies in GeV (scalar or (n,)); None draws
                them uniformly over `energy_range`.
            seed: makes the draw reproducible (the same on every backend).
            steps: ODE steps per stage (default: the model's `steps`); fewer is
                faster and less faithful.
            solver: "euler" or "midpoint" (two network calls per step).
            batch_size: rows per network call.
        """
        rng = np.random.default_rng(seed)
        if condition is None:
            energies = rng.uniform(*self.energy_range, size=n)
        else:
            energies = np.broadcast_to(np.asarray(condition, dtype="float64").reshape(-1), (n,))
        cells = self.generate_cells(energies, rng, steps, solver, batch_size)
        return self._events(energies.astype("float32"), cells)

    def _events(self, energies: np.ndarray, cells: np.ndarray):
        n = len(energies)
        if self.dataset == "ild":
            from physgan.data.ild import SHOWER_SHAPE, IldShowers

            return IldShowers(incident_energy=energies, layers=cells.reshape(n, *SHOWER_SHAPE))
        from physgan.data.calogan import LAYER_SHAPES, CaloShowers

        bounds = np.cumsum((0, *self.layout.layer_sizes))
        layers_ = tuple(cells[:, a:b].reshape(n, *shape) for a, b, shape in zip(bounds, bounds[1:], LAYER_SHAPES))
        return CaloShowers(incident_energy=energies, layers=layers_, overflow=None)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "dataset": self.dataset,
            "particles": list(self.particles),
            "energy_range": list(self.energy_range),
            "energy_width": self.energy_width,
            "energy_depth": self.energy_depth,
            "cell_width": self.cell_width,
            "cell_depth": self.cell_depth,
            "alpha": self.alpha,
            "threshold_mev": self.threshold_mev,
            "empty_gap": self.empty_gap,
            "steps": self.steps,
            "solver": self.solver,
            "learning_rate": self.learning_rate,
            "reflect": self.reflect,
            "seed": self.seed,
        }
