"""Trained presets: the zoo's shipped models, loaded by name.

    import physgan
    physgan.list_presets()                  # name, model, data, held-out metrics
    model = physgan.load("mpd_wgan_tpc")    # a preset name, or the path of a .keras / .h5 file
    print(model.describe())                 # what it is, what sample() returns, its metrics

A preset is a `.keras` file in the presets folder with an entry in the folder's
`index.json` (written by `python -m physgan.export`): the data it was trained on
(file, SHA-256, events), the held-out split, the training time and the metrics
on the held-out events. The presets folder is `$PHYSGAN_PRESETS` when set, else
`saved_models/` of the source tree physgan is installed from. Presets load in
Keras' safe mode, as every `.keras` file does: nothing in the file runs as code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from physgan.errors import ConfigError, DataError

HEADLINE_OBSERVABLES = ("energy_response", "fraction_layer_0", "fraction_layer_1", "fraction_layer_2",
                        "shower_depth")


@dataclass(frozen=True)
class Preset:
    """A shipped model: its name (the file's stem), file and index entry."""

    name: str
    path: Path
    entry: dict

    @property
    def model(self) -> str:
        return self.entry["model"]

    def headline(self) -> str:
        """Returns the held-out metrics in one line (classifier AUCs, worst separation power)."""
        metrics = self.entry.get("metrics") or {}
        parts = [f"AUC {level.split('-')[0]} {auc:.2f}" for level, auc in _classifier_aucs(metrics)]
        worst = _largest_separation_power(metrics)
        if worst:
            parts.append(f"max sep. power {worst[1]:.3f} ({worst[0]})")
        return ", ".join(parts) or "no metrics"


def _classifier_aucs(metrics: dict) -> list[tuple[str, float]]:
    """Returns [("low-level", auc), ("high-level", auc)] of the classifiers an evaluation ran."""
    return [(level.replace("_", "-"), metrics[f"classifier_{level}"]["auc"])
            for level in ("low_level", "high_level") if metrics.get(f"classifier_{level}")]


def _largest_separation_power(metrics: dict) -> tuple[str, float] | None:
    """Returns (observable, separation power) of the worst-modelled observable, None without any."""
    powers = metrics.get("separation_power") or {}
    return max(powers.items(), key=lambda kv: kv[1]) if powers else None


def presets_dir() -> Path:
    """Returns the presets folder: $PHYSGAN_PRESETS, else saved_models/ beside the package."""
    if os.environ.get("PHYSGAN_PRESETS"):
        return Path(os.environ["PHYSGAN_PRESETS"])
    return Path(__file__).resolve().parent.parent / "saved_models"


def list_presets(folder: str | Path | None = None) -> list[Preset]:
    """Returns the shipped models of the presets folder (or of `folder`), sorted by name."""
    folder = Path(folder) if folder is not None else presets_dir()
    path = folder / "index.json"
    if not path.exists():
        raise DataError(f"physgan: no presets: {path} does not exist (python -m physgan.export writes it; "
                        "set PHYSGAN_PRESETS to a folder it wrote)")
    index = json.loads(path.read_text())
    return [Preset(Path(file).stem, folder / file, entry) for file, entry in sorted(index.items())
            if file.endswith(".keras")]


def get_preset(name: str) -> Preset:
    """Returns the preset `name`; ConfigError listing the known names otherwise."""
    presets = {p.name: p for p in list_presets()}
    if name not in presets:
        raise ConfigError(f"no model file or preset named {name!r}; presets: {', '.join(sorted(presets))}")
    preset = presets[name]
    if not preset.path.exists():
        raise DataError(f"physgan: preset {name!r} is indexed but {preset.path} is missing")
    return preset


def is_preset_name(text: str) -> bool:
    """Returns True if `text` names a preset rather than a file (no folder, no suffix)."""
    return Path(text).name == text and not Path(text).suffix


def describe_presets() -> str:
    """Returns the table of `train.py --list`: preset, model, data, held-out metrics."""
    try:
        presets = list_presets()
    except DataError as err:
        return str(err)
    rows = [(p.name, p.model, p.entry["data"]["file"], p.headline()) for p in presets]
    widths = [max(len(r[i]) for r in rows + [("preset", "model", "data")]) for i in range(3)]
    lines = ["trained presets (physgan.load(NAME)); metrics on held-out events:",
             f"{'preset':<{widths[0]}}  {'model':<{widths[1]}}  {'data':<{widths[2]}}  metrics"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    return "\n".join(lines)


def describe_entry(name: str, entry: dict) -> str:
    """Returns a few lines on one index.json entry: what was trained on what, and its held-out metrics."""
    held = entry.get("held_out")
    minutes = (entry.get("train_seconds") or 0) / 60
    lines = [f"{name}: {entry['model']} on {entry['data']['file']}"
             + (f" ({entry['particle']})" if entry.get("particle") else "")
             + f", {entry.get('epochs')} epochs x {entry.get('steps_per_epoch')} steps"
             + (f" (picked of {entry['epochs_trained']})" if entry.get("epochs_trained", entry.get("epochs"))
                != entry.get("epochs") else "")
             + (f", weights averaged over {len(entry['averaged_epochs'])} checkpoints of epochs "
                f"{entry['averaged_epochs'][0]}-{entry['averaged_epochs'][-1]}" if entry.get("averaged_epochs") else "")
             + (f", {minutes:.0f} min of training" if minutes >= 1 else "")
             + f" on {(entry.get('trained_with') or {}).get('backend')}"
             + (f"; generator {entry['generator_quantization']}" if entry.get("generator_quantization") else "")]
    metrics = entry.get("metrics")
    if not metrics:
        return "\n".join(lines + ["  no metrics (exported without --metrics)"])
    where = (f"the {held['events']} held-out events ({held['first_event']}..{held['of'] - 1})" if held
             else f"{metrics.get('n_reference')} training events")
    powers = metrics.get("separation_power", {})
    headline = [k for k in HEADLINE_OBSERVABLES if k in powers] or sorted(powers)[:5]
    lines.append(f"  on {where}: separation power " + ", ".join(f"{k} {powers[k]:.3f}" for k in headline))
    worst = _largest_separation_power(metrics)
    if worst:
        lines.append(f"  largest separation power: {worst[0]} {worst[1]:.3f}; FPD {metrics['fpd']:.3g}")
    extra = metrics.get("extra") or {}
    if extra:
        lines.append("  " + ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in extra.items()))
    aucs = _classifier_aucs(metrics)
    if aucs:
        lines.append("  classifier AUC (real vs generated): " + ", ".join(f"{level} {auc:.3f}" for level, auc in aucs))
    return "\n".join(lines)


def describe_model(model) -> str:
    """Returns what a loaded model is: architecture and size, data set, what `sample()`
    returns (in which units), its condition, and, for a preset, its training and metrics."""
    from physgan.datasets import get_dataset
    from physgan.registry import list_models

    config = model.get_config()
    names = [e.name for e in list_models()
             if e.cls is type(model) and all(config.get(k) == v for k, v in e.defaults.items())]
    networks = model.networks() if hasattr(model, "networks") else {}
    sizes = ", ".join(f"{k} {v.count_params():,d}" for k, v in networks.items())
    name = names[0] if names else getattr(model, "kind", type(model).__name__)
    lines = [f"{name} ({type(model).__name__}): {model.count_params():,d} parameters"
             + (f" ({sizes})" if sizes else "")]
    policy = getattr(getattr(model, "dtype_policy", None), "name", "float32")
    if policy != "float32":
        lines.append(f"  computes in {policy} (float32 weights and network outputs)")
    dataset_name = getattr(model, "dataset", None)
    if dataset_name:
        dataset = get_dataset(dataset_name)
        events_doc = " ".join((dataset.events.__doc__ or dataset.events.__name__).strip().split("\n\n")[0].split())
        lines.append(f"  data set {dataset.name}: {dataset.description}")
        lines.append(f"  sample(n) returns {dataset.events.__name__}: {events_doc}")
        condition = dataset.condition if model.takes_condition else None
        lines.append("  condition: " + (f"{condition.name} [{condition.unit}]" if condition else "none"))
    preset = getattr(model, "preset", None)
    if preset is not None:
        lines += ["  " + line for line in describe_entry(f"preset {preset.name}", preset.entry).splitlines()]
    return "\n".join(lines)
