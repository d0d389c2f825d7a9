"""CorrVAE (ALICE ZDC): architecture, losses, schedules, operations, save/reload, control."""

import keras
import numpy as np
import pytest
from keras import ops

from physgan.data.zdc import PROPERTY_NAMES, PropertyScaler, ZdcData, bundled_sample_path, read_zdc
from physgan.datasets import load_training_data
from physgan.errors import ConfigError
from physgan.layers import SpectralNormDense
from physgan.metrics.zdc import property_control_errors
from physgan.zoo.corrvae import (
    CorrVAE,
    groupwise_total_correlation,
    kl_to_prior,
    log_importance_weights,
)
from tests.model_testing import check_train_save_reload


@pytest.fixture(scope="module")
def zdc():
    data = read_zdc(bundled_sample_path(), max_events=2560)
    scaler = PropertyScaler().fit(data.properties)
    inputs = {"image": data.log_images, "properties": scaler.transform(data.properties).astype("float32")}
    return data, scaler, inputs


def _numpy(x):
    return ops.convert_to_numpy(x)


@pytest.mark.backend_free
def test_parameter_count_matches_the_original():
    # 9 conditional inputs as the original network: 1,428,631 trainable parameters.
    model = CorrVAE(condition_properties=tuple(range(9)), seed=0)
    trainable = sum(int(np.prod(v.shape)) for v in model.vae.trainable_variables)
    assert trainable == 1_428_631
    assert tuple(model.vae.mask_logits.shape) == (2, 8, 2)


def test_spectral_norm_dense_bounds_the_largest_singular_value():
    layer = SpectralNormDense(16, coeff=0.97, power_iterations=5)
    layer.build((None, 8))
    rng = np.random.default_rng(0)  # singular values 3, 1.5, ...: the power method converges fast
    left, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    right, _ = np.linalg.qr(rng.normal(size=(16, 8)))
    sigmas = np.array([3.0, 1.5, 1.2, 1.0, 0.8, 0.6, 0.4, 0.2])
    layer.kernel.assign((left * sigmas @ right.T).astype("float32"))
    x = np.ones((2, 8), "float32")
    for _ in range(5):
        layer(x, training=True)
    kernel = _numpy(layer.normalised_kernel())
    assert np.linalg.svd(kernel, compute_uv=False)[0] == pytest.approx(0.97, rel=5e-3)  # power iteration: sigma from below
    layer.kernel.assign(np.eye(8, 16, dtype="float32") * 0.5)  # sigma 0.5 < coeff: unchanged
    layer(x, training=True)
    np.testing.assert_allclose(_numpy(layer.normalised_kernel()), np.eye(8, 16) * 0.5, atol=1e-6)
    # The bound holds from the start: the estimate is converged at build, before any training.
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        fresh = SpectralNormDense(32, coeff=0.97, kernel_initializer="he_uniform")
        fresh.build((None, 1))
        assert np.linalg.svd(_numpy(fresh.normalised_kernel()), compute_uv=False)[0] <= 0.97 * 1.001


@pytest.mark.backend_free
def test_stratified_importance_weights_are_normalised():
    weights = np.exp(_numpy(log_importance_weights(6, 1000.0)))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.diag(weights), 1e-3, rtol=1e-5)


@pytest.mark.backend_free
def test_kl_and_groupwise_tc():
    mean = np.array([[0.5, -1.0]], "float32")
    logvar = np.array([[0.2, -0.3]], "float32")
    expected = 0.5 * np.sum(-1 - logvar + mean**2 + np.exp(logvar))
    assert float(_numpy(kl_to_prior(mean, logvar))) == pytest.approx(expected, rel=1e-5)
    rng = np.random.default_rng(0)
    a_mean = rng.normal(size=(256, 2)).astype("float32")
    logvar = np.full((256, 2), -1.0, "float32")
    a = (a_mean, a_mean, logvar)
    b_dependent = (a_mean * 2.0, a_mean * 2.0, logvar)
    b_mean = rng.normal(size=(256, 2)).astype("float32")
    b_independent = (b_mean, b_mean, logvar)
    dependent = float(_numpy(groupwise_total_correlation(a, b_dependent, 256)))
    independent = float(_numpy(groupwise_total_correlation(a, b_independent, 256)))
    assert dependent > independent + 1.0


def test_temperature_and_kl_schedules(zdc):
    _, _, inputs = zdc
    model = CorrVAE(warmup_steps=2, seed=0, dataset_size=len(inputs["image"]))
    model.compile(steps_per_epoch=10)
    assert float(_numpy(model.temperature(0))) == pytest.approx(0.2)
    assert float(_numpy(model.temperature(89))) == pytest.approx(0.2)  # epochs 0-8
    assert float(_numpy(model.temperature(90))) == pytest.approx(0.02)  # the 10th epoch
    small = {k: v[:128] for k, v in inputs.items()}
    history = model.fit(small, batch_size=32, epochs=1, verbose=0)
    # 4 steps: 2 warm-up steps, then the KL weight grows by 1 per step from 100.
    assert int(_numpy(model.iteration)) == 4
    assert float(_numpy(model.kl_weight)) == pytest.approx(102.0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.backend_free
def test_kl_schedule_is_the_originals_in_epochs_or_in_iterations():
    model = CorrVAE(seed=0)
    assert model.kl_schedule() == (100_000, 1.0)  # steps per epoch unknown: the original's iterations
    model.compile(steps_per_epoch=203)  # the bundled 13,000 responses
    warmup, increment = model.kl_schedule()
    assert warmup == round(100_000 / 3_700 * 203) and increment == pytest.approx(3_700 / 203)
    explicit = CorrVAE(seed=0, warmup_steps=10, kl_weight_increment=2.0)
    explicit.compile(steps_per_epoch=203)
    assert explicit.kl_schedule() == (10, 2.0)
    with pytest.raises(ConfigError, match="warm-up"):
        CorrVAE(warmup_epochs=-1)


def test_invert_property_and_optimize_w():
    model = CorrVAE(seed=0)
    targets = np.array([0.1, 0.5, 0.9], "float32")
    residual_map = model.vae.residual_maps[0]

    def mismatch(w_prime):  # |g(w') + w' - y|
        return np.abs(_numpy(residual_map(ops.convert_to_tensor(w_prime[:, None])))[:, 0] + w_prime - targets)

    # g is a contraction, so each fixed-point step shrinks the error; its rate depends on
    # the random weights, so converge with more steps than the original's 20.
    assert mismatch(model.invert_property(targets, index=0)).max() < mismatch(targets).max()
    assert mismatch(model.invert_property(targets, index=0, steps=200)).max() < 1e-4
    # Targets some w reaches by construction (an untrained predictor need not cover [0, 1]^2).
    wanted = model.predict_properties(np.random.default_rng(1).standard_normal((4, model.w_dim)).astype("float32"))
    w = model.optimize_w(wanted, steps=300, seed=0)
    start = np.random.default_rng(0).standard_normal(w.shape).astype("float32")  # optimize_w's own start
    before = np.abs(model.predict_properties(start) - wanted).max(axis=1)
    after = np.abs(model.predict_properties(w) - wanted).max(axis=1)
    # The property map is not convex: a sample may end in a local minimum, but most reach their target.
    assert (after < 0.01).sum() >= 3, after
    assert after.mean() < 0.2 * before.mean(), (before, after)
    with pytest.raises(ConfigError, match="optimize_w needs"):
        model.optimize_w(np.zeros((2, 3)))


@pytest.mark.backend_free
def test_conditions_and_bad_input():
    model = CorrVAE(seed=0)
    scaled = model.scale_properties({"centre_x": 10.0, "centre_y": 30.0}, n=3)
    assert scaled.shape == (3, 9)
    physical = model.scaler.inverse_transform(scaled)
    np.testing.assert_allclose(physical[:, 2:4], [[10.0, 30.0]] * 3, atol=1e-4)
    with pytest.raises(ConfigError, match="unknown ZDC properties"):
        model.scale_properties({"centre_z": 1.0}, n=1)
    with pytest.raises(ConfigError, match="NaN"):
        model.scale_properties(np.full((2, 9), np.nan), n=2)
    with pytest.raises(ConfigError, match="w_properties"):
        CorrVAE(w_properties=(12,))
    with pytest.raises(ConfigError, match="w_index"):
        model.traverse(8, [0.0])


def test_trains_saves_and_reloads_on_every_backend(zdc, tmp_path):
    _, _, inputs = zdc
    small = {k: v[:256] for k, v in inputs.items()}
    model = CorrVAE(seed=0, count_threshold=0.0, dataset_size=256)
    check_train_save_reload(model, small, tmp_path, batch_size=32, steps=3, all_backends=False,
                            rtol=1e-3, atol=1e-3)
    generated = model.sample(4, condition={"centre_x": 15.0, "centre_y": 25.0}, seed=1, optimize_steps=50)
    assert isinstance(generated, ZdcData) and generated.images.shape == (4, 44, 44)
    assert np.isfinite(generated.images).all() and generated.images.min() >= 0
    assert model.traverse(0, np.linspace(-2, 2, 3)).shape == (3, 44, 44)


@pytest.mark.backend_free
def test_zdc_dataset_loader():
    data = load_training_data("zdc", max_events=300)
    assert data.inputs["image"].shape == (300, 44, 44, 1)
    assert data.inputs["properties"].shape == (300, 9)
    assert 0.0 <= data.inputs["properties"].min() and data.inputs["properties"].max() <= 1.0
    assert data.model_options["dataset_size"] == 300
    np.testing.assert_allclose(data.model_options["reference_properties"],
                               np.median(data.inputs["properties"], axis=0), atol=1e-6)
    model = CorrVAE(**data.model_options)
    np.testing.assert_allclose(model.scaler.transform(data.condition), data.inputs["properties"], atol=1e-6)
    with pytest.raises(ConfigError, match="neutron"):
        load_training_data("zdc", particle="eplus")


@pytest.mark.backend_free
def test_property_control_errors_are_zero_for_the_data_itself(zdc):
    data, scaler, _ = zdc
    errors = property_control_errors(data.properties[:100], data[:100], scaler)
    assert set(errors) == set(PROPERTY_NAMES)
    assert max(e["mae"] for e in errors.values()) < 1e-9


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="one backend suffices (slow)")
def test_short_training_follows_the_requested_properties():
    """After a short training, responses generated for the properties of held-out
    responses have them more closely than free samples (latents from the prior).

    A CPU-sized schedule: no warm-up, a fixed KL weight equal to the reconstruction
    weight, a noise-free mask and learning rate 1e-3 (the paper's needs ~100k steps).
    Measured (JAX, 2 cores, 6 epochs of 6,400 responses, 77 s): mean scaled error over
    the 9 properties 0.151 controlled vs 0.258 free; centre of mass 0.139 vs 0.172.
    """
    data = read_zdc(bundled_sample_path(), max_events=6656)
    scaler = PropertyScaler().fit(data.properties)
    inputs = {"image": data.log_images, "properties": scaler.transform(data.properties).astype("float32")}
    held_out = 256
    keras.utils.set_random_seed(0)
    model = CorrVAE(seed=0, warmup_steps=0, kl_weight_start=1e6, kl_weight_max=1e6, mask_noise=False,
                    learning_rate=1e-3, scaler=scaler.to_dict(), dataset_size=len(data) - held_out)
    model.compile(steps_per_epoch=(len(data) - held_out) // 64)
    model.fit({k: v[:-held_out] for k, v in inputs.items()}, batch_size=64, epochs=6, verbose=0)
    requested = data.properties[-held_out:]
    errors = {}
    for name, condition in (("controlled", requested), ("free", None)):
        per_property = property_control_errors(requested, model.sample(held_out, condition=condition, seed=0), scaler)
        errors[name] = np.array([per_property[p]["mae_scaled"] for p in PROPERTY_NAMES])
    assert errors["controlled"].mean() < 0.75 * errors["free"].mean(), errors
    assert errors["controlled"][2:4].mean() < errors["free"][2:4].mean(), errors


@pytest.mark.backend_free
def test_watch_figures_of_an_untrained_model(zdc, tmp_path):
    data, scaler, _ = zdc
    from physgan.plots import plot_samples

    model = CorrVAE(seed=0, scaler=scaler.to_dict())
    reference = data[:32]
    generated = model.sample(32, condition=reference.properties, seed=0, optimize_steps=20)
    paths = plot_samples("zdc", reference, generated, tmp_path) + model.model_figures(reference, tmp_path)
    names = {p.name for p in paths}
    assert {"properties.png", "examples.png", "property_control.png", "reconstructions.png",
            "generation_x10_y30.png", "traversal.png"} <= names
    assert all(p.stat().st_size > 5_000 for p in paths)
    assert (tmp_path / "property_control.json").exists()
    assert "traversal.gif" in names  # matplotlib writes GIFs with pillow, one of its dependencies
