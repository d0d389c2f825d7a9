"""train.py and watch_results.py as a user runs them."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def run(script, *args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / script), *map(str, args)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
    )


def history_rows(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.backend_free
def test_list_prints_models_and_data_sets():
    result = run("train.py", "--list")
    assert result.returncode == 0, result.stderr
    assert "mpd_wgan" in result.stdout and "mpd_tpc" in result.stdout
    presets = result.stdout.split("trained presets")[1]
    assert re.search(r"calogan_eplus +calogan +calogan_eplus.h5 +AUC low", presets), presets
    assert re.search(r"mpd_wgan_tpc +mpd_wgan +digits_unparameterized.csv +AUC low", presets), presets


@pytest.mark.backend_free
def test_summary_prints_parameter_counts():
    result = run("train.py", "--model", "mpd_wgan", "--summary")
    assert result.returncode == 0, result.stderr
    assert "43,177" in result.stdout


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--model", "mpd_wgan", "--data", "missing.csv"], "missing.csv"),
        (["--model", "mpd_wgan", "--dataset", "calogan"], "trains on mpd_tpc"),
        (["--model", "mpd_wgan", "--lr-schedule", "cosine"], "--lr-schedule 'cosine': give exp:FACTOR"),
        (["--model", "mpd_wgan", "--early-stopping", "val_loss"], "--early-stopping 'val_loss': the model logs"),
        (["--model", "mpd_wgan", "--reduce-lr-on-plateau", "critic_loss:2:1.5"], "must be below 1"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message, tmp_path):
    result = run("train.py", *args, "--out", tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # no run directory is left behind


def test_train_watch_and_resume_on_the_bundled_sample(tmp_path):
    backend = keras.backend.backend()
    config = tmp_path / "flags.yaml"
    config.write_text("batch_size: 64\nmax_events: 128\n")
    result = run("train.py", "--model", "mpd_wgan_param", "--backend", backend, "--epochs", 2,
                 "--config", config, "--seed", 0, "--keep-every", 3, "--out", tmp_path / "runs", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    for name in ("config.json", "history.csv", "checkpoints/last-0002.keras", "mpd_wgan_param.keras"):
        assert (run_dir / name).exists(), name
    assert len(history_rows(run_dir)) == 2

    watched = run("watch_results.py", run_dir, "--n", 200, "--backend", backend)
    assert watched.returncode == 0, watched.stderr[-3000:]
    pngs = [Path(line) for line in watched.stdout.split() if line.endswith(".png")]
    assert {p.name for p in pngs} >= {"history.png", "observables.png", "examples.png"}
    assert all(p.stat().st_size > 10_000 for p in pngs)

    resumed = run("train.py", "--resume", run_dir, "--epochs", 3, "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [row["epoch"] for row in history_rows(run_dir)] == ["0", "1", "2"]
    assert (run_dir / "checkpoints" / "epoch-0003.keras").exists()  # --keep-every 3 survives --resume

    state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    assert state["epochs_done"] == 3 and config["train_seconds"] == state["train_seconds"] > 0
    exported = run("physgan/export.py", run_dir, "--out", tmp_path / "shipped" / "tpc.keras", "--backend", backend)
    assert exported.returncode == 0, exported.stderr[-3000:]
    entry = json.loads((tmp_path / "shipped" / "index.json").read_text())["tpc.keras"]
    assert entry["epochs"] == 3 and entry["train_seconds"] == state["train_seconds"]
    assert entry["held_out"] is None and entry["init_from"] is None and entry["data"]["n_events"] == 128


def test_run_control_flags_decay_the_learning_rates_and_may_stop_the_run(tmp_path):
    result = run("train.py", "--model", "mpd_wgan", "--backend", keras.backend.backend(), "--epochs", 3,
                 "--max-events", 128, "--batch-size", 64, "--lr-schedule", "step:1:0.5",
                 "--early-stopping", "generator_loss:1", "--out", tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    rows = history_rows(run_dir)
    # MPD's own x0.995 per epoch, then x0.5 after the first epoch.
    assert float(rows[0]["learning_rate_critic"]) == pytest.approx(3e-4)
    assert float(rows[1]["learning_rate_generator"]) == pytest.approx(3e-4 * 0.995 * 0.5)
    assert json.loads((run_dir / "config.json").read_text())["epochs_done"] == len(rows) >= 2


@pytest.mark.backend_free
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_jax_or_torch_run_prints_no_tensorflow_log_line(backend, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}  # as on a fresh shell
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), "--model", "mpd_wgan", "--backend", backend, "--epochs", "1",
         "--max-events", "128", "--batch-size", "64", "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO_ROOT)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not re.search(r"oneDNN|absl|tensorflow|^[IWEF]\d{4} ", result.stderr, re.M | re.I), result.stderr[-3000:]


@pytest.mark.backend_free
def test_watch_results_without_runs_says_so(tmp_path):
    result = run("watch_results.py", "--runs", tmp_path / "none")
    assert result.returncode == 2
    assert "no training run found" in result.stderr


@pytest.mark.backend_free
def test_watch_results_summarises_the_shipped_models():
    index = json.loads((REPO_ROOT / "saved_models" / "index.json").read_text())
    result = run("watch_results.py", "--shipped", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, entry in index.items():
        assert f"{name}: {entry['model']} on {entry['data']['file']}" in result.stdout
        assert "separation power energy_response" in result.stdout
        assert all(f"saved_models/{f}" in result.stdout for f in entry.get("figures", []))


def test_calogan_trains_on_the_bundled_sample_generates_and_is_watched(tmp_path):
    # The light Conv2D variant keeps this end-to-end test under a minute on JAX;
    # the paper's LocallyConnected2D model trains per backend in test_calogan.py.
    from physgan.data.calogan import read_calogan, validate_calogan_file

    backend = keras.backend.backend()
    result = run("train.py", "--model", "calogan", "--particle", "gamma", "--backend", backend,
                 "--latent-size", 8, "--variant", "conv", "--batch-size", 16, "--max-events", 24, "--epochs", 1,
                 "--steps-per-epoch", 2, "--seed", 0, "--out", tmp_path / "runs", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("calogan-gamma-")
    assert "calogan_gamma.h5" in (run_dir / "config.json").read_text()  # the bundled photon sample
    import physgan

    trained = physgan.load(run_dir / "calogan.keras")
    # 2 steps of 16 from 24 events: the data repeats rather than ending the epoch after one step.
    assert int(trained.discriminator_optimizer.iterations) == 4

    out = tmp_path / "showers.h5"
    generated = subprocess.run(
        [sys.executable, "-m", "physgan.generate", *map(str, [run_dir / "calogan.keras", "--n", 100,
         "--energy", "10:20", "--chunk-size", 64, "--batch-size", 32, "--out", out, "--backend", backend])],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=600,
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    assert validate_calogan_file(out) == 100
    showers = read_calogan(out)
    assert showers.incident_energy.min() >= 10 and showers.incident_energy.max() <= 20

    watched = run("watch_results.py", run_dir, "--n", 64, "--backend", backend)
    assert watched.returncode == 0, watched.stderr[-3000:]
    pngs = [Path(line) for line in watched.stdout.split() if line.endswith(".png")]
    assert "history.png" in {p.name for p in pngs} and len(pngs) >= 3
    assert all(p.stat().st_size > 10_000 for p in pngs)


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "calogan", "--particle", "muon"], "unknown particle 'muon'"),
        (["--model", "calogan", "--data", "nowhere.h5"], "nowhere.h5 does not exist"),
    ],
)
def test_calogan_bad_input_gives_one_clear_line(args, message, tmp_path):
    result = run("train.py", *args, "--out", tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_ild_model_streams_the_bundled_sample_generates_evaluates_and_is_watched(tmp_path):
    from physgan.data.ild import bundled_sample_path, read_ild

    backend = keras.backend.backend()
    result = run("train.py", "--model", "ild_wgan", "--backend", backend, "--stream", "--batch-size", 8,
                 "--max-events", 32, "--epochs", 1, "--steps-per-epoch", 2, "--set", "ngf=2", "--set", "ndf=2",
                 "--set", "critic_steps=2", "--seed", 0, "--out", tmp_path / "runs", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "ild_photons.h5" in (run_dir / "config.json").read_text()  # the bundled sample

    out = tmp_path / "showers.h5"
    generated = subprocess.run(
        [sys.executable, "-m", "physgan.generate", *map(str, [run_dir / "ild_wgan.keras", "--n", 24,
         "--energy", "20:30", "--chunk-size", 16, "--out", out, "--backend", backend])],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=600,
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    showers = read_ild(out)
    assert showers.layers.shape == (24, 30, 30, 30)
    assert showers.incident_energy.min() >= 20 and showers.incident_energy.max() <= 30

    evaluated = subprocess.run(
        [sys.executable, "-m", "physgan.evaluate", str(out), str(bundled_sample_path()),
         "--max-events", "24", "--no-classifier", "--out", str(tmp_path / "eval")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=600,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "n_hits" in evaluated.stdout and (tmp_path / "eval" / "ild_profiles.png").exists()

    watched = run("watch_results.py", run_dir, "--n", 16, "--backend", backend)
    assert watched.returncode == 0, watched.stderr[-3000:]
    pngs = {Path(line).name for line in watched.stdout.split() if line.endswith(".png")}
    assert pngs >= {"history.png", "ild_observables.png", "ild_profiles.png", "ild_average_showers.png"}


@pytest.mark.backend_free
def test_corrvae_trains_on_the_bundled_zdc_sample_and_is_watched(tmp_path):
    backend = keras.backend.backend()
    result = run("train.py", "--model", "corrvae", "--backend", backend, "--batch-size", 32, "--max-events", 128,
                 "--epochs", 1, "--seed", 0, "--out", tmp_path / "runs", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "corrvae.keras").exists()
    watched = run("watch_results.py", run_dir, "--n", 32, "--backend", backend)
    assert watched.returncode == 0, watched.stderr[-3000:]
    pngs = {Path(line).name for line in watched.stdout.split() if line.endswith(".png")}
    assert pngs >= {"history.png", "properties.png", "property_control.png", "reconstructions.png",
                    "generation_x10_y30.png", "traversal.png"}
