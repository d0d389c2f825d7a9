"""The trained models shipped in saved_models/ load on this backend and generate physics."""

import json

import numpy as np
import pytest

import physgan
from physgan.datasets import file_sha256
from tests.conftest import REPO_ROOT

SAVED = REPO_ROOT / "saved_models"
INDEX = json.loads((SAVED / "index.json").read_text())


@pytest.mark.parametrize("name", sorted(INDEX))
def test_saved_model_matches_its_index_entry_and_generates(name):
    entry = INDEX[name]
    path = SAVED / name
    assert path.stat().st_size == entry["bytes"] and file_sha256(path) == entry["sha256"]
    assert path.stat().st_size <= 60e6
    model = physgan.load(path, compile=False)
    assert model.get_config()["generator_quantization"] == entry["generator_quantization"]
    showers = model.sample(256, condition=np.full(256, 50.0), seed=0)
    assert [layer.shape for layer in showers.layers] == [(256, 3, 96), (256, 12, 12), (256, 12, 6)]
    assert all(np.all(layer >= 0) for layer in showers.layers)
    # A trained model deposits about the requested energy; an untrained one does not.
    response = np.median(showers.total_energy / 1000.0 / showers.incident_energy)
    assert 0.8 < response < 1.2, response
    fractions = np.median(showers.layer_energies / showers.total_energy[:, None], axis=0)
    assert 0.05 < fractions[0] < 0.5 and fractions[1] > 0.5 and fractions[2] < 0.05, fractions
