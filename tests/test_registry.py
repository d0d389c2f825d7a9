"""The zoo registry and the top-level API."""

import pytest

import physgan
from physgan.errors import ConfigError, DataError

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


def test_list_models_has_the_mpd_variants_with_their_data_sets():
    entries = {e.name: e for e in physgan.list_models()}
    assert {"mpd_wgan", "mpd_wgan_param"} <= set(entries)
    assert "mpd_tpc" in entries["mpd_wgan"].datasets


def test_get_model_applies_entry_defaults_and_overrides():
    assert physgan.get_model("mpd_wgan_param").parametrized
    assert physgan.get_model("mpd_wgan", latent_dim=16).latent_dim == 16


def test_unknown_model_error_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown model 'calogann'.*mpd_wgan"):
        physgan.get_model("calogann")


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="no model file"):
        physgan.load(tmp_path / "missing.keras")
    other = tmp_path / "weights.txt"
    other.write_text("x")
    with pytest.raises(DataError, match="neither a .keras nor a legacy .h5"):
        physgan.load(other)


def test_describe_says_what_a_model_is_and_what_it_samples():
    text = physgan.get_model("mpd_wgan").describe()
    assert text.splitlines()[0] == "mpd_wgan (MPDWGAN): 99,498 parameters (generator 43,177, critic 56,321)"
    assert "amplitudes (N, 8, 8) [pad, time] in ADC counts" in text and "condition: none" in text
    assert "condition: track crossing angle [degrees]" in physgan.get_model("mpd_wgan_param").describe()
