"""CaloGAN: the paper's architecture, training on real Geant4 showers, ACGAN, saving."""

from math import erf as _erf

import keras
import numpy as np
import pytest

import physgan
from physgan.data.calogan import validate_calogan_file, write_calogan
from physgan.datasets import load_training_data
from tests.model_testing import check_train_save_reload

TINY = dict(latent_size=8)
erf = np.vectorize(_erf)


@pytest.fixture(scope="module")
def eplus(shared_data):
    return load_training_data("calogan", shared_data / "calogan_eplus.h5", max_events=64)


@pytest.mark.backend_free
def test_paper_model_parameter_counts():
    model = physgan.get_model("calogan")
    generator, discriminator = model.generator.count_params(), model.discriminator.count_params()
    # ARCHITECTURES.md: G 29.73M (Dense 18.08M / 7.23M / 4.13M), D 2.74M.
    assert generator == pytest.approx(29.73e6, rel=2e-3)
    assert discriminator == pytest.approx(2.74e6, rel=5e-3)
    dense = [model.generator.get_layer(f"layer_{i}_dense").count_params() for i in range(3)]
    assert dense == [1024 * 17640 + 17640, 1024 * 7056 + 7056, 1024 * 4032 + 4032]


def test_outputs_have_the_calogan_shapes_and_are_non_negative():
    model = physgan.get_model("calogan", **TINY)
    showers = model.sample(5, condition=np.array([1, 10, 30, 60, 100.0]), seed=0)
    assert [layer.shape for layer in showers.layers] == [(5, 3, 96), (5, 12, 12), (5, 12, 6)]
    assert all(np.all(layer >= 0) for layer in showers.layers)


def test_trains_on_real_showers_and_reloads_under_another_backend(eplus, tmp_path):
    model = physgan.get_model("calogan", seed=0, **TINY, **eplus.model_options)
    history = check_train_save_reload(
        model, eplus.inputs, tmp_path, batch_size=16, condition=np.linspace(5, 95, 4),
        n_samples=4, steps=2, all_backends=False,
    )
    assert history.history["generator_energy_error"][0] > 0
    # The schedule of the original: 2 discriminator and 2 generator steps per batch.
    assert int(model.discriminator_optimizer.iterations) == 4
    assert int(model.generator_optimizer.iterations) == 4


def test_conv_variant_without_attention_is_lighter_and_trains(eplus, tmp_path):
    paper = physgan.get_model("calogan", **TINY)
    light = physgan.get_model("calogan", variant="conv", attention=False, **TINY)
    assert light.generator.count_params() < paper.generator.count_params()
    assert light.discriminator.count_params() < paper.discriminator.count_params()
    light.compile()
    light.fit(eplus.inputs, batch_size=16, epochs=1, steps_per_epoch=1, verbose=0)


def test_energy_normalised_generator_deposits_the_data_response(eplus, tmp_path):
    response, spread = eplus.model_options["energy_response"]  # E_tot / E of the real showers
    quantiles = np.array(eplus.model_options["energy_quantiles"])
    assert 0.99 < response < 1.0 and 0 < spread < 0.01
    assert len(quantiles) == 65 and np.all(np.diff(quantiles) >= 0) and 0.98 < quantiles[0] < quantiles[-1] < 1.0
    model = physgan.get_model("calogan", energy_normalisation=True, seed=0, **TINY, **eplus.model_options)
    energies = np.array([1.0, 7.5, 42.0, 100.0])
    check_train_save_reload(model, eplus.inputs, tmp_path, batch_size=16, condition=energies,
                            n_samples=4, steps=2, all_backends=False)
    z = np.array([[-9.0], [-0.3], [0.0], [2.0]], dtype="float32") * np.ones((4, 8), dtype="float32")
    cells = model.generator.predict([z, energies.reshape(-1, 1).astype("float32")], verbose=0)
    total = sum(layer.reshape(4, -1).sum(axis=1) for layer in cells)  # GeV
    at = np.interp(0.5 * (1 + erf(z[:, 0] / np.sqrt(2))) * 64, np.arange(65), quantiles)
    np.testing.assert_allclose(total, at * energies, rtol=1e-4)
    assert total[0] == pytest.approx(quantiles[0] * energies[0], rel=1e-4)  # far tail: the data's minimum
    assert total[2] == pytest.approx(np.median(quantiles) * energies[2], rel=1e-4)
    assert all(np.all(layer >= 0) for layer in cells)


def test_energy_normalisation_without_quantiles_is_gaussian(eplus):
    options = {k: v for k, v in eplus.model_options.items() if k != "energy_quantiles"}
    model = physgan.get_model("calogan", energy_normalisation=True, seed=0, **TINY, **options)
    z = np.random.default_rng(1).standard_normal((4, 8)).astype("float32")
    energies = np.array([[1.0], [7.5], [42.0], [100.0]], dtype="float32")
    cells = model.generator.predict([z, energies], verbose=0)
    total = sum(layer.reshape(4, -1).sum(axis=1) for layer in cells)
    response, spread = options["energy_response"]
    np.testing.assert_allclose(total, (response + spread * z[:, 0]) * energies[:, 0], rtol=1e-4)


def test_fraction_features_show_the_discriminator_each_layers_share(eplus, tmp_path):
    plain = physgan.get_model("calogan", seed=0, **TINY)
    model = physgan.get_model("calogan", fraction_features=True, energy_normalisation=True, seed=0, **TINY,
                              **eplus.model_options)
    # Dense 4 -> 32 (160) and 32 -> 16 (528), and 16 more inputs to the real/fake unit.
    assert model.discriminator.count_params() == plain.discriminator.count_params() + 160 + 528 + 16
    shares = model.discriminator.get_layer("log_layer_shares")
    layer_energies = np.array([[1.0, 8.9, 0.1], [0.0, 5.0, 0.0]], dtype="float32")
    out = np.asarray(shares([layer_energies, np.array([[10.0], [5.0]], dtype="float32")]))
    np.testing.assert_allclose(out, [[-1, np.log10(0.89), -2, 1], [-6, 0, -6, np.log10(5)]], atol=1e-5)
    check_train_save_reload(model, eplus.inputs, tmp_path, batch_size=16, condition=np.array([5.0, 50.0]),
                            n_samples=2, steps=2, all_backends=False)


def test_log_energy_scale_conditions_the_latent_on_log_e():
    model = physgan.get_model("calogan", energy_scale="log", seed=0, **TINY)
    assert model.generator.count_params() == physgan.get_model("calogan", seed=0, **TINY).generator.count_params()
    scale = model.generator.get_layer("log_energy_scale")
    out = np.asarray(scale(np.array([[1.0], [10.0], [100.0], [0.0]], dtype="float32"))).ravel()
    np.testing.assert_allclose(out, [1 / 3, 2 / 3, 1.0, -1 / 3], rtol=1e-6)
    assert physgan.get_model("calogan", **TINY).generator.get_layer("energy_over_100")  # the paper's default
    with pytest.raises(ValueError, match="energy_scale"):
        physgan.get_model("calogan", energy_scale="sqrt", **TINY)


def test_soft_sparsity_option_reaches_the_discriminator_and_trains(eplus, tmp_path):
    model = physgan.get_model("calogan", sparsity_softness=1e-4, energy_normalisation=True, seed=0, **TINY,
                              **eplus.model_options)
    sparsity = [model.discriminator.get_layer(f"layer_{i}_sparsity") for i in range(3)]
    assert [layer.softness for layer in sparsity] == [1e-4] * 3
    assert physgan.get_model("calogan", **TINY).discriminator.get_layer("layer_2_sparsity").softness == 0.0
    check_train_save_reload(model, eplus.inputs, tmp_path, batch_size=16, condition=np.array([5.0, 50.0]),
                            n_samples=2, steps=2, all_backends=False)
    with pytest.raises(ValueError, match="sparsity_softness"):
        physgan.get_model("calogan", sparsity_softness=-1.0, **TINY)


@pytest.mark.backend_free
@pytest.mark.parametrize("quantiles", [[0.99], [0.99, 0.98], [0.0, 0.5]])
def test_bad_response_quantiles_are_refused(quantiles):
    from physgan.layers import EnergyNormalisation

    with pytest.raises(ValueError, match="quantiles"):
        EnergyNormalisation(quantiles=quantiles)


def test_two_particles_train_an_acgan(shared_data, tmp_path):
    yaml_file = tmp_path / "particles.yaml"
    yaml_file.write_text(
        f"eplus: {shared_data / 'calogan_eplus.h5'}\ngamma: {shared_data / 'calogan_gamma.h5'}\n"
    )
    data = load_training_data("calogan", yaml_file, max_events=32)
    assert data.model_options["particles"] == ["eplus", "gamma"]
    assert sorted(np.unique(data.inputs["particle"])) == [0, 1]
    model = physgan.get_model("calogan", **TINY, **data.model_options)
    assert model.discriminator.get_layer("particle").units == 1  # the original's 2-class head
    model.compile()
    history = model.fit(data.inputs, batch_size=16, epochs=1, steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["discriminator_fake_loss"][0])
    a = model.sample(4, condition=50.0, seed=0, particle="eplus")
    b = model.sample(4, condition=50.0, seed=0, particle="gamma")
    assert not np.allclose(a.layers[1], b.layers[1])


@pytest.mark.backend_free
def test_three_particles_use_a_softmax_class_head():
    model = physgan.get_model("calogan", particles=("eplus", "gamma", "piplus"), **TINY)
    assert model.discriminator.get_layer("particle").units == 3


@pytest.mark.backend_free
def test_generated_showers_write_a_valid_calogan_file(tmp_path):
    model = physgan.get_model("calogan", **TINY)
    path = write_calogan(tmp_path / "gen.h5", model.sample(10, seed=1))
    assert validate_calogan_file(path) == 10


def test_int8_generator_stays_close_and_reloads_quantized(tmp_path):
    from physgan.artifacts import save_model
    from tests.model_testing import other_backends, sample_as_array, sample_in_subprocess

    model = physgan.get_model("calogan", seed=0, **TINY)
    energies = np.linspace(5, 95, 8)
    full = sample_as_array(model.sample(8, condition=energies, seed=0))
    model.quantize_generator("int8")
    assert model.get_config()["generator_quantization"] == "int8"
    assert str(model.generator.get_layer("layer_1_dense").kernel.dtype).endswith("int8")
    quantized = sample_as_array(model.sample(8, condition=energies, seed=0))
    # int8 kernels with per-channel scales: total energies within a few per cent.
    np.testing.assert_allclose(quantized.sum(axis=1), full.sum(axis=1), rtol=0.05)
    with pytest.raises(ValueError, match="already quantized"):
        model.quantize_generator("int8")
    path = save_model(model, tmp_path / "int8.keras")
    (backend,) = other_backends(all_of_them=False)
    reloaded = sample_in_subprocess(path, backend, 8, energies, tmp_path)
    # JAX multiplies int8 activations, TF and torch float ones (`generation_network`).
    same_path = (backend == "jax") == (keras.backend.backend() == "jax")
    tolerance = 1e-3 if same_path else 2e-2
    np.testing.assert_allclose(reloaded, quantized, rtol=tolerance, atol=tolerance * quantized.max())


def test_int8_generation_runs_float_products_of_the_int8_weights_off_jax():
    model = physgan.get_model("calogan", seed=0, **TINY)
    model.quantize_generator("int8")
    n_weights = len(model.weights)
    network = model.generation_network()
    assert len(model.weights) == n_weights  # the float copy is neither saved nor counted
    if keras.backend.backend() == "jax":
        assert network is model.generator
        return
    assert network is model.generation_network() is not model.generator
    source, copy = model.generator.get_layer("layer_1_dense"), network.get_layer("layer_1_dense")
    expected = keras.ops.convert_to_numpy(source._kernel).astype("float32") / keras.ops.convert_to_numpy(
        source.kernel_scale)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(copy.kernel), expected, rtol=1e-6)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((4, model.latent_size)).astype("float32"), np.full((4, 1), 50.0, "float32")]
    for int8, weight_only in zip(model.generator(inputs), network(inputs)):
        int8, weight_only = keras.ops.convert_to_numpy(int8), keras.ops.convert_to_numpy(weight_only)
        np.testing.assert_allclose(weight_only, int8, rtol=2e-2, atol=2e-2 * np.abs(int8).max())
