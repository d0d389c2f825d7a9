"""calo_flow: preprocessing that inverts exactly, energies right by construction, training
on real CaloGAN and ILD showers on every backend, saving and reloading, train.py."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from keras import ops

import physgan
from physgan.datasets import load_training_data
from physgan.errors import ConfigError
from tests.model_testing import REPO_ROOT, check_train_save_reload

TINY = dict(energy_width=16, energy_depth=1, cell_width=32, cell_depth=1, steps=2)


@pytest.fixture(scope="module")
def eplus(shared_data):
    return load_training_data("calogan", shared_data / "calogan_eplus.h5", max_events=256)


@pytest.fixture(scope="module")
def photons(shared_data):
    return load_training_data("ild", shared_data / "ild_photons.h5", max_events=16)


def adapted(data, **options):
    model = physgan.get_model("calo_flow", dataset=data.dataset, energy_range=data.model_options["energy_range"],
                              seed=0, **{**TINY, **options})
    model.adapt(data.inputs)
    return model


@pytest.mark.backend_free
@pytest.mark.parametrize("layout", ["calogan", "ild"])
def test_stage_one_features_give_back_the_layer_energies(layout, eplus, photons):
    data = eplus if layout == "calogan" else photons
    model = adapted(data)
    n = len(data.inputs["energy"])
    jitter = np.random.default_rng(0).uniform(0, 1, (n, model.layout.n_cells)).astype("float32")
    features, cell_features = (ops.convert_to_numpy(f) for f in model._features(data.inputs, jitter))
    cells = np.concatenate([data.inputs[k].reshape(n, -1) for k in model.layout.cell_keys], axis=1)
    cells = cells.astype("float64") * model.layout.to_mev
    lit = cells >= model.threshold_mev
    expected = np.where(lit, cells, 0.0) @ model.layout.membership()
    got = model._layer_energies(features, data.inputs["energy"][:, 0].astype("float64"))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
    # Empty cells are parked below the gap, lit ones above it (at least logit(alpha)).
    assert np.all(cell_features[~lit] <= model.empty_level - 0.5 * model.empty_gap + 1e-3)
    assert np.all(cell_features[lit] >= model.empty_level + 0.5 * model.empty_gap - 1e-3)


@pytest.mark.backend_free
def test_the_per_dimension_pathway_sees_only_its_own_cell_and_the_context():
    from physgan.layers import ElementwiseMLP

    layer = ElementwiseMLP(4)
    rng = np.random.default_rng(0)
    x, context = rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(3, 2)).astype("float32")
    layer([x, context])
    layer.w2.assign(rng.normal(size=(5, 4)).astype("float32"))
    moved = x.copy()
    moved[:, 2] += 1.0
    before, after = (ops.convert_to_numpy(layer([v, context])) for v in (x, moved))
    np.testing.assert_allclose(np.delete(after, 2, axis=1), np.delete(before, 2, axis=1), rtol=1e-6)
    assert np.all(np.abs(after[:, 2] - before[:, 2]) > 1e-4)
    assert ElementwiseMLP.from_config(layer.get_config()).hidden == 4


@pytest.mark.backend_free
def test_an_untrained_flow_draws_the_data_response_and_fills_each_layer_with_its_energy(eplus):
    # The velocity's last layer starts at zero, so an untrained flow maps N(0, 1) to itself:
    # the stage-1 features then follow N(mean, std) of the data's, and log(E_tot / E) the
    # data's mean. Every generated layer holds its stage-1 energy, cells below threshold_mev dropped.
    model = adapted(eplus)
    energies = eplus.inputs["energy"][:, 0]
    response = eplus.reference.total_energy / (energies * 1000.0)
    showers = model.sample(len(energies), condition=energies, seed=1)
    generated = showers.total_energy / (energies * 1000.0)
    assert np.median(generated) == pytest.approx(np.exp(np.log(response).mean()), rel=0.01)
    assert all(np.all((layer == 0) | (layer >= model.threshold_mev)) for layer in showers.layers)
    assert [layer.shape[1:] for layer in showers.layers] == [(3, 96), (12, 12), (12, 6)]


SYMMETRIES = {"none": lambda x: x, "y": lambda x: x[::-1], "x": lambda x: x[:, ::-1],
              "both": lambda x: x[::-1, ::-1]}


@pytest.mark.backend_free
def test_reflect_mirrors_every_layer_of_a_shower_alike(eplus):
    # The CaloGAN showers are centred on the beam (their mean centroids are the grids' centres
    # to 0.01 cells), so mirroring a shower across it in y or x gives another shower.
    model = adapted(eplus, reflect=True)
    reflected = {key: ops.convert_to_numpy(value) for key, value in model._reflected(eplus.inputs).items()}
    np.testing.assert_array_equal(reflected["energy"], eplus.inputs["energy"])
    seen = []
    for i in range(len(eplus.inputs["energy"])):
        kinds = [{name for name, mirror in SYMMETRIES.items()
                  if np.array_equal(mirror(eplus.inputs[key][i, ..., 0]), reflected[key][i, ..., 0])}
                 for key in model.layout.cell_keys]
        common = set.intersection(*kinds)
        assert common, f"shower {i}: its layers are not mirrored alike"
        seen.append(min(common))
    assert set(seen) == set(SYMMETRIES)  # each with probability 1/4
    assert physgan.get_model("calo_flow", **TINY).get_config()["reflect"] is False


@pytest.mark.backend_free
@pytest.mark.parametrize("options, message", [
    (dict(dataset="mpd_tpc"), "calogan and ild layouts"),
    (dict(particles=["eplus", "gamma"]), "one particle per model"),
    (dict(steps=0), "steps"),
    (dict(solver="rk45"), "solver must be one of euler, midpoint"),
    (dict(threshold_mev=0.0), "threshold_mev"),
    (dict(empty_gap=-1), "empty_gap"),
])
def test_bad_options_are_refused_in_one_line(options, message):
    with pytest.raises(ConfigError, match=message):
        physgan.get_model("calo_flow", **options)


def test_trains_on_real_calogan_showers_and_reloads_under_another_backend(eplus, tmp_path):
    model = adapted(eplus)
    model.compile()
    history = check_train_save_reload(model, eplus.inputs, tmp_path, batch_size=32,
                                      condition=np.array([1.5, 10.0, 50.0, 99.0]), n_samples=4,
                                      all_backends=False, rtol=1e-3, atol=1e-4)
    assert set(history.history) >= {"energy_flow_loss", "cell_flow_loss"}
    euler = model.sample(4, condition=20.0, seed=3, steps=3, solver="euler")
    assert np.all(np.isfinite(euler.total_energy))


def test_ild_layout_trains_per_layer_and_reloads_under_another_backend(photons, tmp_path):
    model = adapted(photons)
    assert model.cell_flow.inputs[0].shape[1] == 900  # one 30 x 30 layer at a time
    model.compile()
    check_train_save_reload(model, photons.inputs, tmp_path, batch_size=4, condition=np.array([15.0, 80.0]),
                            n_samples=2, all_backends=False, rtol=1e-3, atol=1e-4)
    showers = model.sample(2, condition=50.0, seed=0)
    assert showers.layers.shape == (2, 30, 30, 30)


@pytest.mark.backend_free
def test_train_py_trains_the_ild_layout_and_generates_a_file(tmp_path):
    from physgan.data.ild import read_ild

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    options = ["--set", "cell_width=16", "--set", "cell_depth=1", "--set", "energy_width=8", "--set", "steps=2"]
    train = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), "--model", "calo_flow", "--dataset", "ild", "--backend", "jax",
         "--max-events", "16", "--batch-size", "8", "--epochs", "1", "--sample-size", "0", "--out", str(tmp_path),
         "--quiet",
         *options],
        capture_output=True, text=True, env=env, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_config"]["dataset"] == "ild" and config["model_config"]["particles"] == ["gamma"]
    out = tmp_path / "showers.h5"
    generate = subprocess.run(
        [sys.executable, "-m", "physgan.generate", str(run_dir / "calo_flow.keras"), "--n", "3", "--energy", "20:30",
         "--steps", "1", "--solver", "euler", "--out", str(out), "--backend", "jax"],
        capture_output=True, text=True, env=env, timeout=600)
    assert generate.returncode == 0, generate.stderr[-3000:]
    showers = read_ild(out)
    assert showers.layers.shape == (3, 30, 30, 30) and np.all(showers.total_energy > 0)
    shipped = tmp_path / "shipped" / "calo_flow_ild.keras"
    export = subprocess.run([sys.executable, "-m", "physgan.export", str(run_dir), "--out", str(shipped),
                             "--sample-steps", "1", "--backend", "jax"], capture_output=True, text=True, env=env, timeout=600)
    assert export.returncode == 0, export.stderr[-3000:]
    assert json.loads((shipped.parent / "index.json").read_text())[shipped.name]["model_config"]["steps"] == 1


@pytest.mark.backend_free
def test_a_new_run_takes_from_its_data_only_the_options_its_model_has(eplus):
    from physgan.registry import get_entry
    from physgan.runner import data_model_options

    flow = data_model_options(get_entry("calo_flow"), "calogan", eplus, 3)
    assert flow == {"seed": 3, "dataset": "calogan", "particles": ["eplus"],
                    "energy_range": eplus.model_options["energy_range"]}
    calogan = data_model_options(get_entry("calogan"), "calogan", eplus, 3)
    assert "energy_quantiles" in calogan and "dataset" not in calogan
