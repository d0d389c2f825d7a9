"""MPD TPC WGAN-GP: architecture, training on real data, saving across backends."""

import keras
import numpy as np
import pytest

import physgan
from physgan.data.mpd import read_digits_csv, to_log_images
from tests.model_testing import check_train_save_reload


@pytest.fixture(scope="module")
def real_events(shared_data):
    return read_digits_csv(shared_data / "real/physgan/digits_unparameterized.csv", max_events=256)


@pytest.mark.backend_free
def test_generator_matches_the_published_network():
    model = physgan.get_model("mpd_wgan")
    assert model.generator.count_params() == 43_177  # best_unparameterized.h5
    assert model.generator.output_shape == (None, 8, 8, 1)
    assert model.critic.count_params() == 56_321  # conv 16-32-64 + Dense 128 + Dense 1
    assert physgan.get_model("mpd_wgan_param").critic.count_params() == 56_449


def test_trains_on_real_digits_saves_and_reloads_on_every_backend(real_events, tmp_path):
    model = physgan.get_model("mpd_wgan", seed=3)
    inputs = {"image": to_log_images(real_events.amplitudes)}
    history = check_train_save_reload(model, inputs, tmp_path, batch_size=64, steps=3)
    assert set(history.history) >= {"critic_loss", "generator_loss", "gradient_penalty"}
    amplitudes = model.sample(32, seed=1).amplitudes
    assert amplitudes.shape == (32, 8, 8)
    assert np.all(amplitudes >= 0)


def test_parametrized_variant_follows_the_angle_condition(tmp_path):
    model = physgan.get_model("mpd_wgan_param", seed=4, angle_range=(0.5, 14.5))
    rng = np.random.default_rng(0)
    inputs = {
        "image": np.log1p(rng.exponential(3.0, size=(128, 8, 8, 1))).astype("float32"),
        "angle": rng.uniform(0.5, 14.5, size=(128, 1)).astype("float32"),
    }
    angles = np.linspace(1.0, 14.0, 8).astype("float32")
    check_train_save_reload(model, inputs, tmp_path, batch_size=64, condition=angles,
                            n_samples=8, all_backends=False)
    # The condition reaches the network: other angles, other hidden activations. (Not the
    # output: after a few steps on noise the original's final ReLU may still be all zero.)
    hidden = keras.Model(model.generator.inputs, model.generator.get_layer("dense_360").output)
    noise = rng.standard_normal((8, model.latent_dim - 1)).astype("float32")
    a = keras.ops.convert_to_numpy(hidden([noise, np.full((8, 1), 1.0, "float32")]))
    b = keras.ops.convert_to_numpy(hidden([noise, np.full((8, 1), 14.0, "float32")]))
    assert not np.allclose(a, b)


@pytest.mark.backend_free
def test_unparametrized_model_rejects_a_condition():
    with pytest.raises(ValueError, match="no condition"):
        physgan.get_model("mpd_wgan").sample(2, condition=3.0)


def test_learning_rate_decays_per_epoch_like_the_original(real_events):
    model = physgan.get_model("mpd_wgan", seed=0)
    model.compile(steps_per_epoch=2)
    inputs = {"image": to_log_images(real_events.amplitudes[:128])}
    model.fit(inputs, batch_size=64, epochs=3, verbose=0)
    lr = float(np.asarray(model.generator_optimizer.learning_rate))
    np.testing.assert_allclose(lr, 3e-4 * 0.995**3, rtol=1e-5)
