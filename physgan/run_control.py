"""The callbacks behind train.py's run-control flags, built from Keras' own.

    --lr-schedule exp:0.95           every learning rate x 0.95 after every epoch
    --lr-schedule step:30,60:0.1     every learning rate x 0.1 after epochs 30 and 60
    --reduce-lr-on-plateau critic_loss[:PATIENCE[:FACTOR]]
    --early-stopping generator_loss[:PATIENCE]
    --tensorboard DIR

All of them act on every network's rate at once (the ratio between the networks
is kept; `physgan.training.OptimizerGroup`) and run on top of the model's own
schedule (e.g. MPD's x0.995 per epoch). Monitored metrics are any loss the model
logs, minimised. They run before the run's checkpoint, so a checkpoint holds the
rates they set; a resumed run starts their patience afresh.
"""

from __future__ import annotations

import importlib.util

import keras

from physgan.errors import ConfigError
from physgan.training import LearningRateDecay

DEFAULT_PLATEAU_PATIENCE, DEFAULT_PLATEAU_FACTOR = 5, 0.5
DEFAULT_STOPPING_PATIENCE = 10


def _number(text: str, flag: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{flag}: {text!r} must be positive")
    return value


def lr_schedule(spec: str) -> LearningRateDecay:
    """Returns the callback of `--lr-schedule exp:FACTOR` or `step:EPOCH,EPOCH,...:FACTOR`."""
    kind, _, rest = spec.partition(":")
    if kind == "exp" and rest:
        return LearningRateDecay(_number(rest, "--lr-schedule"))
    if kind == "step" and rest.count(":") == 1:
        epochs, factor = rest.split(":")
        milestones = tuple(_number(e, "--lr-schedule", int) for e in epochs.split(","))
        return LearningRateDecay(_number(factor, "--lr-schedule"), milestones=milestones)
    raise ConfigError(f"--lr-schedule {spec!r}: give exp:FACTOR (e.g. exp:0.95) "
                      f"or step:EPOCH,EPOCH,...:FACTOR (e.g. step:30,60:0.1)")


def _monitored(spec: str, flag: str, metric_names, defaults: tuple, kinds: tuple, usage: str) -> tuple:
    """Returns (METRIC, numbers...) of a flag's METRIC[:NUMBER...]; missing numbers take `defaults`."""
    metric, *numbers = spec.split(":")
    if metric not in metric_names:
        raise ConfigError(f"{flag} {metric!r}: the model logs {', '.join(sorted(metric_names))}")
    if len(numbers) > len(defaults):
        raise ConfigError(f"{flag}: give {usage}")
    values = [_number(text, flag, kind) for text, kind in zip(numbers, kinds)]
    return (metric, *values, *defaults[len(values):])


def control_callbacks(options: dict, metric_names) -> list:
    """Returns the callbacks of the run-control flags in `options` (train.py's flags),
    checking every monitored metric against the model's `metric_names`."""
    callbacks = []
    if options.get("lr_schedule"):
        callbacks.append(lr_schedule(options["lr_schedule"]))
    if options.get("reduce_lr_on_plateau"):
        flag = "--reduce-lr-on-plateau"
        metric, patience, factor = _monitored(options["reduce_lr_on_plateau"], flag, metric_names,
                                              (DEFAULT_PLATEAU_PATIENCE, DEFAULT_PLATEAU_FACTOR), (int, float),
                                              "METRIC[:PATIENCE[:FACTOR]]")
        if factor >= 1:
            raise ConfigError(f"{flag}: the factor {factor} must be below 1")
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=metric, mode="min", patience=patience,
                                                           factor=factor, verbose=1))
    if options.get("early_stopping"):
        metric, patience = _monitored(options["early_stopping"], "--early-stopping", metric_names,
                                      (DEFAULT_STOPPING_PATIENCE,), (int,), "METRIC[:PATIENCE]")
        callbacks.append(keras.callbacks.EarlyStopping(monitor=metric, mode="min", patience=patience, verbose=1))
    if options.get("tensorboard"):
        if importlib.util.find_spec("tensorboard") is None:
            raise ConfigError("--tensorboard needs TensorBoard: pip install 'physgan[tensorboard]'")
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(options["tensorboard"])))
    return callbacks
