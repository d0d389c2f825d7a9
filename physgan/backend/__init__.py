"""The only part of physgan that imports tensorflow, jax or torch.

Everything else is written with `keras.ops`. A backend module offers three things:

- `TrainStep`: a mixin holding the backend's `train_step`, which runs the
  backend-neutral `GenerativeModel.run_training_step`.
- `value_and_grad(loss_fn, variables)`: the loss, its auxiliary outputs and the
  gradients of the loss with respect to `variables`.
- `input_gradient(fn, inputs)`: the gradient of `sum(fn(inputs))` with respect to
  `inputs`, itself differentiable (double backprop, for gradient penalties).
- `apply_gradients(optimizer, grads, variables)`: `optimizer.apply(grads, variables)`
  inside the training step (on JAX through the optimizer's `stateless_apply`).
- `process_index()`, `process_count()`: this process's index and the number of
  processes of a multi-process run (JAX's; 0 and 1 on the other backends).
- `compiled(fn)`: `fn` (of tensors, returning tensors) compiled for repeated
  calls: `jax.jit`, `tf.function`, or `fn` itself on torch (eager, outputs detached).
- `no_gradient()`: a context in which nothing is recorded for differentiation
  (fakes made for a critic step); a no-op where `stop_gradient` suffices.
- `update_row(variable, index, row)`: `variable[index] = row` along the first axis,
  in place where the backend can (a large memory variable is not copied every
  step); on JAX a functional `slice_update` (in place once jit donates the state).
  `read_row(variable, index)` reads one row without reading the whole variable.

`IMAGE_DATA_FORMAT` is the fastest layout for convolutions on this backend:
models may run their convolution stacks in it internally (torch's kernels are
channels-first; Keras would otherwise transpose around every convolution) while
keeping channels-last inputs, outputs and weight semantics on every backend.

The module is chosen once, by `keras.backend.backend()`, when this package is
first imported.
"""

import contextlib
import importlib

import keras
from keras import ops

_MODULES = {
    "tensorflow": "physgan.backend._tensorflow",
    "jax": "physgan.backend._jax",
    "torch": "physgan.backend._torch",
}


def _load_backend_module():
    name = keras.backend.backend()
    if name not in _MODULES:
        raise ImportError(
            f"physgan runs on the tensorflow, jax and torch Keras backends; "
            f"KERAS_BACKEND is {name!r}"
        )
    return importlib.import_module(_MODULES[name])


_impl = _load_backend_module()

TrainStep = _impl.TrainStep
value_and_grad = _impl.value_and_grad
input_gradient = _impl.input_gradient
IMAGE_DATA_FORMAT = getattr(_impl, "IMAGE_DATA_FORMAT", "channels_last")
no_gradient = getattr(_impl, "no_gradient", contextlib.nullcontext)
compiled = _impl.compiled
apply_gradients = getattr(_impl, "apply_gradients", lambda optimizer, grads, variables: optimizer.apply(grads, variables))
process_index = getattr(_impl, "process_index", lambda: 0)
process_count = getattr(_impl, "process_count", lambda: 1)


def _functional_update_row(variable, index, row):
    start = ops.stack([ops.cast(index, "int32")] + [ops.zeros((), "int32")] * (len(variable.shape) - 1))
    variable.assign(ops.slice_update(ops.convert_to_tensor(variable), start, row[None]))


update_row = getattr(_impl, "update_row", _functional_update_row)
read_row = getattr(_impl, "read_row", lambda variable, index: ops.take(ops.convert_to_tensor(variable), index, axis=0))


def image_data_format() -> str:
    """Returns `IMAGE_DATA_FORMAT` of the running backend (for defaults resolved at call time)."""
    return IMAGE_DATA_FORMAT


__all__ = ["IMAGE_DATA_FORMAT", "TrainStep", "apply_gradients", "compiled", "image_data_format", "input_gradient", "no_gradient",
           "process_count", "process_index", "read_row", "update_row", "value_and_grad"]
