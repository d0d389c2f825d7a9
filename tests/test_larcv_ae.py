"""LArCV particle generator: the MLP autoencoder on real digits, its deploy step
(code-vector files), its options and inputs."""

import json

import keras
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import physgan
from physgan.data.codes import read_codes, write_codes
from physgan.data.digits import DigitImages
from physgan.errors import ConfigError, DataError
from physgan.registry import get_entry
from physgan.zoo.larcv_ae import LArCVAutoencoder, encoder_widths
from physgan.zoo.larcv_gan import LArCVGAN
from tests.model_testing import check_train_save_reload

# Small enough for a CPU test, with the original's layer structure (8x8 digits, ink 0-16).
DIGITS = dict(dataset="digits", image_shape=[8, 8], image_scale=16.0)
TINY_GAN = dict(**DIGITS, z_dim=16, n_hidden=64, n_layers=2)
TINY_AE = dict(**DIGITS, n_layers=2, l_dim=8)


@pytest.fixture(scope="module")
def digits():
    """The 1,797 real 8x8 handwritten digits of scikit-learn, (N, 8, 8, 1) in [-1, 1]."""
    ink = load_digits().images  # 0..16
    return (ink / 16.0 * 2.0 - 1.0).astype("float32")[..., None]


@pytest.fixture(scope="module")
def trained_ae(digits):
    """A tiny autoencoder after 96 Adam steps on the first 1,500 digits (lr 1e-3:
    the original 1e-4 needs far more steps than a unit test affords)."""
    model = physgan.get_model("larcv_ae", ae_lr=1e-3, seed=4, **TINY_AE)
    model.compile()
    history = model.fit({"image": digits[:1500]}, batch_size=64, epochs=4, verbose=0).history
    return model, history


def dense_params(widths):
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


@pytest.mark.backend_free
def test_default_sizes_follow_the_original_layer_rules():
    # Shapes only: drawing 3M initial weights costs JAX a compile per weight shape.
    with keras.StatelessScope(initialize_variables=False):
        ae = physgan.get_model("larcv_ae")  # MNIST 28x28, 4 layers, l_dim 20
    widths = [1024, 512, 256, 128]
    assert encoder_widths((28, 28), 4) == widths
    assert ae.encoder.count_params() == dense_params([784, *widths, 20]) == 1_495_444
    assert ae.decoder.count_params() == dense_params([20, *widths[::-1], 784]) == 1_496_208
    assert ae.encoder.output_shape == (None, 20)
    assert ae.decoder.output_shape == (None, 28, 28, 1)
    # Above 784 pixels the base width doubles (LArCV 64x64, 3 layers in the launch script).
    assert encoder_widths((64, 64), 3) == [1024, 512, 256]
    assert encoder_widths((8, 8), 2) == [256, 128]
    assert LArCVAutoencoder.default_batch_size == 24  # the original argparser
    assert get_entry("larcv_ae").datasets == ("digits", "mnist", "larcv")


def test_initialisation_is_torchs_linear_default():
    # The AE keeps torch's nn.Linear default: uniform in +-1/sqrt(fan_in), biases too.
    ae = physgan.get_model("larcv_ae", seed=0, **TINY_AE)
    layer = ae.encoder.get_layer("fc_0")  # 64 pixels -> 256
    for weights in (np.asarray(layer.kernel), np.asarray(layer.bias)):
        assert np.abs(weights).max() <= 1 / 8 and np.abs(weights).max() > 0.9 / 8
        assert abs(float(np.std(weights)) - 1 / 8 / np.sqrt(3)) < 0.01


def test_autoencoder_reconstructs_digits_better_than_the_mean_digit(trained_ae, digits):
    model, history = trained_ae
    held_out = digits[1500:]
    mean_digit_error = float(np.mean(np.square(held_out[..., 0] - digits[:1500, ..., 0].mean(axis=0))))
    untrained = physgan.get_model("larcv_ae", seed=4, **TINY_AE).reconstruction_error(held_out)
    trained = model.reconstruction_error(held_out)
    assert trained < 0.6 * mean_digit_error, (trained, mean_digit_error)
    assert mean_digit_error < untrained, (mean_digit_error, untrained)
    assert history["ae_loss"][-1] < 0.5 * history["ae_loss"][0]
    assert int(model.autoencoder_optimizer.iterations) == 4 * 24  # 1,500 digits in batches of 64


def test_encode_decode_reconstruct_agree(trained_ae, digits):
    model, _ = trained_ae
    codes = model.encode(digits[:10])
    assert codes.shape == (10, 8) and codes.dtype == np.float32
    np.testing.assert_allclose(model.encode(digits[:10, ..., 0]), codes, rtol=1e-5, atol=1e-6)
    images = model.decode(codes)
    assert images.shape == (10, 8, 8) and np.all(np.abs(images) <= 1)
    np.testing.assert_allclose(model.reconstruct(digits[:10]), images, rtol=1e-4, atol=1e-5)
    with pytest.raises(DataError, match=r"codes of shape \(N, 8\), got \(10, 3\)"):
        model.decode(np.zeros((10, 3)))


def test_deploy_writes_codes_that_read_back_as_encode(trained_ae, digits, tmp_path):
    model, _ = trained_ae
    path = model.deploy(digits[:300], tmp_path / "codes" / "digits_8_8.npz", batch_size=128, dataset="digits")
    codes, metadata = read_codes(path)
    np.testing.assert_array_equal(codes, model.encode(digits[:300]))
    assert codes.dtype == np.float32 and codes.shape == (300, 8)
    assert metadata == {"model": "larcv_ae", "image_shape": [8, 8], "code_dim": 8, "n_images": 300,
                        "loss_fn": "mse", "dataset": "digits"}
    assert [p.name for p in path.parent.iterdir()] == ["digits_8_8.npz"]  # no temporary file left


def test_sample_decodes_the_fitted_code_gaussian(trained_ae, digits):
    model = physgan.get_model("larcv_ae", seed=8, **TINY_AE)
    with pytest.raises(ConfigError, match="fit_code_distribution"):
        model.sample(4)
    model, _ = trained_ae
    mean, covariance = model.fit_code_distribution(digits[:1500])
    codes = model.encode(digits[:1500])
    np.testing.assert_allclose(np.asarray(model.code_mean), codes.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(covariance, np.cov(codes.astype("float64"), rowvar=False), rtol=1e-4, atol=1e-6)
    images = model.generate_normalised(500, seed=0)
    assert images.shape == (500, 8, 8) and np.all(np.abs(images) <= 1)
    np.testing.assert_allclose(images[:6], model.generate_normalised(6, seed=0), atol=1e-6)  # batch size 6 vs 500
    events = model.sample(6, seed=0)  # the same images in ink units
    assert isinstance(events, DigitImages)
    np.testing.assert_allclose(events.images, (images[:6] + 1) / 2 * 16, atol=1e-5)
    # Decoded draws look like digits on average: their mean image is near the data's.
    gap = np.mean(np.square(images.mean(axis=0) - digits[..., 0].mean(axis=0)))
    assert gap < 0.1 * np.mean(np.square(digits[..., 0].mean(axis=0))), gap
    with pytest.raises(ConfigError, match="no condition"):
        model.sample(2, condition=1.0)


def test_autoencoder_trains_saves_and_reloads_on_the_next_backend(digits, tmp_path):
    model = physgan.get_model("larcv_ae", seed=3, **TINY_AE)
    # The code Gaussian lives in saved variables: the next backend samples it after
    # reloading (an unfitted model refuses to sample) and must draw the same images.
    # One other backend only (a reload costs a process start): over the three runs
    # of this file every backend reloads an autoencoder saved by another one.
    model.fit_code_distribution(digits[:512])
    check_train_save_reload(model, {"image": digits[:256]}, tmp_path, batch_size=32, steps=3,
                            all_backends=False)
    again = physgan.load(tmp_path / "model.keras")
    np.testing.assert_allclose(again.encode(digits[:64]), model.encode(digits[:64]), rtol=1e-5, atol=1e-6)
    assert again.get_config() == model.get_config()


def test_bce_loss_is_the_bce_of_pixels_mapped_to_0_1(digits):
    model = physgan.get_model("larcv_ae", loss_fn="bce", **TINY_AE)
    images = digits[:16]
    reconstructions = np.clip(images[::-1] * 0.9 + 0.05, -1, 1)  # other digits, inside (-1, 1)
    loss = keras.ops.convert_to_numpy(model.reconstruction_loss(*map(keras.ops.convert_to_tensor,
                                                                     (images, reconstructions))))
    target, probability = (images + 1) / 2, (reconstructions.astype("float64") + 1) / 2
    expected = -np.mean(target * np.log(probability) + (1 - target) * np.log(1 - probability))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    # Perfect reconstructions of black-and-white images: the log is clipped, the loss ~0, not NaN.
    binary = keras.ops.convert_to_tensor(np.where(images > 0, 1.0, -1.0).astype("float32"))
    perfect = keras.ops.convert_to_numpy(model.reconstruction_loss(binary, binary))
    assert 0 <= perfect < 1e-5, perfect


# --- optimizers: the original torch ones -----------------------------------------------


def _torch_after_steps(initial, batches, optimizer, code_layer):
    """Returns the weights of the original (torch) MLP AE after one step per batch:
    Linear layers `initial` ((out, in) weight, bias), LeakyReLU(0.5) after each but
    the code layer (none) and the last (tanh)."""
    params = [torch.tensor(w, requires_grad=True) for pair in initial for w in pair]
    opt = optimizer(params)
    for batch in batches:
        x = y = torch.tensor(batch.reshape(len(batch), -1))
        for i in range(len(initial)):
            x = x @ params[2 * i].T + params[2 * i + 1]
            if i == len(initial) - 1:
                x = torch.tanh(x)
            elif i != code_layer:
                x = torch.nn.functional.leaky_relu(x, 0.5)
        opt.zero_grad()
        torch.nn.functional.mse_loss(x, y).backward()
        opt.step()
    return np.concatenate([p.detach().numpy().T.ravel() for p in params])


def _ours_after_steps(batches, **options):
    """Returns (initial weights as torch (out, in) pairs, weights after one step per
    batch as one vector, the index of the code layer) of a tiny autoencoder."""
    model = physgan.get_model("larcv_ae", seed=5, **TINY_AE, **options)
    model.compile()
    dense = [layer for net in (model.encoder, model.decoder) for layer in net.layers
             if isinstance(layer, keras.layers.Dense)]
    initial = [(np.asarray(layer.kernel).T.copy(), np.asarray(layer.bias).copy()) for layer in dense]
    model.fit({"image": np.concatenate(batches)}, batch_size=len(batches[0]), epochs=1, shuffle=False, verbose=0)
    after = np.concatenate([w for layer in dense for w in (np.asarray(layer.kernel).ravel(),
                                                          np.asarray(layer.bias).ravel())])
    return initial, after, [layer.name for layer in dense].index("code")


def test_weight_decay_is_torch_adams_coupled_l2(digits):
    """Three steps of ours follow torch.optim.Adam(weight_decay=...) (coupled L2), not AdamW."""
    wd, lr = 1.0, 1e-2  # strong decay: coupled and decoupled (AdamW) steps differ by ~lr
    batches = [digits[i * 32:(i + 1) * 32] for i in range(3)]
    initial, ours, code = _ours_after_steps(batches, ae_lr=lr, weight_decay=wd)
    coupled = np.abs(ours - _torch_after_steps(initial, batches, lambda p: torch.optim.Adam(p, lr, weight_decay=wd),
                                               code))
    decoupled = np.abs(ours - _torch_after_steps(initial, batches, lambda p: torch.optim.AdamW(p, lr, weight_decay=wd),
                                                 code))
    # Keras' Adam adds epsilon before v's bias correction, torch after: the few weights
    # whose decayed gradient is ~0 step differently; the rest agree to float precision,
    # while decoupled decay (AdamW) moves almost every weight elsewhere.
    assert np.median(coupled) < 2e-6 and np.mean(coupled < 1e-4) > 0.98, (np.median(coupled), np.mean(coupled < 1e-4))
    assert np.median(decoupled) > 1e-3, np.median(decoupled)


def test_sgd_with_weight_decay_matches_torch_exactly(digits):
    """With SGD (momentum 0.9) the L2 term reproduces torch's coupled weight_decay to float precision."""
    wd, lr = 0.5, 0.05
    batches = [digits[i * 32:(i + 1) * 32] for i in range(3)]
    initial, ours, code = _ours_after_steps(batches, ae_opt="sgd", ae_lr=lr, weight_decay=wd)
    theirs = _torch_after_steps(initial, batches, lambda p: torch.optim.SGD(p, lr, momentum=0.9, weight_decay=wd), code)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert np.abs(ours - np.concatenate([w.T.ravel() for pair in initial for w in pair])).max() > 1e-3  # it moved


def test_optimizer_choices_are_the_originals():
    model = physgan.get_model("larcv_gan", g_opt="SGD", d_lr=3e-4, **TINY_GAN)
    model.compile()
    assert isinstance(model.generator_optimizer, keras.optimizers.SGD)
    assert model.generator_optimizer.momentum == pytest.approx(0.9)  # the original --p
    adam = model.discriminator_optimizer
    assert isinstance(adam, keras.optimizers.Adam)
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (0.9, 0.999, 1e-8)  # torch defaults, no --beta
    assert float(np.asarray(adam.learning_rate)) == pytest.approx(3e-4)
    assert physgan.get_model("larcv_ae", ae_opt="sgd", **TINY_AE).l2_coefficient == 0.0  # SGD: no decay
    assert physgan.get_model("larcv_ae", **TINY_AE).l2_coefficient == 1e-5  # Adam(weight_decay=1e-5)


@pytest.mark.backend_free
def test_code_files_reject_bad_input_with_clear_errors(tmp_path):
    good = np.ones((3, 2), dtype="float32")
    with pytest.raises(DataError, match="as .npz files"):
        write_codes(tmp_path / "codes.npy", good)
    with pytest.raises(DataError, match=r"\(n_images, code_dim\) array, got shape \(3,\)"):
        write_codes(tmp_path / "codes.npz", np.ones(3))
    with pytest.raises(DataError, match="1 code vector.*NaN.*row 1"):
        write_codes(tmp_path / "codes.npz", np.array([[0.0, 1.0], [np.nan, 0.0]]))
    with pytest.raises(DataError, match="JSON-serialisable"):
        write_codes(tmp_path / "codes.npz", good, when=object())
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file

    with pytest.raises(DataError, match="does not exist"):
        read_codes(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="is a folder"):
        read_codes(tmp_path)
    (tmp_path / "text.npz").write_text("not a zip file")
    with pytest.raises(DataError, match="is not a code-vector file"):
        read_codes(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", images=good)
    with pytest.raises(DataError, match="has no codes, metadata, format \\(found: images\\)"):
        read_codes(tmp_path / "other.npz")
    np.savez(tmp_path / "nan.npz", codes=np.full((2, 2), np.nan), metadata=np.array("{}"),
             format=np.array("physgan.codes/1"))
    with pytest.raises(DataError, match="NaN or infinite"):
        read_codes(tmp_path / "nan.npz")
    np.savez(tmp_path / "future.npz", codes=good, metadata=np.array("{}"), format=np.array("physgan.codes/9"))
    with pytest.raises(DataError, match="physgan.codes/9"):
        read_codes(tmp_path / "future.npz")
    np.savez(tmp_path / "dim.npz", codes=good, metadata=np.array(json.dumps({"code_dim": 5})),
             format=np.array("physgan.codes/1"))
    with pytest.raises(DataError, match="code_dim 5 but holds vectors of 2"):
        read_codes(tmp_path / "dim.npz")


@pytest.mark.backend_free
@pytest.mark.parametrize("image_shape", [(0, 8), (8,), (8, 8, 1), "88", (8.5, 8), (-8, 8), None])
def test_bad_image_shape_is_named(image_shape):
    for name in ("larcv_gan", "larcv_ae"):
        with pytest.raises(ConfigError, match="image_shape must be"):
            physgan.get_model(name, image_shape=image_shape)


@pytest.mark.backend_free
@pytest.mark.parametrize("name, options, message", [
    ("larcv_gan", {"z_dim": 0}, "z_dim must be an int >= 1, got 0"),
    ("larcv_gan", {"n_hidden": -64}, "n_hidden must be an int >= 1, got -64"),
    ("larcv_gan", {"n_layers": -1}, "n_layers must be an int >= 0, got -1"),
    ("larcv_gan", {"z_dim": 2.5}, "z_dim must be an int >= 1, got 2.5"),
    ("larcv_gan", {"g_lr": 0.0}, "g_lr must be a learning rate > 0, got 0.0"),
    ("larcv_gan", {"d_lr": "fast"}, "d_lr must be a learning rate > 0, got 'fast'"),
    ("larcv_gan", {"g_opt": "adagrad"}, "g_opt must be one of adam, sgd, rmsprop, got 'adagrad'"),
    ("larcv_gan", {"d_opt": None}, "d_opt must be one of adam, sgd, rmsprop, got None"),
    ("larcv_gan", {"momentum": 1.5}, r"momentum must be a number in \[0, 1\]"),
    ("larcv_ae", {"l_dim": -3}, "l_dim must be an int >= 1, got -3"),
    ("larcv_ae", {"ae_opt": "lbfgs"}, "ae_opt must be one of adam, sgd, rmsprop, got 'lbfgs'"),
    ("larcv_ae", {"loss_fn": "l1"}, "loss_fn must be one of mse, bce, got 'l1'"),
    ("larcv_ae", {"weight_decay": -1e-5}, r"weight_decay must be a number >= 0 \(or None\), got -1e-05"),
])
def test_bad_options_are_named(name, options, message):
    with pytest.raises(ConfigError, match=message):
        physgan.get_model(name, **options)


def test_images_of_the_wrong_shape_are_refused(digits):
    gan = physgan.get_model("larcv_gan", **TINY_GAN)
    gan.compile()
    with pytest.raises(DataError, match=r"image_shape=\(8, 8\) trains on images of shape \(N, 8, 8, 1\), "
                                        r"got \(N, 8, 7, 1\)"):
        gan.fit({"image": digits[:64, :, :7]}, batch_size=32, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"trains on batches \{'image': \(B, H, W, 1\)\}, got pixels"):
        gan.discriminator_loss({"pixels": keras.ops.convert_to_tensor(digits[:4])})
    ae = physgan.get_model("larcv_ae", **TINY_AE)
    with pytest.raises(DataError, match=r"takes images \(N, 8, 8\) or \(N, 8, 8, 1\), got \(4, 8, 7\)"):
        ae.encode(np.zeros((4, 8, 7)))
    with pytest.raises(DataError, match=r"got \(N, 8, 8, 3\)"):
        ae.autoencoder_loss({"image": keras.ops.convert_to_tensor(np.zeros((4, 8, 8, 3), "float32"))})
    with pytest.raises(DataError, match=r"takes images \(N, 8, 8\) or \(N, 8, 8, 1\), got \(4, 7, 8, 1\)"):
        gan.discriminate(digits[:4, :7])


@pytest.mark.backend_free
def test_config_round_trip():
    gan = physgan.get_model("larcv_gan", g_opt="rmsprop", momentum=0.5, horizontal_flip=True, seed=11, **TINY_GAN)
    config = gan.get_config()
    assert json.loads(json.dumps(config)) == config
    again = LArCVGAN.from_config(config)
    assert again.get_config() == config and again.image_shape == (8, 8)
    assert again.generator.count_params() == gan.generator.count_params()
    ae = physgan.get_model("larcv_ae", loss_fn="BCE", weight_decay=0.0, seed=12, **TINY_AE)
    config = ae.get_config()
    assert config["loss_fn"] == "bce" and config["weight_decay"] == 0.0 and config["image_shape"] == [8, 8]
    again = LArCVAutoencoder.from_config(config)
    assert again.get_config() == config and again.l2_coefficient == 0.0
    assert again.encoder.count_params() == ae.encoder.count_params()


def test_fit_refits_the_code_gaussian_after_every_epoch(digits):
    model = physgan.get_model("larcv_ae", seed=8, **TINY_AE)
    model.compile(steps_per_epoch=2)
    model.fit({"image": digits[:96]}, batch_size=48, epochs=1, verbose=0)
    codes = model.encode(digits[:96])
    np.testing.assert_allclose(np.asarray(model.code_mean), codes.mean(axis=0), rtol=1e-4, atol=1e-5)
    assert model.sample(3, seed=0).images.shape == (3, 8, 8)  # no explicit fit_code_distribution needed
