"""The MPD TPC `digits.csv` format of the original PhysGAN project.

One row per non-empty (pad, time) cell: `evtId,ipad,itime,amp`; the parametrized
variant adds the per-event `crossing_angle` and `dip_angle` (degrees). An event
becomes an 8 (pads) x 8 (time bins) image at [ipad - min(ipad), itime - min(itime)],
the minima taken over the whole file, as the original did.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physgan.data.base import Events
from physgan.datasets import Condition, DataSet, Evaluation, TrainingData, register_dataset
from physgan.errors import ConfigError, DataError
from physgan.fileio import atomic_path

IMAGE_SHAPE = (8, 8)
# The ADC saturates at 40950 counts: the largest amplitude of the real digits.csv,
# reached in 0.1 % of its events (tpc_simulator.py saturates there too).
SATURATION_ADC = 40950.0
REQUIRED_COLUMNS = ("evtId", "ipad", "itime", "amp")
ANGLE_COLUMNS = ("crossing_angle", "dip_angle")


@dataclass
class TPCEvents(Events):
    """TPC responses: amplitudes (N, 8, 8) [pad, time] in ADC counts, angles in degrees."""

    dataset = "mpd_tpc"
    per_event = ("amplitudes", "crossing_angle", "dip_angle", "event_ids")

    amplitudes: np.ndarray
    crossing_angle: np.ndarray | None = None
    dip_angle: np.ndarray | None = None
    event_ids: np.ndarray | None = None

    def __post_init__(self):
        if self.event_ids is None:
            self.event_ids = np.arange(len(self.amplitudes), dtype="int64")


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_digits_csv(path: str | Path, max_events: int | None = None) -> TPCEvents:
    """Returns the events of a digits.csv(.gz) file, validated."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"physgan: digits file {path} does not exist")
    try:
        with _open_text(path) as f:
            header = f.readline().strip().split(",")
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"physgan: cannot read digits file {path}: {err}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"physgan: digits file {path.name} has no column {missing[0]!r} (found: {', '.join(header)})"
        )
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype="float64")
    except ValueError as err:
        raise DataError(f"physgan: digits file {path.name} has a non-numeric value: {err}") from None
    if table.shape[0] == 0:
        raise DataError(f"physgan: digits file {path.name} holds no rows")
    if table.shape[1] != len(header):
        raise DataError(f"physgan: digits file {path.name} rows have {table.shape[1]} values, header has {len(header)}")
    col = {name: table[:, i] for i, name in enumerate(header)}
    bad = ~np.isfinite(table).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"physgan: digits file {path.name} has NaN or inf at data row {row + 1}")
    if (col["amp"] <= 0).any():
        row = int(np.argmax(col["amp"] <= 0))
        raise DataError(f"physgan: digits file {path.name} has amp <= 0 at data row {row + 1} (amp={col['amp'][row]})")

    event, pad, time = (col[k].astype("int64") for k in ("evtId", "ipad", "itime"))
    pad, time = pad - pad.min(), time - time.min()  # global minima, as the original
    ids, index = np.unique(event, return_inverse=True)
    if max_events is not None:
        keep = index < max_events
        ids, index, pad, time = ids[:max_events], index[keep], pad[keep], time[keep]
        col = {k: v[keep] for k, v in col.items()}
    outside = (pad >= IMAGE_SHAPE[0]) | (time >= IMAGE_SHAPE[1])
    if outside.any():
        row = int(np.argmax(outside))
        raise DataError(
            f"physgan: digits file {path.name}: event {ids[index[row]]} does not fit the 8x8 pad x time window "
            f"(pad offset {pad[row]}, time offset {time[row]})"
        )
    flat = (index * 64 + pad * 8 + time)
    if len(np.unique(flat)) != len(flat):
        dup = np.setdiff1d(np.arange(len(flat)), np.unique(flat, return_index=True)[1])[0]
        raise DataError(f"physgan: digits file {path.name}: event {ids[index[dup]]} has a duplicate (pad, time) cell")
    amplitudes = np.zeros((len(ids), 64), dtype="float32")
    amplitudes.reshape(-1)[flat] = col["amp"]
    angles = {}
    for name in ANGLE_COLUMNS:
        if name in col:
            per_event = np.zeros(len(ids), dtype="float32")
            per_event[index] = col[name]
            angles[name] = per_event
    return TPCEvents(amplitudes.reshape(-1, *IMAGE_SHAPE), angles.get("crossing_angle"),
                     angles.get("dip_angle"), ids.astype("int64"))


def write_digits_csv(path: str | Path, events: TPCEvents, pad_offset: int = 40, time_offset: int = 267) -> Path:
    """Returns `path` after writing `events` there in the digits.csv format, atomically."""
    path = Path(path)
    event, pad, time = np.nonzero(events.amplitudes)
    amp = events.amplitudes[event, pad, time]
    columns = [events.event_ids[event], pad + pad_offset, time + time_offset]
    header = list(REQUIRED_COLUMNS)
    fmt = ["%d", "%d", "%d", "%.6g"]
    data = columns + [amp]
    if events.crossing_angle is not None:
        dip = events.dip_angle if events.dip_angle is not None else np.zeros(len(events), "float32")
        data += [events.crossing_angle[event], dip[event]]
        header += list(ANGLE_COLUMNS)
        fmt += ["%.6g", "%.6g"]
    table = np.column_stack(data)
    opener = gzip.open if path.suffix == ".gz" else open
    with atomic_path(path) as tmp, opener(tmp, "wt") as f:
        np.savetxt(f, table, fmt=fmt, delimiter=",", header=",".join(header), comments="")
    return path


def to_log_images(amplitudes: np.ndarray) -> np.ndarray:
    """Returns ln(amplitude) images (N, 8, 8, 1), empty cells 0 (the training space)."""
    amplitudes = np.asarray(amplitudes, dtype="float32")
    safe = np.where(amplitudes > 0, amplitudes, 1.0)
    return np.where(amplitudes > 0, np.log(safe), 0.0).astype("float32")[..., None]


def from_log_images(images: np.ndarray) -> np.ndarray:
    """Returns amplitudes (N, 8, 8) from ln(amplitude) images; values <= 0 are empty, and
    amplitudes saturate at the ADC's `SATURATION_ADC`, as the detector's do (a generator's
    rare overshoots, up to 10^6 counts, would otherwise dominate every mean)."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 4:
        images = images[..., 0]
    return np.where(images > 0, np.exp(np.minimum(images, np.log(SATURATION_ADC))), 0.0).astype("float32")


def generated_events(log_images: np.ndarray, crossing_angle=None) -> TPCEvents:
    """Returns the events of a generator's ln(amplitude) output (`from_log_images`), with the
    crossing angles it was given (degrees; dip angle 0) or none (unparametrized)."""
    amplitudes = from_log_images(log_images)
    if crossing_angle is None:
        return TPCEvents(amplitudes)
    angle = np.broadcast_to(np.asarray(crossing_angle, dtype="float32"), (len(amplitudes),))
    return TPCEvents(amplitudes, angle.copy(), np.zeros(len(amplitudes), "float32"))


def bundled_sample_path(parametrized: bool = True) -> Path:
    """Returns the path of the bundled simulated sample (parametrized format)."""
    return Path(__file__).parent / "samples" / "mpd_tpc_simulated.csv.gz"


def load_tpc_events(path: str | Path | None = None, max_events: int | None = None) -> TPCEvents:
    """Returns the events of `path`, or of the bundled sample when None."""
    return read_digits_csv(path or bundled_sample_path(), max_events=max_events)


def is_digits_file(path: str | Path) -> bool:
    """Returns True if `path` is named like a digits file (.csv or .csv.gz)."""
    return Path(path).name.lower().endswith((".csv", ".csv.gz"))


def write_tpc_events(path: str | Path, events: TPCEvents) -> Path:
    """Returns `path` after writing `events` as a digits.csv(.gz) file, atomically; event ids
    that repeat (events joined from several generated batches) are renumbered 0..N-1."""
    if len(np.unique(events.event_ids)) != len(events):
        events = TPCEvents(events.amplitudes, events.crossing_angle, events.dip_angle)
    return write_digits_csv(path, events)


def mpd_training_data(path, max_events: int | None, particle: str | None) -> TrainingData:
    """Returns the MPD TPC events of a digits file (or the bundled simulated sample) as ln(amplitude) images."""
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
    return TrainingData("mpd_tpc", source, inputs, events, condition, options)


def _figures(reference: TPCEvents, generated: TPCEvents, out_dir) -> list[Path]:
    from physgan.plots.mpd import plot_tpc_images, plot_tpc_observables

    out_dir = Path(out_dir)
    return [plot_tpc_observables(reference.amplitudes, generated.amplitudes, out_dir / "observables.png"),
            plot_tpc_images(reference.amplitudes, generated.amplitudes, out_dir / "examples.png")]


def _evaluation() -> Evaluation:
    from physgan.metrics.mpd import (
        TPC_OBSERVABLES,
        mean_response_difference,
        tpc_low_level_features,
        tpc_observable_matrix,
        tpc_observables,
    )

    return Evaluation(lambda events: tpc_observables(events.amplitudes), TPC_OBSERVABLES, tpc_observable_matrix,
                      tpc_low_level_features, mean_response_difference)


DATASET = register_dataset(DataSet(
    name="mpd_tpc",
    description="MPD NICA TPC responses, 8 pads x 8 time bins (PhysGAN digits.csv)",
    events=TPCEvents,
    file_kinds="digits CSV (.csv, .csv.gz) with evtId, ipad, itime, amp[, crossing_angle, dip_angle]",
    recognise=is_digits_file,
    read=read_digits_csv,
    validate=lambda path: len(read_digits_csv(path)),
    write=write_tpc_events,
    training_data=mpd_training_data,
    output_suffixes=(".csv", ".csv.gz"),
    condition=Condition("track crossing angle", "degrees", "angle"),
    figures=_figures,
    evaluation=_evaluation(),
))
