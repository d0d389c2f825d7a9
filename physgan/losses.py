"""Losses shared by the zoo, written with keras.ops (backend-neutral)."""

from __future__ import annotations

import keras
from keras import ops

from physgan import backend


def gradient_penalty(critic_fn, real, fake, seed=None, target_norm: float = 1.0):
    """Returns the WGAN-GP penalty mean((||grad D(x_hat)||_2 - 1)^2) (Gulrajani et al.).

    `x_hat` interpolates each real sample with one fake sample, with one uniform
    weight per sample; the norm runs over all non-batch axes. The result stays
    differentiable with respect to the critic's weights (double backprop).

    Args:
        critic_fn: `x -> critic scores (B, 1)`; any condition must be bound in.
        real, fake: tensors of the same shape `(B, ...)`.
        seed: a `keras.random.SeedGenerator` (or int) for the interpolation weights.
    """
    batch = ops.shape(real)[0]
    weight_shape = (batch,) + (1,) * (len(real.shape) - 1)
    alpha = keras.random.uniform(weight_shape, seed=seed, dtype=real.dtype)
    interpolated = alpha * real + (1.0 - alpha) * fake
    grads = backend.input_gradient(critic_fn, interpolated)
    axes = tuple(range(1, len(real.shape)))
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=axes) + 1e-12)
    return ops.mean(ops.square(norm - target_norm))


def wasserstein_critic_loss(real_scores, fake_scores):
    """Returns mean(D(fake)) - mean(D(real)), the critic's Wasserstein loss."""
    return ops.mean(fake_scores) - ops.mean(real_scores)


def wasserstein_generator_loss(fake_scores):
    """Returns -mean(D(fake))."""
    return -ops.mean(fake_scores)
