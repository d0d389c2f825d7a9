"""`train.py --distribute`: data-parallel training on the engines Keras already has.

`data-parallel` copies every variable to each local device and splits every
global batch along its first axis, one equal slice per device:

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

Several processes (hosts) are a later step too; on one process `list_devices()`
is every local device (GPUs, or CPUs forced with
`XLA_FLAGS=--xla_force_host_platform_device_count=N`).
"""

from __future__ import annotations

import contextlib

import keras

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
    if mode == "none":
        yield 1
        return
    backend = keras.backend.backend()
    if backend in _NOT_ON:
        raise ConfigError(f"--distribute {mode}: {_NOT_ON[backend]}")
    devices = keras.distribution.list_devices()
    if batch_size % len(devices):
        raise ConfigError(f"--distribute {mode}: a batch of {batch_size} cannot be split into {len(devices)} "
                          f"equal slices (devices {', '.join(devices)}); use a batch size divisible by "
                          f"{len(devices)}")
    print(f"physgan: data-parallel over {len(devices)} devices ({', '.join(devices)}), "
          f"{batch_size // len(devices)} events of each batch per device")
    with keras.distribution.DataParallel(devices=devices).scope():
        yield len(devices)
