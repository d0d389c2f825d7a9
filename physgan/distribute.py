"""`train.py --distribute`: data-parallel training on the engines Keras already has.

`data-parallel` copies every variable to each device and splits every global
batch (train.py's `--batch-size`) along its first axis, one equal slice per device:

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`.
  Keras' JAX trainer compiles the model's own `train_step` once for the whole
  mesh (GSPMD): it computes what one device would compute on the global batch,
  so batch-coupled parts (batch normalisation, minibatch discrimination, the
  WGAN critic's batch split, latent draws of the global batch's shape) need no
  change, and 1 and 2 devices give the same weights to float tolerance
  (tests/test_distribute.py, on 2 forced host devices).
- TensorFlow and torch: refused with one line saying why (below). TensorFlow's
  `tf.distribute.MirroredStrategy` runs `train_step` once per replica on its
  slice, which breaks the batch-coupled parts above and draws the same latent
  noise on every replica; that is a later step of issue 10.

Several processes (hosts, JAX only): `initialize` connects them
(`keras.distribution.initialize`: the coordinator's address, the number of
processes and this one's id, from train.py's flags or Keras' environment
variables `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES`,
`KERAS_DISTRIBUTION_PROCESS_ID`); the mesh then holds every process's devices,
each process feeds its own shard of the events (`process_shard`), a global
batch is one local batch of each, and process 0 alone writes the run directory.
On one process `list_devices()` is every local device (GPUs, or CPUs forced
with `XLA_FLAGS=--xla_force_host_platform_device_count=N`).
"""

from __future__ import annotations

import contextlib
import os

import keras

from physgan import backend as backend_ops
from physgan.errors import ConfigError

MODES = ("none", "data-parallel")

_NOT_ON = {
    "tensorflow": "on TensorFlow, tf.distribute.MirroredStrategy runs train_step once per replica on its "
                  "slice of the batch, so batch normalisation, minibatch discrimination and the latent draws "
                  "would differ from one device's; physgan does not support it yet (use --backend jax)",
    "torch": "Keras' torch backend has no keras.distribution support (it distributes JAX, and TensorFlow "
             "through tf.distribute); torch's DistributedDataParallel needs a torch training loop outside "
             "Model.fit (use --backend jax)",
}


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> int:
    """Connects this process to the others of a multi-process run and returns their
    number (1, doing nothing, when neither the arguments nor Keras' environment
    variables name more than one process). Call it before any JAX computation."""
    if num_processes is None and os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        num_processes = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if not num_processes or num_processes == 1:
        return 1
    backend = keras.backend.backend()
    if backend != "jax":
        raise ConfigError(f"--num-processes {num_processes}: several processes train together on JAX only "
                          f"(keras.distribution), not on {backend}")
    if process_id is None and os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID") is None:
        raise ConfigError(f"--num-processes {num_processes}: give this process's --process-id (0 to "
                          f"{num_processes - 1}) or set KERAS_DISTRIBUTION_PROCESS_ID")
    if coordinator is None and not os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        raise ConfigError(f"--num-processes {num_processes}: give the --coordinator HOST:PORT of process 0 "
                          f"or set KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if process_id is not None and not 0 <= process_id < num_processes:
        raise ConfigError(f"--process-id {process_id}: choose 0 to {num_processes - 1}")
    keras.distribution.initialize(coordinator, num_processes, process_id)
    return backend_ops.process_count()


def process_id() -> int:
    """Returns this process's index in a multi-process run (0 alone: the one that writes)."""
    return backend_ops.process_index()


def num_processes() -> int:
    """Returns the number of processes training together (1 without `initialize`)."""
    return backend_ops.process_count()


def process_shard(inputs: dict, index: int, count: int) -> dict:
    """Returns process `index`'s shard of the training arrays `inputs`: the index-th of
    `count` equal contiguous blocks (the remainder of a division is dropped)."""
    size = len(next(iter(inputs.values()))) // count
    return {key: value[index * size:(index + 1) * size] for key, value in inputs.items()}


@contextlib.contextmanager
def training_scope(mode: str | None, batch_size: int):
    """Returns a context in which models are built, trained and saved as `mode` says
    (`MODES`; None is "none"); it yields the number of devices a batch is split over.

    Raises ConfigError for an unknown mode, a backend that cannot distribute, or a
    batch size that the devices cannot split into equal slices.
    """
    mode = mode or "none"
    if mode not in MODES:
        raise ConfigError(f"--distribute {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "none" and num_processes() > 1:
        raise ConfigError(f"{num_processes()} processes train together data-parallel: give --distribute data-parallel")
    if mode == "none":
        yield 1
        return
    backend = keras.backend.backend()
    if backend in _NOT_ON:
        raise ConfigError(f"--distribute {mode}: {_NOT_ON[backend]}")
    devices = keras.distribution.list_devices()
    processes = num_processes()
    if batch_size % len(devices):
        raise ConfigError(f"--distribute {mode}: a batch of {batch_size} cannot be split into {len(devices)} "
                          f"equal slices (devices {', '.join(devices)}); use a batch size divisible by "
                          f"{len(devices)}")
    print(f"physgan: data-parallel over {len(devices)} devices ({', '.join(devices)})"
          + (f" of {processes} processes (this is process {process_id()})" if processes > 1 else "")
          + f", {batch_size // len(devices)} events of each batch per device")
    distribution = keras.distribution.DataParallel(devices=devices)
    distribution.auto_shard_dataset = False  # each process feeds its own shard (`process_shard`)
    with distribution.scope():
        yield len(devices)
