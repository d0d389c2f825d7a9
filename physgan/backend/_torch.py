"""PyTorch: gradients with torch.autograd.grad (create_graph for penalties).

Importing it makes glibc keep freed memory for reuse (`_heap`): torch's large
CPU tensors are otherwise fresh, zero-filled pages every time.
"""

import torch
from keras import tree

from physgan.backend._heap import keep_freed_memory

keep_freed_memory()

IMAGE_DATA_FORMAT = "channels_first"
no_gradient = torch.no_grad


def value_and_grad(loss_fn, variables):
    """Returns `(loss, aux, grads)` of `loss_fn()` w.r.t. `variables`."""
    loss, aux = loss_fn()
    tensors = [v.value for v in variables]
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]
    return loss, aux, grads


def update_row(variable, index, row):
    """Sets `variable[index] = row` (first axis) in place."""
    with torch.no_grad():
        variable.value[index] = row


def compiled(fn):
    """Returns `fn` run eagerly with its tensor outputs detached (no graph kept
    between repeated calls, e.g. the steps of an optimisation loop)."""

    def run(*args):
        return tree.map_structure(lambda t: t.detach() if torch.is_tensor(t) else t, fn(*args))

    return run


def input_gradient(fn, inputs):
    """Returns d sum(fn(inputs)) / d inputs, kept in the graph (double backprop)."""
    if not inputs.requires_grad:
        inputs = inputs.detach().requires_grad_(True)
    outputs = fn(inputs)
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad


class TrainStep:
    """`train_step` for the torch trainer.

    Keras' torch trainer calls `train_step` under autograd; our updates take
    their gradients with `torch.autograd.grad`, so no `.grad` buffers are used.
    """

    def train_step(self, data):
        return self.run_training_step(data)
