"""Property-control accuracy of ZDC generators: requested vs measured properties."""

from __future__ import annotations

import numpy as np

from physgan.data.zdc import PROPERTY_NAMES, PropertyScaler, ZdcData


def property_control_errors(requested, generated: ZdcData, scaler: PropertyScaler | None = None) -> dict:
    """Returns, per property, the mean absolute error between the `requested`
    physical properties (n, 9) and those measured on the `generated` responses.

    The dict maps a property name to {"mae": physical units, "mae_scaled": in the
    model's [0, 1] units (`scaler`, default the bundled sample's)}.
    """
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
