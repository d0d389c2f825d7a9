"""Named training data sets: files (or the bundled samples) -> arrays for `fit`.

Each data set turns a file in its format into
- `inputs`: the dict of arrays a model's `train_step` receives (training units),
- `reference`: the same events in physical units, for plots and evaluation,
- `condition`: the physical condition of each reference event (crossing angle,
  incident energy, ...) so generated samples can be drawn for the same ones,
- `model_options`: constructor options the model takes from the data (ranges).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physgan.errors import ConfigError


@dataclass
class TrainingData:
    """Arrays of one data set, ready for `fit`, with their physical twin."""

    dataset: str
    source: Path
    inputs: dict
    reference: object
    condition: np.ndarray | None = None
    model_options: dict = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return len(next(iter(self.inputs.values())))


def file_sha256(path: str | Path) -> str:
    """Returns the hex SHA-256 of a file (for run provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_mpd_tpc(path, max_events, particle):
    from physgan.data.mpd import bundled_sample_path, load_tpc_events, to_log_images

    if particle is not None:
        raise ConfigError("the mpd_tpc data set has no --particle (it is one track type)")
    source = Path(path) if path else bundled_sample_path()
    events = load_tpc_events(source, max_events=max_events)
    inputs = {"image": to_log_images(events.amplitudes)}
    options, condition = {}, None
    if events.crossing_angle is not None:
        condition = events.crossing_angle.astype("float32")
        inputs["angle"] = condition[:, None]
        options["angle_range"] = [float(condition.min()), float(condition.max())]
    return TrainingData("mpd_tpc", source, inputs, events.amplitudes, condition, options)


def calogan_training_inputs(showers) -> dict:
    """Returns CaloGAN's training arrays of `showers`: energy (N, 1) GeV, layer_i (N, r, c, 1) in GeV."""
    inputs = {"energy": showers.incident_energy.reshape(-1, 1).astype("float32")}
    for i, layer in enumerate(showers.layers):
        inputs[f"layer_{i}"] = (layer[..., None] / 1000.0).astype("float32")  # MeV -> GeV, as the original
    return inputs


def _load_calogan(path, max_events, particle):
    """CaloGAN showers of one particle (a .h5 file, or the bundled sample of
    `particle`), or of several (a particles.yaml: name -> file) for an ACGAN."""
    from physgan.data.calogan import (
        CaloShowers,
        bundled_sample_path,
        read_calogan,
        read_particles_yaml,
    )

    if path is not None and Path(path).suffix in (".yaml", ".yml"):
        files = read_particles_yaml(path)
        source = Path(path)
    else:
        name = particle or "eplus"
        files = {name: Path(path) if path else bundled_sample_path(name)}
        source = files[name]
    per_particle = [read_calogan(f, max_events=max_events) for f in files.values()]
    showers = CaloShowers.concatenate(per_particle)
    inputs = calogan_training_inputs(showers)
    if len(files) > 1:
        labels = np.concatenate([np.full(len(s), i) for i, s in enumerate(per_particle)])
        inputs["particle"] = labels.reshape(-1, 1).astype("int32")
    energy = showers.incident_energy
    options = {
        "particles": list(files),
        "energy_range": [float(np.floor(energy.min())), float(np.ceil(energy.max()))],
    }
    reference = per_particle[0]
    return TrainingData("calogan", source, inputs, reference, reference.incident_energy, options)


def ild_training_inputs(showers) -> dict:
    """Returns the ILD models' training arrays: energy (N, 1) GeV, layers (N, 30, 30, 30, 1) MeV (raw, as the original)."""
    return {
        "energy": showers.incident_energy.reshape(-1, 1).astype("float32", copy=False),
        "layers": showers.layers[..., None].astype("float32", copy=False),  # a view: no copy of the cells
    }


def _load_ild(path, max_events, particle):
    """ILD-like 30x30x30 photon showers (a .h5 file in the Getting High layout, or the bundled sample)."""
    from physgan.data.ild import bundled_sample_path, read_ild

    if particle not in (None, "gamma", "photon"):
        raise ConfigError(f"the ild data set holds photon showers; --particle {particle!r} is not available")
    source = Path(path) if path else bundled_sample_path()
    showers = read_ild(source, max_events=max_events)
    energy = showers.incident_energy
    options = {"energy_range": [float(np.floor(energy.min())), float(np.ceil(energy.max()))]}
    return TrainingData("ild", source, ild_training_inputs(showers), showers, energy, options)


_LOADERS = {
    "mpd_tpc": _load_mpd_tpc,
    "calogan": _load_calogan,
    "ild": _load_ild,
}


def dataset_names() -> list[str]:
    """Returns the names of the data sets train.py knows."""
    return sorted(_LOADERS)


def load_training_data(
    dataset: str,
    path: str | Path | None = None,
    max_events: int | None = None,
    particle: str | None = None,
) -> TrainingData:
    """Returns data set `dataset` read from `path` (None: the bundled sample)."""
    if dataset not in _LOADERS:
        raise ConfigError(f"unknown data set {dataset!r}; available: {', '.join(dataset_names())}")
    return _LOADERS[dataset](path, max_events, particle)
