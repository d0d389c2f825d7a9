"""Saving and loading models, and run directories.

A `.keras` file holds the whole model (architecture config, weights, every
network's optimizer state) and loads under any of the three backends, whichever
saved it. Legacy Keras 2 `.h5` generators of the original projects load through
`physgan.legacy`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras

from physgan.errors import DataError
from physgan.fileio import atomic_path


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Returns `path` after saving `model` there as `.keras`, atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"physgan saves models as .keras files, got {path.name!r}")
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def write_json(path: str | Path, obj) -> Path:
    """Returns `path` after writing `obj` there as JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return path


def load(path: str | Path, compile: bool = True):
    """Returns the model stored at `path` (`.keras`, or a legacy Keras 2 `.h5`), or the
    trained preset of that name (`physgan.list_presets()`, e.g. "mpd_wgan_tpc").

    `.keras` files load in Keras' safe mode: nothing in the file runs as code.
    """
    from physgan.presets import get_preset, is_preset_name
    from physgan.registry import list_models

    preset = None
    if not Path(path).exists() and is_preset_name(str(path)):
        preset = get_preset(str(path))
        path = preset.path
    path = Path(path)
    if not path.exists():
        raise DataError(f"physgan: no model file at {path}")
    if path.suffix == ".h5":
        from physgan.legacy import load_legacy_h5

        return load_legacy_h5(path)
    if path.suffix != ".keras":
        raise DataError(f"physgan: {path.name} is neither a .keras nor a legacy .h5 model file")
    list_models()  # registers every zoo class with Keras' serialization
    model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    vars(model)["preset"] = preset  # untracked: not a weight, not in the config
    return model


# --- run directories --------------------------------------------------------------


def new_run_dir(root: str | Path, model_name: str, dataset: str) -> Path:
    """Returns a new, empty run directory `root/<model>-<dataset>-<timestamp>`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{model_name}-{dataset}-{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    (path / "checkpoints").mkdir(parents=True)
    return path


def newest_run_dir(root: str | Path = "runs") -> Path:
    """Returns the most recently modified run directory under `root`."""
    root = Path(root)
    runs = [p for p in root.glob("*") if (p / "config.json").exists()] if root.is_dir() else []
    if not runs:
        raise DataError(f"physgan: no training run found under {root}/ (train one with train.py)")
    return max(runs, key=lambda p: (p / "config.json").stat().st_mtime)


def read_run_config(run_dir: str | Path) -> dict:
    """Returns the config.json of a run directory."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise DataError(f"physgan: {run_dir} is not a run directory (no config.json)")
    return json.loads(path.read_text())


def last_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """The complete `last-NNNN.keras` files (atomic writes leave no partial one), oldest first."""
    return sorted(checkpoint_dir.glob("last-[0-9][0-9][0-9][0-9].keras"))


def latest_checkpoint(run_dir: str | Path) -> tuple[Path, int] | None:
    """Returns `(the last checkpoint, epochs it holds)` of a run, or None before the first epoch.
    Runs written before `last-NNNN.keras` keep `last.keras` and state.json's count."""
    checkpoint_dir = Path(run_dir) / "checkpoints"
    files = last_checkpoints(checkpoint_dir)
    if files:
        return files[-1], int(files[-1].stem.split("-")[1])
    state, last = checkpoint_dir / "state.json", checkpoint_dir / "last.keras"
    if state.exists() and last.exists():
        return last, int(json.loads(state.read_text())["epochs_done"])
    return None


def run_model_file(run_dir: str | Path, config: dict, epoch: int | None = None) -> Path:
    """Returns a run's final model file, else its last checkpoint; DataError before the first epoch.
    With `epoch`, the checkpoint kept after that epoch (train.py --keep-every)."""
    if epoch is not None:
        kept = Path(run_dir) / "checkpoints" / f"epoch-{epoch:04d}.keras"
        if not kept.exists():
            epochs = sorted(int(p.stem.split("-")[1]) for p in kept.parent.glob("epoch-*.keras"))
            raise DataError(f"physgan: {run_dir} kept no checkpoint of epoch {epoch} "
                            f"(kept: {', '.join(map(str, epochs)) or 'none; train with --keep-every N'})")
        return kept
    final = Path(run_dir) / f"{config['model']}.keras"
    if final.exists():
        return final
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        return latest[0]
    raise DataError(f"physgan: {run_dir} has no model yet (no epoch finished)")
