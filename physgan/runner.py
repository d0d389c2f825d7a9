"""What `train.py` does once its flags are parsed: data -> model -> fit -> run dir."""

from __future__ import annotations

import inspect
import platform
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

import physgan
from physgan import distribute
from physgan.artifacts import new_run_dir, read_run_config, save_model, write_json
from physgan.callbacks import EpochSamples, RunCheckpoint, resume_point, training_seconds, trim_history
from physgan.datasets import dataset_of_file, file_sha256, get_dataset, list_datasets, load_training_data
from physgan.errors import ConfigError, DataError
from physgan.registry import get_entry
from physgan.resume import check_resumed_data
from physgan.run_control import control_callbacks


def describe_models() -> str:
    """Returns the `--list` table: model, data sets, description."""
    rows = [(e.name, ", ".join(e.datasets), e.description) for e in physgan.list_models()]
    width = max(len(r[0]) for r in rows)
    dwidth = max(len(r[1]) for r in rows)
    lines = [f"{'model':<{width}}  {'data sets':<{dwidth}}  description"]
    lines += [f"{n:<{width}}  {d:<{dwidth}}  {text}" for n, d, text in rows]
    return "\n".join(lines)


def constructor_options(entry) -> set[str]:
    """Returns the names of the constructor options of a zoo entry's class."""
    return set(inspect.signature(entry.cls.__init__).parameters) - {"self", "kwargs"}


def model_summary(name: str, dataset: str | None = None, **config) -> str:
    """Returns the parameter counts of every network of model `name` (built for
    `dataset` when its constructor takes one)."""
    if dataset is not None and "dataset" in constructor_options(get_entry(name)):
        config = {"dataset": dataset, **config}
    model = build_model(name, **config)
    lines = [f"{name} ({type(model).__name__}) on {keras.backend.backend()}"]
    total = total_trainable = 0
    for net_name, net in model.networks().items():
        count = net.count_params()
        trainable = sum(int(np.prod(v.shape)) for v in net.trainable_variables)
        total, total_trainable = total + count, total_trainable + trainable
        lines.append(f"  {net_name:<22} {count:>12,d} parameters ({trainable:,d} trainable)")
    lines.append(f"  {'total':<22} {total:>12,d} parameters ({total_trainable:,d} trainable)")
    return "\n".join(lines)


def _versions() -> dict:
    import h5py

    return {
        "physgan": physgan.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "python": platform.python_version(),
    }


# train.py flags passed to the model constructor under the same name (the
# LArCV particle_generator's flags).
MODEL_FLAGS = ("z_dim", "n_hidden", "n_layers", "g_lr", "d_lr", "g_opt", "d_opt", "l_dim", "ae_lr", "ae_opt",
               "psi_lr", "mem_size")


def model_options_from_flags(options: dict) -> dict:
    """Returns the model constructor options given by train.py's model flags."""
    import yaml

    chosen = {}
    if options.get("latent_size") is not None:
        chosen["latent_size"] = options["latent_size"]
    if options.get("variant") is not None:
        chosen["variant"] = options["variant"]
    if options.get("no_attn"):
        chosen["attention"] = False
    for flag in MODEL_FLAGS:
        if options.get(flag) is not None:
            chosen[flag] = options[flag]
    for item in options.get("set") or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {item!r}")
        chosen[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return chosen


def build_model(name: str, dtype: str | None = None, **options):
    """Returns `get_model(name, dtype, **options)`, with a clear error for unknown options."""
    entry = get_entry(name)
    accepted = constructor_options(entry)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option {', '.join(unknown)}; its options: {', '.join(sorted(accepted))}"
        )
    return physgan.get_model(name, dtype, **options)


def data_model_options(entry, dataset: str, data, seed: int | None) -> dict:
    """Returns the constructor options a new model takes from its data: the seed, the data
    set's name and the data's `model_options`, each where the model's class accepts it."""
    accepted = constructor_options(entry)
    offered = {"seed": seed, "dataset": dataset, **data.model_options}
    return {key: value for key, value in offered.items() if key in accepted}


def _repeated_to_fill(inputs: dict, n_needed: int) -> dict:
    """Returns `inputs` repeated whole so that an epoch of `n_needed` events
    exists (Keras stops an epoch early when array inputs run out)."""
    n = len(next(iter(inputs.values())))
    if n_needed <= n:
        return inputs
    repeats = -(-n_needed // n)
    return {key: np.concatenate([value] * repeats) for key, value in inputs.items()}


STREAM_SAMPLE_EVENTS = 4096  # events read into memory under --stream (model options, `adapt`)


def _training_data(dataset: str, options: dict, batch_size: int):
    """Returns (TrainingData, ShowerStream or None): with --stream only the first
    STREAM_SAMPLE_EVENTS (or one batch if larger) are read here, for the model
    options, the checks and `adapt`'s statistics; fit then reads from disk (each process
    of a multi-process run its shard, in local batches), `--workers` batches ahead."""
    path = options.get("particles") or options.get("data")
    if not options.get("stream"):
        data = load_training_data(dataset, path, options.get("max_events"), options.get("particle"))
        return data, None
    from physgan.streaming import ShowerStream

    if get_dataset(dataset).stream is None or options.get("particles"):
        streamable = [d.name for d in list_datasets() if d.stream is not None]
        raise ConfigError(f"--stream reads one file of the {' or '.join(streamable)} data set (--data or the "
                          f"bundled sample), not {'a particles.yaml' if options.get('particles') else dataset}")
    sample = min(STREAM_SAMPLE_EVENTS, options.get("max_events") or STREAM_SAMPLE_EVENTS)
    data = load_training_data(dataset, path, max(batch_size, sample), options.get("particle"))
    processes = distribute.num_processes()
    workers = options.get("workers") or 1
    stream = ShowerStream(dataset, data.source, batch_size // processes, options.get("max_events"),
                          seed=options.get("seed"), shard=(distribute.process_id(), processes), workers=workers,
                          use_multiprocessing=bool(options.get("use_multiprocessing")),
                          max_queue_size=max(10, 2 * workers))
    data.model_options["energy_range"] = stream.energy_range
    return data, stream


def _dataset_of_data_file(entry, path) -> str | None:
    """Returns the name of the data set whose layout file `path` has, when `entry` trains
    on it (so `--data codes.npz` needs no --dataset), else None."""
    if not path or len(entry.datasets) < 2:
        return None
    try:
        name = dataset_of_file(path).name
    except DataError:
        return None
    return name if name in entry.datasets else None


def held_out_events(dataset: str, options: dict) -> dict | None:
    """Returns the split of train.py's `--holdout N`: the last N events of the data
    file, {"first_event", "events", "of"}; None without --holdout."""
    n = options.get("holdout")
    if not n:
        return None
    if options.get("particles") or not options.get("data"):
        raise ConfigError("--holdout N keeps the last N events of one data file: give it with --data FILE")
    total = get_dataset(dataset).validate(options["data"])
    if not 0 < n < total:
        raise ConfigError(f"--holdout {n}: {options['data']} has {total} events; hold out between 1 and {total - 1}")
    return {"first_event": total - n, "events": n, "of": total}


def initial_weights(model, source: str | Path) -> dict:
    """Copies into `model` the weights of `source` (a .keras file, or a run directory:
    its last checkpoint) that have the same path and shape (e.g. all of them for the
    same architecture, the generator's when only the discriminator changed); returns
    what was loaded. Raises ConfigError when nothing fits."""
    source = Path(source)
    epochs = None
    if source.is_dir():
        source, epochs = resume_point(source)
    donor = {v.path: v for v in physgan.load(source, compile=False).weights}
    copied, fresh = 0, []
    for variable in model.weights:
        match = donor.get(variable.path)
        if match is not None and tuple(match.shape) == tuple(variable.shape):
            variable.assign(match.numpy())
            copied += 1
        else:
            fresh.append(variable.path)
    if not copied:
        raise ConfigError(f"--init-from {source}: none of its weights fit this {type(model).__name__}")
    if fresh:
        print(f"physgan: --init-from copied {copied} of {len(model.weights)} weight arrays; "
              f"{len(fresh)} keep their initial values ({', '.join(fresh[:6])}{', ...' if len(fresh) > 6 else ''})")
    return {"path": str(source.resolve()), "sha256": file_sha256(source), "epochs": epochs,
            "copied": copied, "fresh": fresh}


def train(options: dict) -> Path:
    """Trains a zoo model as `options` (train.py's flags) say; returns the run dir."""
    entry = get_entry(options["model"])
    batch_size = options["batch_size"] or entry.cls.default_batch_size
    distribute.initialize(options.get("coordinator"), options.get("num_processes"), options.get("process_id"))
    with distribute.training_scope(options.get("distribute"), batch_size) as devices:  # built, trained, saved in it
        return _train(options, entry, batch_size, devices)


def _train(options: dict, entry, batch_size: int, devices: int) -> Path | None:
    dataset = options.get("dataset") or _dataset_of_data_file(entry, options.get("data")) or entry.datasets[0]
    if dataset not in entry.datasets:
        raise ConfigError(
            f"model {entry.name!r} trains on {', '.join(entry.datasets)}, not {dataset!r}"
        )
    if options.get("seed") is not None:
        keras.utils.set_random_seed(options["seed"])
    epochs = options["epochs"] or entry.cls.default_epochs
    holdout = held_out_events(dataset, options)  # on --resume, from the saved flags
    data_options = options
    if holdout is not None:
        first = holdout["first_event"]
        data_options = {**options, "max_events": min(options.get("max_events") or first, first)}
    processes, writer = distribute.num_processes(), distribute.process_id() == 0
    if processes > 1 and options.get("sample_size"):
        raise ConfigError(f"--sample-size {options['sample_size']}: {processes} processes write no samples while "
                          f"they train (generate from the saved model instead)")
    data, stream = _training_data(dataset, data_options, batch_size)
    n_events = data.n_events if stream is None else len(stream.energies)
    steps = options.get("steps_per_epoch") or max(1, n_events // batch_size)
    if n_events < batch_size:
        raise ConfigError(
            f"{n_events} events are fewer than one batch of {batch_size}; "
            "lower --batch-size or give more events"
        )
    inputs = _repeated_to_fill(data.inputs, steps * batch_size) if stream is None else stream
    if processes > 1 and stream is None:  # each feeds its shard, one local batch of each global batch
        inputs = distribute.process_shard(inputs, distribute.process_id(), processes)

    if options.get("resume"):
        run_dir = Path(options["resume"])
        config = read_run_config(run_dir)
        different = check_resumed_data(config, file_sha256(data.source), Path(data.source).resolve(),
                                       bool(options.get("allow_different_data")))
        checkpoint, initial_epoch = resume_point(run_dir)
        if writer:
            trim_history(run_dir, initial_epoch)
        model = physgan.load(checkpoint)
        control = control_callbacks(options, model.metric_names)
        if different:
            config.setdefault("resumed_on_different_data", []).append({**different, "at_epoch": initial_epoch})
        config.update(flags=options, epochs=epochs)
    else:
        model = build_model(entry.name, dtype=options.get("dtype_policy"),
                            **{**data_model_options(entry, dataset, data, options.get("seed")),
                               **model_options_from_flags(options)})
        model.compile(steps_per_epoch=steps)
        missing = [k for k in model.required_inputs if k not in data.inputs]
        if missing:
            raise ConfigError(
                f"model {entry.name!r} needs {', '.join(missing)} for every event, "
                f"and {data.source} has none"
            )
        model.adapt(data.inputs)  # before --init-from, which may copy the statistics too
        init_from = initial_weights(model, options["init_from"]) if options.get("init_from") else None
        initial_epoch = 0
        control = control_callbacks(options, model.metric_names)  # bad flags fail before the run exists
        run_dir = new_run_dir(options["out"], entry.name, options.get("particle") or dataset) if writer else None
        config = {
            "flags": options,
            "model": entry.name,
            "dataset": dataset,
            "data_path": str(Path(data.source).resolve()),
            "data_sha256": file_sha256(data.source),
            "n_events": n_events,
            "holdout": holdout,
            "init_from": init_from,
            "batch_size": batch_size,
            "epochs": epochs,
            "steps_per_epoch": steps,
            "model_config": model.get_config(),
            "versions": _versions(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    config["distribute"] = {"mode": options.get("distribute") or "none", "processes": processes, "devices": devices}
    if writer:
        write_json(run_dir / "config.json", config)
    if initial_epoch >= epochs:
        print(f"physgan: {run_dir} already finished {initial_epoch} of {epochs} epochs")
    # Run-control callbacks first: the log and the checkpoint see the rates they set.
    callbacks = [*control]
    sample_size = options.get("sample_size")
    if sample_size is None:
        sample_size = get_dataset(dataset).epoch_samples if processes == 1 else 0
    # Process 0 alone writes the run directory; the others save the same checkpoints into
    # a scratch folder (saving reads the weights with collectives that every process joins).
    scratch = None if writer else tempfile.TemporaryDirectory(prefix=f"physgan-process-{distribute.process_id()}-")
    save_dir = run_dir if writer else Path(scratch.name)
    callbacks.append(RunCheckpoint(save_dir, keep_every=options.get("keep_every") or 0))
    if writer:
        callbacks.insert(len(control), keras.callbacks.CSVLogger(str(run_dir / "history.csv"),
                                                                 append=initial_epoch > 0))
    if sample_size:
        callbacks.append(EpochSamples(run_dir, sample_size, seed=options.get("seed") or 0))
    print(f"physgan: training {entry.name} on {n_events} events of {data.source} "
          f"({keras.backend.backend()} backend) -> {run_dir or 'process 0'}")
    history = model.fit(
        inputs,
        batch_size=batch_size // processes if stream is None else None,
        epochs=epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=options.get("steps_per_epoch"),
        shuffle=stream is None,
        callbacks=callbacks,
        verbose=options.get("verbose", "auto"),
    )
    final = save_model(model, save_dir / f"{entry.name}.keras")
    if not writer:
        scratch.cleanup()
        return None
    config["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    config["epochs_done"] = initial_epoch + len(history.epoch)  # fewer when stopped early
    config["train_seconds"] = training_seconds(run_dir)
    write_json(run_dir / "config.json", config)
    print(f"physgan: saved {final}")
    return run_dir
