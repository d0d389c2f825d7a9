"""Training machinery for generative models made of several networks.

A `GenerativeModel` owns named networks (`generator`, `critic`, ...), one
optimizer per network, and an update schedule. `train_step` runs the schedule:
each `Update` computes one loss, differentiates it with respect to ONE network's
trainable variables and applies that network's optimizer. The same model code
runs on TensorFlow, JAX and torch through `Model.fit`; what differs per backend
(how a gradient is taken, how state is threaded) lives in `physgan.backend`.

Subclasses provide:
- `networks()`: `{name: keras.Model}`, built in `__init__` inside `keras.name_scope`
  so weight paths are the same on every backend;
- `update_schedule()`: the list of `Update`s of one training step;
- one method per loss, `def critic_loss(self, batch) -> (loss, logs)`;
- `default_optimizers(steps_per_epoch)`: the original optimizers and learning rates;
- `adapt(inputs)`: preprocessing statistics from the training arrays (train.py, new runs);
- `training_callbacks()`: the original's schedules in epochs (`LearningRateDecay`), which
  `fit` runs before the caller's callbacks;
- `metric_names`: the names of everything the loss methods log;
- `dataset`: the name of the data set it trains on (`physgan.datasets`);
- `sample(n, condition=None, seed=None, **options)`: that data set's events, in
  physical units (they know how to write and evaluate themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from physgan import backend
from physgan.errors import ConfigError


@dataclass(frozen=True)
class Update:
    """One gradient update of one network inside a training step.

    Args:
        network: name of the network whose trainable variables change.
        loss: name of the model method returning `(loss, logs)` for a batch.
        repeats: how many times this update runs per training step.
        split_batch: if True the incoming batch is cut into `repeats` equal
            parts and each repeat sees its own part (a fresh real batch per
            critic step, as WGAN-GP implementations do); else every repeat
            sees the whole batch.
    """

    network: str
    loss: str
    repeats: int = 1
    split_batch: bool = False

    def __post_init__(self):
        if self.repeats < 1:
            raise ConfigError(f"Update.repeats must be >= 1, got {self.repeats}")


class OptimizerGroup:
    """The per-network optimizers seen by Keras' trainers and callbacks as one optimizer.

    Keras' trainers thread `model.optimizer.variables` through JAX's functional
    state and build `model.optimizer` before the first step; Keras' learning-rate
    callbacks (`LearningRateScheduler`, `ReduceLROnPlateau`) change every member of
    `optimizers` and log `learning_rate_<network>`. `learning_rate` is the first
    network's rate; setting it scales every network's rate by the same factor,
    so the originals' ratios (e.g. generator 1e-4, critic 1e-5) are kept. Each
    network's rate stays reachable as `model.<network>_optimizer.learning_rate`.

    The group is not saved itself: the optimizers are attributes of the model
    (`generator_optimizer`, ...) and are saved from there.
    """

    def __init__(self, optimizers: dict, networks: dict):
        self.by_network = dict(optimizers)
        self.networks = networks

    @property
    def optimizers(self) -> list:
        """The member optimizers, in network order (as Keras' callbacks expect)."""
        return list(self.by_network.values())

    @property
    def variables(self) -> list:
        return [v for opt in self.optimizers for v in opt.variables]

    @property
    def built(self) -> bool:
        return all(opt.built for opt in self.optimizers)

    def build(self, _variables=None) -> None:
        for name, opt in self.by_network.items():
            if not opt.built:
                opt.build(self.networks[name].trainable_variables)

    @property
    def iterations(self):
        """The iterations of the first network's optimizer (for callbacks)."""
        return self.optimizers[0].iterations

    @property
    def learning_rate(self):
        """The first network's learning rate."""
        return self.optimizers[0].learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        factor = float(value) / float(keras.ops.convert_to_numpy(self.learning_rate))
        for opt in self.optimizers:
            opt.learning_rate = float(keras.ops.convert_to_numpy(opt.learning_rate)) * factor


def _optimizer_config(optimizer) -> dict:
    # Class name + config only: torch's optimizers carry backend module paths
    # that do not resolve on the other backends.
    return {
        "class_name": optimizer.__class__.__name__,
        "config": keras.saving.serialize_keras_object(optimizer)["config"],
    }


def _optimizer_from_config(config: dict):
    return keras.optimizers.deserialize(
        {"class_name": config["class_name"], "config": config["config"]}
    )


class DiscriminatorThenGenerator:
    """Mixin of a GAN with networks `generator` and `discriminator`: each step one
    discriminator update (`discriminator_loss`), then one generator update
    (`generator_loss`)."""

    def networks(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def update_schedule(self) -> list[Update]:
        return [Update("discriminator", "discriminator_loss"), Update("generator", "generator_loss")]


class GenerativeModel(backend.TrainStep, keras.Model):
    """Base class of every physgan model trained by alternating updates."""

    metric_names: tuple = ()
    default_batch_size: int = 128
    default_epochs: int = 10
    dataset: str | None = None  # the data set whose events `sample()` returns
    generator_quantization = None
    preset = None  # the `physgan.presets.Preset` it was loaded from, if any

    @property
    def takes_condition(self) -> bool:
        """Whether `sample(condition=...)` applies: its data set has a condition."""
        from physgan.datasets import get_dataset

        return self.dataset is not None and get_dataset(self.dataset).condition is not None

    def describe(self) -> str:
        """Returns a few lines on what this model is: architecture and size, data set,
        what `sample()` returns in which units, and, for a preset, its training and metrics."""
        from physgan.presets import describe_model

        return describe_model(self)

    # --- what subclasses define -------------------------------------------------

    def networks(self) -> dict:
        raise NotImplementedError

    def update_schedule(self) -> list[Update]:
        raise NotImplementedError

    def default_optimizers(self, steps_per_epoch: int | None = None) -> dict:
        raise NotImplementedError

    def sample(self, n: int, condition=None, seed: int | None = None, **options):
        """Returns `n` events of the model's data set (`physgan.data.base.Events`), in physical units.

        `condition` is the data set's condition (`DataSet.condition`: e.g. the
        incident energies in GeV, a scalar or (n,)); None draws it over the
        model's training range. The same `seed` gives the same events on every backend.
        """
        raise NotImplementedError

    def quantize_generator(self, mode: str = "int8") -> None:
        """Quantizes the generation network (models that support it override this)."""
        raise ConfigError(f"{type(self).__name__} models have no quantized generation "
                          f"(--quantize applies to CaloGAN models)")

    def model_figures(self, reference, out_dir) -> list:
        """Returns the PNG paths of figures particular to this architecture (beyond the
        data set's real-vs-generated figures), drawn for `watch_results.py`; `reference`
        holds the data set's events. None by default."""
        return []

    @property
    def required_inputs(self) -> tuple[str, ...]:
        """The keys every training batch must hold."""
        return ()

    def training_callbacks(self) -> list:
        """The callbacks of the original's schedules in epochs (e.g. a per-epoch
        learning-rate decay), which `fit` runs before the caller's. None by default."""
        return []

    def adapt(self, inputs: dict) -> None:
        """Sets statistics of preprocessing from the training arrays `inputs` (numpy),
        as Keras' preprocessing layers' `adapt` does; train.py calls it once on a new
        run's training events. Nothing by default."""

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """Returns the model of `config`, its networks built under the config's dtype
        policy (`physgan.precision`), so a mixed-precision model reloads as it was saved."""
        from physgan.precision import build_in_policy

        return build_in_policy(lambda: super(GenerativeModel, cls).from_config(config, custom_objects),
                               config.get("dtype"))

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the model's `training_callbacks()` first."""
        return super().fit(*args, callbacks=[*self.training_callbacks(), *(callbacks or [])], **kwargs)

    # --- compile -------------------------------------------------------------------

    def compile(
        self,
        optimizers: dict | None = None,
        steps_per_epoch: int | None = None,
        jit_compile="auto",
        **kwargs,
    ):
        """Configures one optimizer per network.

        Args:
            optimizers: `{network_name: optimizer}` overriding the defaults of
                `default_optimizers` (the original hyper-parameters).
            steps_per_epoch: training steps per epoch; models whose original
                decays learning rates per epoch use it to build schedules.
            jit_compile: as in `keras.Model.compile`; forced off on torch,
                whose compiler cannot double-backward (gradient penalties).
        """
        networks = self.networks()
        chosen = self.default_optimizers(steps_per_epoch)
        chosen.update(optimizers or {})
        unknown = set(chosen) - set(networks)
        if unknown:
            raise ConfigError(
                f"optimizers given for unknown networks {sorted(unknown)}; "
                f"this model has {sorted(networks)}"
            )
        missing = set(networks) - set(chosen)
        if missing:
            raise ConfigError(f"no optimizer for networks {sorted(missing)}")
        if keras.backend.backend() == "torch":
            jit_compile = False
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        resolved = {}
        loss_scaling = self.dtype_policy.name == "mixed_float16"
        for name in networks:
            opt = keras.optimizers.get(chosen[name])
            if loss_scaling and not isinstance(opt, keras.optimizers.LossScaleOptimizer):
                opt = keras.optimizers.LossScaleOptimizer(opt)  # float16 gradients would underflow
            opt.name = name  # Keras' learning-rate callbacks log learning_rate_<name>
            setattr(self, f"{name}_optimizer", opt)
            resolved[name] = opt
        self.optimizer = OptimizerGroup(resolved, networks)
        if self.built:
            self.optimizer.build()
        self._physgan_compile_config = {
            # The inner optimizers: compile wraps them again under mixed_float16.
            "optimizers": {k: _optimizer_config(getattr(v, "inner_optimizer", v)) for k, v in resolved.items()},
            "steps_per_epoch": steps_per_epoch,
        }

    def get_compile_config(self) -> dict:
        return dict(getattr(self, "_physgan_compile_config", {}))

    def compile_from_config(self, config: dict) -> None:
        optimizers = {
            name: _optimizer_from_config(cfg)
            for name, cfg in config.get("optimizers", {}).items()
        }
        self.compile(optimizers=optimizers, steps_per_epoch=config.get("steps_per_epoch"))

    def network_optimizer(self, name: str):
        """Returns the optimizer of network `name`."""
        return getattr(self, f"{name}_optimizer")

    # --- metrics ---------------------------------------------------------------------

    def _ensure_trackers(self):
        if not hasattr(self, "_trackers"):
            self._trackers = {n: keras.metrics.Mean(name=n) for n in self.metric_names}

    @property
    def metrics(self) -> list:
        self._ensure_trackers()
        return list(self._trackers.values())

    # --- the training step -------------------------------------------------------

    def run_training_step(self, data) -> dict:
        """Runs `update_schedule()` on one batch; returns the metric results."""
        batch = keras.utils.unpack_x_y_sample_weight(data)[0]
        self._ensure_trackers()
        for update in self.update_schedule():
            parts = _split(batch, update.repeats) if update.split_batch else None
            for i in range(update.repeats):
                logs = self._apply_update(update, parts[i] if parts else batch)
                for key, value in logs.items():
                    if key not in self._trackers:
                        raise ConfigError(
                            f"{type(self).__name__}.{update.loss} logs {key!r}, "
                            f"which is not in metric_names {self.metric_names}"
                        )
                    self._trackers[key].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def _apply_update(self, update: Update, batch) -> dict:
        network = self.networks()[update.network]
        variables = network.trainable_variables
        optimizer = self.network_optimizer(update.network)
        logs, grads = self.gradients(optimizer, lambda: getattr(self, update.loss)(batch), variables)
        backend.apply_gradients(optimizer, grads, variables)
        return logs

    def gradients(self, optimizer, loss_fn, variables) -> tuple:
        """Returns `(logs, grads)` of `loss_fn() -> (loss, logs)` w.r.t. `variables`, the loss
        scaled by `optimizer.scale_loss` (a `LossScaleOptimizer` under mixed_float16,
        whose `apply` unscales the gradients)."""

        def scaled_loss():
            loss, logs = loss_fn()
            return optimizer.scale_loss(loss), logs

        _, logs, grads = backend.value_and_grad(scaled_loss, variables)
        return logs, grads

    def input_gradient(self, fn, inputs):
        """Returns d sum(fn(inputs)) / d inputs, differentiable (for penalties)."""
        return backend.input_gradient(fn, inputs)

    # --- helpers for subclasses ------------------------------------------------------

    def predict_in_batches(self, network, inputs, batch_size: int = 4096):
        """Returns `network(inputs)` as numpy (a list for several outputs), in
        inference mode, computed in batches.

        It runs the backend's compiled predict function (jit on JAX,
        tf.function on TF): many times faster than eager calls.
        """
        arrays = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        n = len(arrays[0])
        chunks = []
        for start in range(0, n, batch_size):
            chunk = [a[start : start + batch_size] for a in arrays]
            out = network.predict_on_batch(chunk if len(chunk) > 1 else chunk[0])
            chunks.append([np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out))
        if not chunks:
            shapes = [tuple(o.shape[1:]) for o in network.outputs]
            empty = [np.zeros((0, *shape), dtype="float32") for shape in shapes]
            return empty if len(empty) > 1 else empty[0]
        if isinstance(chunks[0], list):
            return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
        return np.concatenate(chunks, axis=0)


class LearningRateDecay(keras.callbacks.Callback):
    """Multiplies the learning rates of `networks` (default: all) by `factor` after
    every epoch (torch's ExponentialLR, the originals' per-epoch decays), or only
    after the (1-based) epochs in `milestones` (torch's MultiStepLR).

    It sets the optimizers' learning-rate variables, which checkpoints save, so a
    resumed run continues from the decayed rates; it composes with Keras' own
    learning-rate callbacks. Optimizers built with a `LearningRateSchedule` (runs
    saved before this callback existed) keep their schedule and are left alone.
    """

    def __init__(self, factor: float, networks: tuple[str, ...] | None = None,
                 milestones: tuple[int, ...] | None = None):
        super().__init__()
        self.factor = float(factor)
        self.networks = None if networks is None else tuple(networks)
        self.milestones = None if milestones is None else {int(m) for m in milestones}

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        decay = self.milestones is None or epoch + 1 in self.milestones
        for name, optimizer in self.model.optimizer.by_network.items():
            if self.networks is not None and name not in self.networks:
                continue
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            if logs is not None:  # the rate of the epoch that ended (before any decay), as Keras logs it
                logs.setdefault(f"learning_rate_{name}", rate)
            if decay:
                try:
                    optimizer.learning_rate = rate * self.factor
                except TypeError:  # built with a LearningRateSchedule, which decays by itself
                    pass


def _split(batch, parts: int):
    """Cuts every tensor of `batch` into `parts` equal pieces along axis 0."""
    first = keras.tree.flatten(batch)[0]
    size = first.shape[0]  # None while TensorFlow traces batches of a PyDataset
    if size is None:
        step = keras.ops.shape(first)[0] // parts
    elif size % parts:
        raise ConfigError(
            f"a batch of {size} cannot be split into {parts} equal critic batches; "
            f"use a batch size divisible by {parts}"
        )
    else:
        step = size // parts
    return [
        keras.tree.map_structure(lambda t, i=i: t[i * step : (i + 1) * step], batch)
        for i in range(parts)
    ]
