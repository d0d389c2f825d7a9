"""Observables of MPD TPC responses (8 pads x 8 time bins), per event."""

from __future__ import annotations

import numpy as np

from physgan.metrics.calo import Observable
from physgan.metrics.images import mean_image_difference, observable_matrix, weighted_moments

OBSERVABLE_LABELS = {
    "amplitude_sum": "amplitude sum [ADC counts]",
    "log_amplitude_sum": "sum of ln(amplitude)",
    "n_cells": "non-empty cells",
    "pad_mean": "pad centroid [pad]",
    "time_mean": "time centroid [time bin]",
    "pad_width": "pad width (weighted std) [pad]",
    "time_width": "time width (weighted std) [time bin]",
    "pad_time_covariance": "pad-time covariance [pad x bin]",
}
LOG_SCALE = {"amplitude_sum"}
TPC_OBSERVABLES = {name: Observable(label, log_x=name in LOG_SCALE) for name, label in OBSERVABLE_LABELS.items()}


def tpc_observables(amplitudes: np.ndarray) -> dict[str, np.ndarray]:
    """Returns per-event observables of amplitudes (N, 8, 8) [pad, time].

    Centroids, widths and the covariance are amplitude-weighted; an empty event
    gives 0 for them.
    """
    a = np.asarray(amplitudes, dtype="float64")
    if a.ndim == 4:
        a = a[..., 0]
    moments = weighted_moments(a)  # rows are pads, columns time bins
    positive = a > 0
    return {
        "amplitude_sum": moments["total"],
        "log_amplitude_sum": np.where(positive, np.log(np.where(positive, a, 1.0)), 0.0).sum(axis=(1, 2)),
        "n_cells": positive.sum(axis=(1, 2)).astype("float64"),
        "pad_mean": moments["row_mean"],
        "time_mean": moments["col_mean"],
        "pad_width": moments["row_width"],
        "time_width": moments["col_width"],
        "pad_time_covariance": moments["covariance"],
    }


def tpc_observable_matrix(observables: dict[str, np.ndarray]) -> np.ndarray:
    """Returns the observables as one (N, k) float64 array in `OBSERVABLE_LABELS` order,
    the amplitude sum as ln(1 + sum) (FPD, KPD and the high-level classifier)."""
    return observable_matrix(observables, OBSERVABLE_LABELS, LOG_SCALE)


def tpc_low_level_features(events) -> np.ndarray:
    """Returns the 64 cells of each event as ln(1 + amplitude) (the low-level classifier's input)."""
    amplitudes = np.asarray(events.amplitudes, "float64")
    return np.log1p(np.maximum(amplitudes, 0.0)).reshape(len(amplitudes), -1)


def mean_response_difference(reference, generated) -> dict[str, float]:
    """Returns how far the mean 8x8 response of `generated` is from `reference`'s
    (TPCEvents): the summed |difference| of the per-cell mean amplitudes as a
    fraction of the reference's mean amplitude sum, and the largest cell's relative difference."""
    l1, max_cell = mean_image_difference(reference.amplitudes, generated.amplitudes)
    return {"mean_response_l1": l1, "mean_response_max_cell": max_cell}
