"""The trained presets shipped in saved_models/ load by name on this backend, say what
they are and generate; the CaloGAN ones generate physics and deposit the requested
energy as Geant4 does on their held-out events."""

import json

import numpy as np
import pytest

import physgan
from physgan.data.calogan import read_calogan
from physgan.datasets import dataset_of, file_sha256
from tests.conftest import REPO_ROOT

SAVED = REPO_ROOT / "saved_models"
INDEX = json.loads((SAVED / "index.json").read_text())
CALOGAN_LAYOUT = sorted(name for name, entry in INDEX.items() if entry["dataset"] == "calogan")  # + calo_flow
DIGITS = sorted(name for name, entry in INDEX.items() if entry["dataset"] == "digits")
ZDC = sorted(name for name, entry in INDEX.items() if entry["dataset"] == "zdc")


@pytest.mark.parametrize("name", sorted(INDEX))
def test_preset_loads_by_name_matches_its_index_entry_and_samples(name):
    entry = INDEX[name]
    path = SAVED / name
    assert path.stat().st_size == entry["bytes"] and file_sha256(path) == entry["sha256"]
    assert path.stat().st_size <= 60e6
    assert all((SAVED / figure).is_file() for figure in entry["figures"])
    model = physgan.load(path.stem, compile=False)
    assert model.preset.name == path.stem
    description = model.describe()
    assert description.startswith(f"{entry['model']} (") and f"preset {path.stem}: " in description
    assert "sample(n) returns" in description and "classifier AUC" in description
    events = model.sample(32, seed=0)
    assert len(events) == 32 and dataset_of(events).name == entry["dataset"]


@pytest.mark.parametrize("name", CALOGAN_LAYOUT)
def test_calogan_layout_preset_generates_layer_fractions_as_geant4(name):
    entry = INDEX[name]
    model = physgan.load(SAVED / name, compile=False)
    assert model.get_config().get("generator_quantization") == entry.get("generator_quantization")
    showers = model.sample(256, condition=np.full(256, 50.0), seed=0)
    assert [layer.shape for layer in showers.layers] == [(256, 3, 96), (256, 12, 12), (256, 12, 6)]
    assert all(np.all(layer >= 0) for layer in showers.layers)
    fractions = np.median(showers.layer_energies / showers.total_energy[:, None], axis=0)
    assert 0.05 < fractions[0] < 0.5 and fractions[1] > 0.5 and fractions[2] < 0.05, fractions


@pytest.mark.parametrize("name", CALOGAN_LAYOUT)
def test_saved_model_deposits_the_requested_energy_within_the_geant4_spread(name, shared_data):
    entry = INDEX[name]
    held = entry["held_out"]
    geant4 = read_calogan(shared_data / entry["data"]["file"], max_events=500, start=held["first_event"])
    model = physgan.load(SAVED / name, compile=False)
    showers = model.sample(len(geant4.incident_energy), condition=geant4.incident_energy, seed=0)
    real = geant4.total_energy / 1000.0 / geant4.incident_energy
    fake = showers.total_energy / 1000.0 / showers.incident_energy
    low, median, high = np.percentile(real, [16, 50, 84])
    # The generated response sits inside Geant4's central 68 % and is about as wide.
    assert low < np.median(fake) < high, (np.median(fake), low, median, high)
    spread = np.subtract(*np.percentile(fake, [84, 16]))
    assert 0.5 < spread / (high - low) < 2.0, (spread, high - low)


@pytest.mark.parametrize("name", DIGITS)
def test_digit_preset_draws_digits_of_every_kind(name):
    from physgan.data.digits import read_digits
    from physgan.data.images import digits_source
    from physgan.metrics.images import digit_class_score, mean_image_difference

    real = read_digits(digits_source())
    images = physgan.load(SAVED / name, compile=False).sample(500, seed=0).images
    assert images.shape == (500, 8, 8) and images.min() >= 0 and images.max() <= 16.001
    # Uniform noise in 0..16 scores 0.89 here, the real digits' two interleaved halves 0.02.
    assert mean_image_difference(real.images, images)[0] < 0.3
    assert digit_class_score(images, real.images, real.labels)["diversity"] > 5


@pytest.mark.parametrize("name", ZDC)
def test_zdc_preset_follows_the_requested_properties(name):
    from physgan.data.zdc import PROPERTY_NAMES, bundled_sample_path, read_zdc

    held = INDEX[name]["held_out"]
    real = read_zdc(bundled_sample_path(), max_events=held["first_event"] + 200)[held["first_event"]:]
    generated = physgan.load(SAVED / name, compile=False).sample(len(real), condition=real.properties, seed=0)
    correlation = {name: np.corrcoef(real.properties[:, i], generated.properties[:, i])[0, 1]
                   for i, name in enumerate(PROPERTY_NAMES)}
    # Measured on the generated responses; shipped model: 0.88, 0.84, 0.96.
    assert correlation["centre_x"] > 0.7 and correlation["centre_y"] > 0.7 and correlation["sum"] > 0.8, correlation
