"""The original Keras 2 generators load under Keras 3 and reproduce Keras 2's outputs."""

import h5py
import numpy as np
import pytest

import physgan
from physgan.errors import DataError
from physgan.legacy import LegacyGenerator, is_legacy_h5

MPD_FILES = ["best_unparameterized", "generator_500", "parameterize_1", "parameterize_2", "parameterize_3"]
ZDC_FILES = ["gen_vae_175_1_proton", "gen_vae_320_18_proton"]


def reference_cases(folder, stem):
    ref = np.load(folder / "reference_outputs.npz")
    for key in (stem, f"{stem}_angle"):
        if f"{key}__output" in ref.files:
            inputs = [ref[f"{key}__input_{i}"] for i in range(2) if f"{key}__input_{i}" in ref.files]
            yield key, inputs, ref[f"{key}__output"]


@pytest.mark.parametrize("stem", MPD_FILES + ZDC_FILES)
def test_reproduces_the_keras2_reference_outputs(shared_data, stem):
    folder = shared_data / "real" / ("physgan" if stem in MPD_FILES else "zdc")
    model = physgan.load(folder / f"{stem}.h5")
    assert isinstance(model, LegacyGenerator)
    cases = list(reference_cases(folder, stem))
    assert cases
    for key, inputs, expected in cases:
        np.testing.assert_allclose(model.generate_raw(*inputs), expected, rtol=1e-5, atol=1e-4, err_msg=key)


@pytest.mark.backend_free
def test_mpd_generators_sample_amplitudes(shared_data):
    model = physgan.load(shared_data / "real/physgan/best_unparameterized.h5")
    assert model.kind == "mpd_tpc_unparametrized"
    amplitudes = model.sample(64, seed=0).amplitudes
    assert amplitudes.shape == (64, 8, 8) and np.all(amplitudes >= 0)
    np.testing.assert_array_equal(amplitudes, model.sample(64, seed=0).amplitudes)
    assert amplitudes.max() > 100  # ADC counts, not ln(amplitude)
    with pytest.raises(ValueError, match="unparametrized"):
        model.sample(2, condition=3.0)


@pytest.mark.backend_free
def test_parametrized_generator_takes_the_angle(shared_data):
    model = physgan.load(shared_data / "real/physgan/parameterize_3.h5")
    assert model.kind == "mpd_tpc_parametrized"
    low = model.sample(16, condition=0.5, seed=0)
    high = model.sample(16, condition=14.5, seed=0)
    assert not np.allclose(low.amplitudes, high.amplitudes)
    np.testing.assert_array_equal(high.crossing_angle, np.full(16, 14.5, "float32"))


@pytest.mark.backend_free
def test_zdc_decoder_samples_photon_counts(shared_data):
    model = physgan.load(shared_data / "real/zdc/gen_vae_175_1_proton.h5")
    assert model.kind == "zdc_proton_vae_decoder"
    photons = model.sample(8, condition=np.zeros((8, 9)), seed=1)
    assert photons.shape == (8, 56, 30) and np.all(photons >= 0)


def test_resaves_as_keras_and_reloads(shared_data, tmp_path):
    model = physgan.load(shared_data / "real/physgan/parameterize_2.h5")
    path = physgan.save_model(model, tmp_path / "legacy.keras")
    again = physgan.load(path)
    np.testing.assert_allclose(again.sample(8, condition=5.0, seed=3).amplitudes,
                               model.sample(8, condition=5.0, seed=3).amplitudes, rtol=1e-6)


@pytest.mark.backend_free
def test_a_non_keras_h5_is_refused_clearly(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    assert not is_legacy_h5(path)
    with pytest.raises(DataError, match="holds no Keras model"):
        physgan.load(path)


@pytest.mark.backend_free
@pytest.mark.parametrize("folder, stem", [("physgan", "best_unparameterized"), ("zdc", "gen_vae_175_1_proton")])
def test_a_legacy_file_naming_a_class_the_originals_do_not_use_is_refused(shared_data, tmp_path, folder, stem):
    path = tmp_path / f"{stem}.h5"
    path.write_bytes((shared_data / "real" / folder / f"{stem}.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        config = f.attrs["model_config"]
        config = config.decode() if isinstance(config, bytes) else config
        f.attrs["model_config"] = config.replace('"class_name": "Dense"', '"class_name": "Lambda"', 1)
    with pytest.raises(DataError, match=f"{stem}.h5 uses Lambda, which legacy loading does not build"):
        physgan.load(path)
