"""LArCV particle generator: the MLP GAN on real digits."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import physgan
from physgan.data.digits import DigitImages
from physgan.errors import ConfigError
from physgan.registry import get_entry
from physgan.zoo.larcv_gan import LArCVGAN, random_horizontal_flip
from tests.model_testing import check_train_save_reload

# Small enough for a CPU test, with the original's layer structure (8x8 digits, ink 0-16).
TINY_GAN = dict(dataset="digits", image_shape=[8, 8], image_scale=16.0, z_dim=16, n_hidden=64, n_layers=2)


@pytest.fixture(scope="module")
def digits():
    """The 1,797 real 8x8 handwritten digits of scikit-learn, (N, 8, 8, 1) in [-1, 1]."""
    ink = load_digits().images  # 0..16
    return (ink / 16.0 * 2.0 - 1.0).astype("float32")[..., None]


def dense_params(widths):
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


@pytest.mark.backend_free
def test_default_sizes_are_the_originals():
    # Shapes only: drawing 2.4M initial weights costs JAX a compile per weight shape.
    with keras.StatelessScope(initialize_variables=False):
        gan = physgan.get_model("larcv_gan")  # MNIST 28x28, z 100, 4 x 512
    assert gan.generator.count_params() == dense_params([100, 512, 512, 512, 512, 784]) == 1_241_872
    assert gan.discriminator.count_params() == dense_params([784, 512, 512, 512, 512, 1]) == 1_190_401
    assert gan.generator.output_shape == (None, 28, 28, 1)
    assert gan.discriminator.output_shape == (None, 1)
    assert LArCVGAN.default_batch_size == 24  # the original argparser
    assert get_entry("larcv_gan").datasets == ("digits", "mnist", "larcv")


@pytest.mark.backend_free
def test_bad_options_give_one_clear_error():
    with pytest.raises(ConfigError, match="not 'zdc'"):
        LArCVGAN(dataset="zdc")
    with pytest.raises(ConfigError, match="g_opt must be one of adam, sgd, rmsprop"):
        LArCVGAN(g_opt="lbfgs", **TINY_GAN)
    with pytest.raises(ConfigError, match="image_scale must be > 0"):
        LArCVGAN(**{**TINY_GAN, "image_scale": 0})
    with pytest.raises(ConfigError, match="unconditional"):
        LArCVGAN(**TINY_GAN).sample(2, condition=1.0)


def test_initialisations_are_the_originals(digits):
    gan = physgan.get_model("larcv_gan", seed=0, **TINY_GAN)
    kernel = np.asarray(gan.generator.get_layer("fc_0").kernel)
    assert abs(float(np.std(kernel)) - 0.02) < 0.003  # weights_init: N(0, 0.02), zero bias
    assert not np.any(np.asarray(gan.discriminator.get_layer("logit").bias))
    # Such small weights make D(x) ~ 1/2 for real and fake alike: the loss starts at 2 ln 2.
    loss, _ = gan.discriminator_loss({"image": keras.ops.convert_to_tensor(digits[:64])})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss), 2 * np.log(2), atol=0.01)


def test_gan_learns_the_digits(digits):
    """45 steps (lr 1e-3) make D tell real from fake and pull G's images toward the digits."""
    model = physgan.get_model("larcv_gan", g_lr=1e-3, d_lr=1e-3, seed=1, **TINY_GAN)
    model.compile()
    mean_digit = digits[..., 0].mean(axis=0)
    before = model.generate_normalised(500, seed=0)
    history = model.fit({"image": digits}, batch_size=32, epochs=3, steps_per_epoch=15, verbose=0).history
    after = model.generate_normalised(500, seed=0)
    for name in ("d_loss", "d_loss_real", "d_loss_fake", "g_loss"):
        assert np.all(np.isfinite(history[name])), name
    np.testing.assert_allclose(history["d_loss"], np.add(history["d_loss_real"], history["d_loss_fake"]),
                               rtol=1e-5)
    assert int(model.generator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 45
    # D beats chance (2 ln 2 = 1.386) and ranks digits above fakes; G's images,
    # ~0 everywhere at the start, move toward the mean digit (about -0.6: mostly empty).
    assert min(history["d_loss"]) < 2 * np.log(2) - 0.15, history["d_loss"]
    assert model.discriminate(digits[:500]).mean() > model.discriminate(after).mean() + 0.03
    start, end = (np.mean(np.square(images.mean(axis=0) - mean_digit)) for images in (before, after))
    assert end < 0.5 * start, (start, end)
    assert after.shape == (500, 8, 8) and np.all(np.abs(after) <= 1.0)
    events = model.sample(500, seed=0)  # the same images in ink units, as the data set's events
    assert isinstance(events, DigitImages)
    np.testing.assert_allclose(events.images, (after + 1) / 2 * 16, atol=1e-5)


def test_gan_trains_saves_and_reloads_on_the_next_backend(digits, tmp_path):
    model = physgan.get_model("larcv_gan", g_opt="sgd", d_opt="rmsprop", horizontal_flip=True, seed=2,
                              **TINY_GAN)
    check_train_save_reload(model, {"image": digits[:256]}, tmp_path, batch_size=32, steps=3, all_backends=False)
    np.testing.assert_array_equal(model.sample(10, seed=3).images, model.sample(10, seed=3).images)
    again = physgan.load(tmp_path / "model.keras")
    assert again.get_config() == model.get_config() and again.dataset == "digits"
    assert isinstance(again.generator_optimizer, keras.optimizers.SGD)
    assert isinstance(again.discriminator_optimizer, keras.optimizers.RMSprop)


def test_horizontal_flip_mirrors_whole_images():
    images = np.arange(16 * 4 * 4, dtype="float32").reshape(16, 4, 4, 1)
    flipped = np.asarray(random_horizontal_flip(keras.ops.convert_to_tensor(images),
                                                keras.random.SeedGenerator(0)))
    mirrored = np.all(flipped == images[:, :, ::-1], axis=(1, 2, 3))
    same = np.all(flipped == images, axis=(1, 2, 3))
    assert np.all(mirrored | same) and mirrored.any() and same.any()
