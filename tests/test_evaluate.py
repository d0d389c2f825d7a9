"""The evaluation suite, bounded from both sides on real Geant4 showers."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from physgan.data.calogan import CaloShowers, read_calogan, write_calogan
from physgan.data.digits import DigitImages, read_digits
from physgan.data.images import digits_source
from physgan.data.mpd import TPCEvents, read_digits_csv
from physgan.data.zdc import PROPERTY_NAMES, ZdcData, read_zdc
from physgan.data.zdc import bundled_sample_path as zdc_sample
from physgan.errors import ConfigError
from physgan.evaluate import evaluate
from physgan.metrics.calo import OBSERVABLES, shower_observables
from physgan.metrics.distances import frechet_physics_distance, kernel_physics_distance, separation_power
from physgan.watch import shipped_models
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


@pytest.fixture(scope="module")
def halves(shared_data):
    showers = read_calogan(shared_data / "calogan_eplus.h5", max_events=4000)
    return showers[:2000], showers[2000:]


def test_single_cell_shower_has_known_observables():
    layers = [np.zeros((1, 3, 96)), np.zeros((1, 12, 12)), np.zeros((1, 12, 6))]
    layers[1][0, 5, 6] = 3000.0  # MeV in the cell at y = -20 mm, x = +20 mm
    layers[2][0, 0, 0] = 1000.0
    obs = shower_observables(CaloShowers(np.array([5.0]), layers))
    assert obs["total_energy"][0] == pytest.approx(4.0)
    assert obs["energy_response"][0] == pytest.approx(0.8)
    assert obs["centre_x_layer_1"][0] == pytest.approx(20.0)
    assert obs["centre_y_layer_1"][0] == pytest.approx(-20.0)
    assert obs["width_x_layer_1"][0] == pytest.approx(0.0)
    assert obs["centre_x_layer_2"][0] == pytest.approx(-200.0)
    assert obs["shower_depth"][0] == pytest.approx(1.25)  # (1 * 3 + 2 * 1) / 4
    assert obs["depth_weighted_width"][0] == pytest.approx(np.sqrt(0.1875))
    assert obs["sparsity_layer_1"][0] == pytest.approx(1 / 144)
    assert obs["energy_layer_0"][0] == 0 and obs["centre_x_layer_0"][0] == 0  # empty layer
    assert set(obs) == set(OBSERVABLES)


def test_separation_power_and_distances_bound_both_ways():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3000, 4)), rng.normal(size=(3000, 4))
    bins = np.linspace(-4, 4, 41)
    assert separation_power(a[:, 0], a[:, 0], bins) == 0.0
    assert separation_power(np.full(10, -1.0), np.full(10, 1.0), bins) == pytest.approx(1.0)
    same_fpd, fpd_error = frechet_physics_distance(a, b)
    far_fpd, _ = frechet_physics_distance(a, b + 1.0)
    assert abs(same_fpd) < 5 * fpd_error + 0.01 and far_fpd == pytest.approx(4.0, rel=0.1)
    same_kpd, kpd_error = kernel_physics_distance(a, b)
    far_kpd, _ = kernel_physics_distance(a, b + 1.0)
    assert abs(same_kpd) < 5 * kpd_error + 0.01 and far_kpd > 1.0


def test_geant4_halves_are_indistinguishable(halves):
    metrics = evaluate(halves[1], halves[0], seed=0)
    for level in ("low_level", "high_level"):
        assert abs(metrics[f"classifier_{level}"]["auc"] - 0.5) < 0.07, metrics[f"classifier_{level}"]
    assert max(metrics["separation_power"].values()) < 0.03
    assert metrics["fpd"] < 5 * metrics["fpd_error"] + 0.05


def test_distorted_showers_are_caught(halves):
    reference, other = halves
    scaled = CaloShowers(other.incident_energy, [layer * 1.1 for layer in other.layers], other.overflow)
    metrics = evaluate(scaled, reference, classifier=True, seed=0)
    assert metrics["classifier_high_level"]["auc"] > 0.9
    assert metrics["separation_power"]["energy_response"] > 0.5
    shifted_layer = np.roll(other.layers[1], 1, axis=2)  # layer 1 moved by one cell (40 mm) in x
    shifted = CaloShowers(other.incident_energy, [other.layers[0], shifted_layer, other.layers[2]])
    metrics = evaluate(shifted, reference, classifier=False, seed=0)
    assert metrics["separation_power"]["centre_x_layer_1"] > 0.5
    assert metrics["separation_power"]["centre_x_layer_0"] < 0.03


def test_mpd_real_halves_pass_and_distorted_responses_are_caught(shared_data):
    events = read_digits_csv(shared_data / "real/physgan/digits_unparameterized.csv")
    train, held_out = events[:1500], events[-1500:]
    metrics = evaluate(train, held_out, seed=0)
    assert abs(metrics["classifier_low_level"]["auc"] - 0.5) < 0.07, metrics["classifier_low_level"]
    assert max(metrics["separation_power"].values()) < 0.04, metrics["separation_power"]
    assert metrics["extra"]["mean_response_l1"] < 0.1, metrics["extra"]
    louder = TPCEvents(train.amplitudes * 1.3)
    metrics = evaluate(louder, held_out, classifier=False, seed=0)
    assert metrics["separation_power"]["amplitude_sum"] > 0.1
    assert 0.12 < metrics["extra"]["mean_response_l1"] < 0.45, metrics["extra"]  # 30 % louder, up to sampling
    later = TPCEvents(np.roll(train.amplitudes, 1, axis=2))  # one time bin later
    metrics = evaluate(later, held_out, classifier=False, seed=0)
    assert metrics["separation_power"]["time_mean"] > 0.5 and metrics["separation_power"]["pad_mean"] < 0.04
    assert metrics["extra"]["mean_response_l1"] > 0.5


def test_zdc_real_halves_pass_and_distorted_responses_are_caught():
    events = read_zdc(zdc_sample(), max_events=3000)
    train, held_out = events[:1500], events[1500:]
    metrics = evaluate(train, held_out, seed=0)
    assert list(metrics["separation_power"]) == list(PROPERTY_NAMES)
    assert abs(metrics["classifier_low_level"]["auc"] - 0.5) < 0.07, metrics["classifier_low_level"]
    assert max(metrics["separation_power"].values()) < 0.04, metrics["separation_power"]
    assert metrics["extra"]["mean_response_l1"] < 0.1, metrics["extra"]
    brighter = ZdcData(np.round(train.images * 1.3), train.properties)  # the requested properties are ignored
    metrics = evaluate(brighter, held_out, classifier=False, seed=0)
    assert metrics["separation_power"]["sum"] > 0.1 and metrics["separation_power"]["centre_x"] < 0.04
    assert metrics["extra"]["mean_response_l1"] > 0.2, metrics["extra"]
    moved = ZdcData(np.roll(train.images, 3, axis=2))  # 3 pixels to the right
    metrics = evaluate(moved, held_out, classifier=False, seed=0)
    assert metrics["separation_power"]["centre_x"] > 0.1 and metrics["separation_power"]["centre_y"] < 0.04


@pytest.mark.parametrize("module", ["physgan.metrics.zdc", "physgan.metrics.images", "physgan.metrics.mpd"])
def test_a_suite_module_imports_first(module):
    # The format modules build their evaluation suites from these: no import cycle either way.
    result = _command("-c", f"import {module}")
    assert result.returncode == 0, result.stderr[-2000:]


def test_digit_halves_pass_and_distorted_digits_are_caught():
    digits = read_digits(digits_source())
    assert len(digits) == 1797 and digits.labels is not None
    train, held_out = digits[0::2], digits[1::2]  # interleaved: the file is ordered by writer
    metrics = evaluate(train, held_out, classifier=False, seed=0)
    assert max(metrics["separation_power"].values()) < 0.06, metrics["separation_power"]
    extra = metrics["extra"]
    assert extra["mean_image_l1"] < 0.06 and extra["digit_confidence"] > 0.8 and extra["digit_diversity"] > 9.5, extra
    moved = DigitImages(np.roll(train.images, 1, axis=2))  # one pixel to the right
    metrics = evaluate(moved, held_out, classifier=False, seed=0)
    assert metrics["separation_power"]["x_mean"] > 0.3 and metrics["separation_power"]["y_mean"] < 0.06
    assert metrics["extra"]["mean_image_l1"] > 0.3
    noise = DigitImages(np.random.default_rng(0).uniform(0, 16, train.images.shape).astype("float32"))
    metrics = evaluate(noise, held_out, classifier=False, seed=0)
    assert metrics["extra"]["digit_confidence"] < 0.6 and metrics["separation_power"]["n_hit"] > 0.5


def test_cli_prints_a_table_and_writes_metrics_and_figures(halves, tmp_path):
    generated = write_calogan(tmp_path / "a.h5", halves[0][:500])
    reference = write_calogan(tmp_path / "b.h5", halves[1][:500])
    out = tmp_path / "eval"
    result = subprocess.run(
        [sys.executable, "-m", "physgan.evaluate", str(generated), str(reference), "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "separation power" in result.stdout and "AUC" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_generated"] == metrics["n_reference"] == 500
    assert 0.0 <= metrics["classifier_low_level"]["auc"] <= 1.0
    for name in ("average_showers", "observables_energies", "observables_shapes", "observables_positions"):
        assert (out / f"{name}.png").stat().st_size > 20_000


def test_cli_names_a_missing_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "physgan.evaluate", str(tmp_path / "none.h5"), str(tmp_path / "ref.h5")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 2 and "none.h5" in result.stderr and "Traceback" not in result.stderr


def _command(*args, timeout=600):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


@pytest.mark.backend_free  # train.py, export and evaluate as commands: the plumbing, once
def test_a_run_is_evaluated_on_the_events_it_held_out(shared_data, tmp_path):
    data = shared_data / "calogan_eplus.h5"
    train = _command("train.py", "--model", "calogan", "--data", data, "--holdout", 40, "--max-events", 64,
                     "--epochs", 1, "--batch-size", 16, "--steps-per-epoch", 1, "--set", "latent_size=8",
                     "--out", tmp_path, "--quiet")
    assert train.returncode == 0, train.stderr[-3000:]
    run_dir = next(tmp_path.glob("calogan-*"))
    config = json.loads((run_dir / "config.json").read_text())
    total = len(read_calogan(data).incident_energy)
    assert config["holdout"] == {"first_event": total - 40, "events": 40, "of": total}
    assert config["n_events"] == 64  # the first 64, far from the held-out tail

    result = _command("-m", "physgan.evaluate", "--run", run_dir, "--no-classifier", "--out", tmp_path / "eval")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "40 held-out events" in result.stdout and "separation power" in result.stdout
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_reference"] == metrics["n_generated"] == 40

    shipped = tmp_path / "shipped" / "calogan_eplus.keras"
    exported = _command("-m", "physgan.export", run_dir, "--out", shipped, "--metrics", tmp_path / "eval" / "metrics.json")
    assert exported.returncode == 0, exported.stderr[-3000:]
    entry = json.loads((shipped.parent / "index.json").read_text())[shipped.name]
    assert entry["held_out"] == config["holdout"] and entry["dataset"] == "calogan"
    assert entry["metrics"]["separation_power"] == metrics["separation_power"]
    assert len(entry["figures"]) == len(metrics["figures"]) > 0
    assert all((shipped.parent / f).is_file() and f.startswith("figures/calogan_eplus_") for f in entry["figures"])
    [(description, figures)] = shipped_models(shipped.parent, "calogan_eplus")
    assert f"the 40 held-out events ({total - 40}..{total - 1})" in description
    assert f"energy_response {metrics['separation_power']['energy_response']:.3f}" in description
    assert figures == [shipped.parent / f for f in entry["figures"]]
    with pytest.raises(ConfigError, match="there are: calogan_eplus.keras"):
        shipped_models(shipped.parent, "calogan_pion")
    again = _command("-m", "physgan.evaluate", "--model", shipped, "--data", data, "--no-classifier",
                     "--out", tmp_path / "eval_shipped")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "40 held-out events" in again.stdout
    assert json.loads((tmp_path / "eval_shipped" / "metrics.json").read_text())["n_reference"] == 40
    wrong = _command("-m", "physgan.evaluate", "--model", shipped, "--data", shared_data / "calogan_gamma.h5")
    assert wrong.returncode == 2 and "SHA-256 differs" in wrong.stderr
    not_a_flow = _command("-m", "physgan.export", run_dir, "--out", tmp_path / "x.keras", "--sample-steps", 4)
    assert not_a_flow.returncode == 2
    assert "--sample-steps applies to flow models (calo_flow), not 'calogan'" in not_a_flow.stderr



@pytest.mark.backend_free
def test_held_out_evaluation_refuses_what_it_cannot_do(shared_data, tmp_path):
    data = shared_data / "calogan_eplus.h5"
    total = len(read_calogan(data).incident_energy)
    no_split = _command("-m", "physgan.evaluate", "--run", tmp_path)
    assert no_split.returncode == 2 and "no config.json" in no_split.stderr
    (tmp_path / "config.json").write_text(json.dumps({"model": "calogan", "dataset": "calogan", "holdout": None}))
    unsplit = _command("-m", "physgan.evaluate", "--run", tmp_path)
    assert unsplit.returncode == 2 and "train it with --holdout N" in unsplit.stderr
    too_many = _command("train.py", "--model", "calogan", "--data", data, "--holdout", total, "--out", tmp_path)
    assert too_many.returncode == 2 and f"has {total} events" in too_many.stderr
    no_file = _command("train.py", "--model", "calogan", "--holdout", 10, "--out", tmp_path)
    assert no_file.returncode == 2 and "give it with --data FILE" in no_file.stderr


def test_a_shipped_model_finds_its_shared_data_file_not_the_bundled_sample_of_that_name(shared_data, monkeypatch):
    from physgan.evaluate import shipped_entry

    monkeypatch.setenv("PHYSGAN_SHARED_DATA", str(shared_data))
    _, entry, data = shipped_entry(REPO_ROOT / "saved_models" / "calo_flow_eplus.keras")
    assert data == shared_data / "calogan_eplus.h5" and entry["data"]["n_events"] == 5238
