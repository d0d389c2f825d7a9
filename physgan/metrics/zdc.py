"""Metrics of ZDC generators: property-control accuracy (requested vs measured properties)
and the evaluation suite of the zdc data set (`physgan.evaluate`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # physgan.data.zdc builds its evaluation suite from this module: imported lazily
    from physgan.data.zdc import PropertyScaler, ZdcData


def property_control_errors(requested, generated: ZdcData, scaler: PropertyScaler | None = None) -> dict:
    """Returns, per property, the mean absolute error between the `requested`
    physical properties (n, 9) and those measured on the `generated` responses.

    The dict maps a property name to {"mae": physical units, "mae_scaled": in the
    model's [0, 1] units (`scaler`, default the bundled sample's)}.
    """
    from physgan.data.zdc import PROPERTY_NAMES, PropertyScaler

    requested = np.asarray(requested, dtype="float64")
    measured = generated.properties
    if requested.shape != measured.shape:
        raise ValueError(f"requested properties {requested.shape} do not match the {len(measured)} "
                         f"generated responses' {measured.shape}")
    scaler = scaler or PropertyScaler.default()
    scaled_error = np.abs(scaler.transform(requested) - scaler.transform(measured)).mean(axis=0)
    error = np.abs(requested - measured).mean(axis=0)
    return {name: {"mae": float(error[i]), "mae_scaled": float(scaled_error[i])}
            for i, name in enumerate(PROPERTY_NAMES)}


# === The evaluation suite of the zdc data set (physgan.evaluate) ===

# In the order of physgan.data.zdc.PROPERTY_NAMES.
ZDC_OBSERVABLE_LABELS = {
    "max_x": "brightest pixel column [pixel]",
    "max_y": "brightest pixel row [pixel]",
    "centre_x": "centre of light x [pixel]",
    "centre_y": "centre of light y [pixel]",
    "n_nonzero": "pixels with photons",
    "nonzero_category": "category of pixels with photons (0-4)",
    "n_above_1_log": "pixels with ln(1 + photons) > 1",
    "sum": "photon sum [photons]",
    "max": "brightest pixel [photons]",
}
LOG_SCALE = {"sum", "max"}


def zdc_observables(events: ZdcData) -> dict[str, np.ndarray]:
    """Returns the 9 CorrVAE properties (`PROPERTY_NAMES`) measured on the images of `events`
    (never the properties a generation request asked for)."""
    from physgan.data.zdc import zdc_properties

    return dict(zip(ZDC_OBSERVABLE_LABELS, zdc_properties(events.images).T))


def zdc_evaluation():
    """Returns the `Evaluation` suite of the zdc data set: the 9 properties as observables,
    the low-level classifier on ln(1 + photons) of the 44x44 pixels, the mean response's L1
    difference."""
    from physgan.datasets import Evaluation
    from physgan.metrics.calo import Observable
    from physgan.metrics.images import mean_image_difference, observable_matrix

    def mean_response(reference: ZdcData, generated: ZdcData) -> dict[str, float]:
        # The largest pixel difference is left out: 2.1 between two halves of the real sample.
        return {"mean_response_l1": mean_image_difference(reference.images, generated.images)[0]}

    return Evaluation(zdc_observables,
                      {name: Observable(label, log_x=name in LOG_SCALE) for name, label in ZDC_OBSERVABLE_LABELS.items()},
                      lambda observables: observable_matrix(observables, ZDC_OBSERVABLE_LABELS, LOG_SCALE),
                      lambda events: np.log1p(events.images.astype("float64")).reshape(len(events.images), -1),
                      mean_response)
