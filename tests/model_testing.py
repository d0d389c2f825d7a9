"""One helper every zoo model's test calls: train a few steps, save, reload
under the other backends in fresh processes, and compare generated samples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

from physgan.artifacts import save_model

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")

# Tiny configurations of every model family, on real data (bundled samples and the
# shared files), as train.py flags. larcv_gan trains with SGD: Adam's steps hardly
# depend on the gradients' scale, SGD's are proportional to it, so a gradient summed
# instead of averaged over the devices would show.
TINY_FLAGS = {
    "calogan": ["--particle", "eplus", "--latent-size", "8", "--batch-size", "8", "--max-events", "32"],
    "calo_flow": ["--particle", "eplus", "--set", "energy_width=16", "--set", "energy_depth=1",
                  "--set", "cell_width=32", "--set", "cell_depth=1", "--batch-size", "8", "--max-events", "32"],
    "mpd_wgan": ["--batch-size", "16", "--max-events", "64"],
    "mpd_wgan_param": ["--batch-size", "16", "--max-events", "64"],
    "ild_gan": ["--set", "ngf=2", "--set", "ndf=2", "--batch-size", "4", "--max-events", "16"],
    "ild_wgan": ["--set", "ngf=2", "--set", "ndf=2", "--set", "critic_steps=2", "--batch-size", "8",
                 "--max-events", "16"],
    "bibae": ["--set", "ngf=2", "--set", "ndf=4", "--set", "post_processor_ndf=4", "--set", "hidden=32",
              "--set", "latent_dim=16", "--set", "n_encoded=4", "--set", "critic_steps=2", "--batch-size", "4",
              "--max-events", "16"],
    "corrvae": ["--batch-size", "16", "--max-events", "64"],
    "larcv_gan": ["--z-dim", "16", "--n-hidden", "32", "--n-layers", "2", "--g-opt", "sgd", "--d-opt", "sgd",
                  "--g-lr", "0.05", "--d-lr", "0.05", "--batch-size", "16", "--max-events", "64"],
    "larcv_ae": ["--n-layers", "2", "--l-dim", "8", "--batch-size", "16", "--max-events", "64"],
    "ewm": ["--z-dim", "8", "--n-hidden", "32", "--mem-size", "2", "--set", "max_ot_steps=2",
            "--set", "ot_batch_size=16", "--batch-size", "16", "--max-events", "64"],
}

_RELOAD_SCRIPT = """
import sys, numpy as np, physgan
from tests.model_testing import sample_as_array
model = physgan.load(sys.argv[1])
condition = np.load(sys.argv[2]) if sys.argv[2] != "none" else None
out = model.sample(int(sys.argv[3]), condition=condition, seed=0)
np.save(sys.argv[4], sample_as_array(out))
"""


def sample_as_array(out) -> np.ndarray:
    """Returns a model's sample as one array (calorimeter layers flattened side by side)."""
    if hasattr(out, "amplitudes"):  # TPCEvents
        return out.amplitudes
    if hasattr(out, "images"):  # ZdcData
        return out.images
    if hasattr(out, "codes"):  # CodeVectors
        return out.codes
    if hasattr(out, "layers"):
        return np.concatenate([layer.reshape(len(layer), -1) for layer in out.layers], axis=1)
    return np.asarray(out)


def other_backends(all_of_them: bool = True) -> list[str]:
    """Returns the backends other than the current one (or just the next one)."""
    current = keras.backend.backend()
    others = [b for b in BACKENDS if b != current]
    if all_of_them:
        return others
    return [BACKENDS[(BACKENDS.index(current) + 1) % len(BACKENDS)]]


def sample_in_subprocess(path: Path, backend: str, n: int, condition, tmp_path: Path) -> np.ndarray:
    """Returns `physgan.load(path).sample(n, condition, seed=0)` run under `backend`."""
    condition_path = "none"
    if condition is not None:
        condition_path = str(tmp_path / "condition.npy")
        np.save(condition_path, np.asarray(condition))
    out_path = tmp_path / f"sample-{backend}.npy"
    env = {**os.environ, "KERAS_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", _RELOAD_SCRIPT, str(path), condition_path, str(n), str(out_path)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"reload under {backend} failed:\n{result.stderr[-3000:]}"
    return np.load(out_path)


def check_train_save_reload(
    model,
    inputs: dict,
    tmp_path: Path,
    batch_size: int,
    condition=None,
    n_samples: int = 16,
    steps: int = 2,
    all_backends: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-4,
):
    """Trains `model` `steps` steps, checks finite losses and that every
    optimizer stepped, saves it, and checks that the other backends reload it
    and generate the same samples. Returns the fit History."""
    if not model.compiled:
        model.compile()
    history = model.fit(inputs, batch_size=batch_size, epochs=1, steps_per_epoch=steps, verbose=0)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), f"{name} is not finite: {values}"
    for name in model.networks():
        assert int(model.network_optimizer(name).iterations) >= steps, f"{name} optimizer did not step"
    path = save_model(model, tmp_path / "model.keras")
    expected = sample_as_array(model.sample(n_samples, condition=condition, seed=0))
    assert np.all(np.isfinite(expected))
    scale = max(1.0, float(np.abs(expected).max()))
    for backend in other_backends(all_backends):
        got = sample_in_subprocess(path, backend, n_samples, condition, tmp_path)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol * scale,
                                   err_msg=f"samples differ after reloading under {backend}")
    return history
