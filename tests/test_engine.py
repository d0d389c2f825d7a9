"""The training engine: gradient penalty numerics, update schedules, optimizers."""

import keras
import numpy as np
import pytest
from keras import ops

from physgan.errors import ConfigError
from physgan.losses import gradient_penalty
from physgan.training import GenerativeModel, Update


class ScaledSquare(keras.layers.Layer):
    """critic(x) = w * 0.5 * sum(x^2): grad_x = w * x, so the GP is known."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.5), name="w")

    def call(self, x):
        return self.w * 0.5 * ops.sum(ops.square(x), axis=tuple(range(1, len(x.shape))))[:, None]


class PenaltyOnly(GenerativeModel):
    """A 'model' whose only update minimises the gradient penalty of its critic."""

    metric_names = ("penalty",)

    def __init__(self, repeats=1, split=False, **kwargs):
        super().__init__(**kwargs)
        self.repeats, self.split = repeats, split
        inputs = keras.Input((3, 2))
        self.critic = keras.Model(inputs, ScaledSquare()(inputs), name="critic")
        self.seen_batch_sizes = []
        self.built = True

    def networks(self):
        return {"critic": self.critic}

    def update_schedule(self):
        return [Update("critic", "penalty_loss", repeats=self.repeats, split_batch=self.split)]

    def default_optimizers(self, steps_per_epoch=None):
        return {"critic": keras.optimizers.SGD(learning_rate=0.1)}

    def penalty_loss(self, batch):
        x = batch["x"]
        # real == fake: the interpolate is x itself whatever the weights.
        penalty = gradient_penalty(lambda t: self.critic(t), x, x, seed=1)
        return penalty, {"penalty": penalty}


def analytic_penalty_and_grad(x, w):
    norms = np.sqrt((x.reshape(len(x), -1) ** 2).sum(axis=1))
    penalty = np.mean((abs(w) * norms - 1.0) ** 2)
    grad_w = np.mean(2.0 * (abs(w) * norms - 1.0) * norms * np.sign(w))
    return penalty, grad_w


def test_gradient_penalty_value_and_double_backprop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3, 2)).astype("float32")
    model = PenaltyOnly()
    model.compile()
    expected_penalty, expected_grad = analytic_penalty_and_grad(x, 0.5)
    history = model.fit({"x": x}, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["penalty"][0], expected_penalty, rtol=1e-4)
    # One SGD step: w <- w - 0.1 * dGP/dw, only possible through double backprop.
    w = float(keras.ops.convert_to_numpy(model.critic.layers[-1].w))
    np.testing.assert_allclose(w, 0.5 - 0.1 * expected_grad, rtol=1e-4)


def test_gradient_penalty_norm_runs_over_all_non_batch_axes():
    x = np.ones((4, 3, 2), dtype="float32")  # ||x|| = sqrt(6) per sample
    critic = ScaledSquare()
    critic.build((None, 3, 2))
    value = float(keras.ops.convert_to_numpy(gradient_penalty(critic, x, x, seed=0)))
    np.testing.assert_allclose(value, (0.5 * np.sqrt(6.0) - 1.0) ** 2, rtol=1e-5)


def test_repeats_with_split_batch_run_each_part_and_count_iterations():
    x = np.random.default_rng(1).normal(size=(64, 3, 2)).astype("float32")
    model = PenaltyOnly(repeats=4, split=True)
    model.compile()
    model.fit({"x": x}, batch_size=32, epochs=2, verbose=0)
    # 2 batches per epoch x 2 epochs x 4 critic updates.
    assert int(model.critic_optimizer.iterations) == 16


def test_split_batch_must_divide_evenly():
    x = np.zeros((30, 3, 2), dtype="float32")
    model = PenaltyOnly(repeats=4, split=True)
    model.compile()
    with pytest.raises(Exception, match="cannot be split into 4"):
        model.fit({"x": x}, batch_size=30, epochs=1, verbose=0)


@pytest.mark.backend_free
def test_compile_rejects_unknown_network():
    model = PenaltyOnly()
    with pytest.raises(ConfigError, match="unknown networks"):
        model.compile(optimizers={"generator": "adam"})


def test_init_from_copies_the_weights_that_fit(tmp_path):
    import physgan
    from physgan.artifacts import save_model
    from physgan.runner import initial_weights

    donor = physgan.get_model("mpd_wgan", seed=0)
    path = save_model(donor, tmp_path / "donor.keras")
    model = physgan.get_model("mpd_wgan", seed=1)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), donor.get_weights()))
    loaded = initial_weights(model, path)
    assert loaded["path"] == str(path.resolve()) and len(loaded["sha256"]) == 64
    assert loaded["copied"] == len(model.weights) and loaded["fresh"] == []
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), donor.get_weights()))

    wider = physgan.get_model("mpd_wgan", seed=1, latent_dim=donor.latent_dim + 1)  # the first Dense differs
    loaded = initial_weights(wider, path)
    assert 0 < loaded["copied"] < len(wider.weights) and loaded["fresh"] == ["generator/dense_64/kernel"]
    with pytest.raises(ConfigError, match="none of its weights fit"):
        initial_weights(physgan.get_model("larcv_gan", dataset="digits", image_shape=(8, 8), seed=0), path)


@pytest.mark.backend_free
def test_keep_freed_memory_is_on_for_glibc_and_off_on_request(monkeypatch):
    import ctypes
    import platform

    from physgan.backend._heap import keep_freed_memory

    monkeypatch.setenv("PHYSGAN_KEEP_HEAP", "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("PHYSGAN_KEEP_HEAP")
    on_glibc = platform.libc_ver()[0] == "glibc" and hasattr(ctypes.CDLL(None), "mallopt")
    assert keep_freed_memory() is on_glibc
