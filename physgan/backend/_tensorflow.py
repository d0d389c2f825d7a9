"""TensorFlow: gradients with (nested) GradientTapes."""

import tensorflow as tf


def value_and_grad(loss_fn, variables):
    """Returns `(loss, aux, grads)` of `loss_fn()` w.r.t. `variables`."""
    with tf.GradientTape() as tape:
        loss, aux = loss_fn()
    grads = tape.gradient(loss, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    return loss, aux, grads


def update_row(variable, index, row):
    """Sets `variable[index] = row` (first axis) in place (a scatter into the tf.Variable)."""
    variable.value.scatter_nd_update(tf.reshape(tf.cast(index, "int32"), (1, 1)), row[None])


def read_row(variable, index):
    """Returns `variable[index]` (first axis), gathered from the tf.Variable alone."""
    return tf.gather(variable.value, tf.cast(index, "int32"))


def compiled(fn):
    """Returns `tf.function(fn)`."""
    return tf.function(fn, reduce_retracing=True)


def input_gradient(fn, inputs):
    """Returns d sum(fn(inputs)) / d inputs, recorded by any enclosing tape."""
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = fn(inputs)
    return tape.gradient(outputs, inputs)


class TrainStep:
    """`train_step` for the TensorFlow trainer: state lives in tf.Variables."""

    def train_step(self, data):
        return self.run_training_step(data)
