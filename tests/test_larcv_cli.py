"""The LArCV particle_generator flow as a user runs it: train.py with the
original's flags, samples every epoch, watch_results.py grids."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.test_cli import REPO_ROOT, run


def run_module(module, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def only_run_dir(root, prefix):
    (run_dir,) = root.glob(f"{prefix}-*")
    return run_dir


@pytest.mark.backend_free
def test_gan_flags_reach_the_model_and_samples_are_written_every_epoch(tmp_path):
    backend = keras.backend.backend()
    result = run("train.py", "--model", "larcv_gan", "--epochs", "2", "--steps-per-epoch", "3",
                 "--z-dim", "16", "--n-hidden", "32", "--n-layers", "2", "--g-opt", "sgd", "--d-lr", "3e-4",
                 "--sample-size", "10", "--backend", backend, "--out", tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path, "larcv_gan-digits")  # digits first: the default data set
    config = json.loads((run_dir / "config.json").read_text())["model_config"]
    assert (config["z_dim"], config["n_hidden"], config["n_layers"], config["g_opt"], config["d_lr"]) == (
        16, 32, 2, "sgd", 3e-4)
    assert (config["dataset"], config["image_shape"], config["image_scale"]) == ("digits", [8, 8], 16.0)
    samples = sorted(p.name for p in (run_dir / "samples").iterdir())
    assert samples == ["epoch_0001.npy", "epoch_0002.npy"]
    first = np.load(run_dir / "samples" / "epoch_0001.npy")
    assert first.shape == (10, 8, 8) and first.min() >= 0 and first.max() <= 16  # ink units
    watched = run("watch_results.py", run_dir, "--n", "200", "--backend", backend)
    assert watched.returncode == 0, watched.stderr
    pngs = {line.rsplit("/", 1)[-1] for line in watched.stdout.split() if line.endswith(".png")}
    assert pngs >= {"history.png", "examples.png", "observables.png", "samples_over_epochs.png"}
    out = tmp_path / "digits.npz"
    generated = run_module("physgan.generate", run_dir / "larcv_gan.keras", "--n", 50, "--out", out,
                    "--backend", backend)
    assert generated.returncode == 0, generated.stderr
    validated = run_module("physgan.data", "validate", out)
    assert "50 events, valid (digits)" in validated.stdout, validated.stdout + validated.stderr


@pytest.mark.backend_free
def test_autoencoder_trains_with_the_original_flags_and_deploys_codes(tmp_path):
    backend = keras.backend.backend()
    trained = run("train.py", "--model", "larcv_ae", "--epochs", "1", "--steps-per-epoch", "4", "--n-layers", "2",
                  "--l-dim", "6", "--ae-lr", "1e-3", "--backend", backend, "--out", tmp_path, "--quiet")
    assert trained.returncode == 0, trained.stderr
    ae_run = only_run_dir(tmp_path, "larcv_ae-digits")
    config = json.loads((ae_run / "config.json").read_text())["model_config"]
    assert (config["l_dim"], config["n_layers"], config["ae_lr"]) == (6, 2, 1e-3)
    assert np.load(ae_run / "samples" / "epoch_0001.npy").shape == (64, 8, 8)
    codes = tmp_path / "codes.npz"
    deployed = run_module("physgan.deploy", ae_run / "larcv_ae.keras", "--dataset", "digits", "--max-events", 300,
                          "--out", codes, "--backend", backend)
    assert deployed.returncode == 0, deployed.stderr
    with np.load(codes) as f:
        assert f["codes"].shape == (300, 6)
    again = run_module("physgan.deploy", ae_run / "larcv_ae.keras", "--dataset", "digits", "--out", codes,
                       "--backend", backend)
    assert again.returncode == 0  # overwriting is allowed; a model that is no autoencoder is refused:
    gan = run("train.py", "--model", "larcv_gan", "--epochs", "1", "--steps-per-epoch", "1", "--n-layers", "1",
              "--backend", backend, "--out", tmp_path / "gan", "--quiet")
    assert gan.returncode == 0, gan.stderr
    (gan_model,) = (tmp_path / "gan").glob("*/larcv_gan.keras")
    wrong = run_module("physgan.deploy", gan_model, "--dataset", "digits", "--out", tmp_path / "x.npz",
                       "--backend", backend)
    assert wrong.returncode == 2 and "not an autoencoder" in wrong.stderr


@pytest.mark.backend_free
def test_ewm_trains_on_digits_and_on_a_codes_file_with_its_flags(tmp_path):
    from sklearn.datasets import load_digits

    from physgan.data.codes import write_codes

    backend = keras.backend.backend()
    common = ["--epochs", "1", "--steps-per-epoch", "12", "--z-dim", "8", "--n-hidden", "32", "--mem-size", "4",
              "--psi-lr", "0.05", "--set", "max_ot_steps=4", "--set", "ot_batch_size=16", "--backend", backend,
              "--quiet"]
    trained = run("train.py", "--model", "ewm", *common, "--sample-size", "10", "--out", tmp_path / "digits")
    assert trained.returncode == 0, trained.stderr
    run_dir = only_run_dir(tmp_path / "digits", "ewm-digits")
    config = json.loads((run_dir / "config.json").read_text())["model_config"]
    assert (config["mem_size"], config["psi_lr"], config["z_dim"], config["image_shape"]) == (4, 0.05, 8, [8, 8])
    assert np.load(run_dir / "samples" / "epoch_0001.npy").shape == (10, 8, 8)
    watched = run("watch_results.py", run_dir, "--n", "200", "--backend", backend)
    assert watched.returncode == 0, watched.stderr
    pngs = {line.rsplit("/", 1)[-1] for line in watched.stdout.split() if line.endswith(".png")}
    assert pngs >= {"history.png", "examples.png", "observables.png"}

    # AE code vectors (here the digits' 6 leading principal components): the data set is the file's.
    flat = load_digits().images.reshape(-1, 64)
    centred = flat - flat.mean(0)
    codes = write_codes(tmp_path / "codes.npz", centred @ np.linalg.svd(centred, full_matrices=False)[2][:6].T,
                        code_dim=6)
    trained = run("train.py", "--model", "ewm", "--data", codes, *common, "--out", tmp_path / "codes")
    assert trained.returncode == 0, trained.stderr
    run_dir = only_run_dir(tmp_path / "codes", "ewm-codes")
    config = json.loads((run_dir / "config.json").read_text())["model_config"]
    assert (config["dataset"], config["target_shape"], config["generator"]) == ("codes", [6], "particle_generator")
