"""LArCV-style images: single-plane charge images (MeV per pixel, >= 0, sparse) of a liquid-argon
TPC, the data of the LArCV particle generator. User files (.h5/.hdf5, .npy, .npz, any H x W;
`physgan.data.images.read_images`) or the bundled simulated sample
(`physgan.data.larcv_sim`, 2,000 64 x 64 images of muons, stopping muons, electrons, photons)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physgan.data.images import (
    SPARSE_KEYS,
    ImageEvents,
    image_dataset,
    image_file_kind,
    image_training_data,
    no_particle,
    read_image_events,
)
from physgan.data.larcv_sim import bundled_sample_path
from physgan.datasets import register_dataset
from physgan.errors import DataError


@dataclass
class LArCVImages(ImageEvents):
    """Charge images (N, H, W) in MeV per pixel (>= 0), labels (event types) or None."""

    dataset = "larcv"

    def __post_init__(self):
        super().__post_init__()
        negative = int((self.images < 0).sum())
        if negative:
            raise DataError(f"physgan: LArCV images hold {negative} negative pixel value(s); charge must be >= 0")


def read_larcv(path: str | Path, max_events: int | None = None) -> LArCVImages:
    """Returns the charge images (and labels, when stored) of an image file, validated."""
    return read_image_events(LArCVImages, path, max_events)


def larcv_training_data(path, max_events: int | None, particle: str | None):
    """Returns LArCV images (a file, or the bundled simulated sample) for image models, scaled
    by the largest pixel of the images read (one scale for the whole data set)."""
    no_particle("larcv", particle)
    source = Path(path) if path else bundled_sample_path()
    events = read_larcv(source, max_events=max_events)
    scale = float(events.images.max(initial=0.0))
    if scale <= 0:
        raise DataError(f"physgan: image file {source.name} holds only empty images")
    return image_training_data(events, source, scale)


def _is_larcv_file(path) -> bool:
    path = Path(path)
    if image_file_kind(path) == "larcv":
        return True
    if path.suffix.lower() != ".npz":
        return False
    try:
        with np.load(path, allow_pickle=False) as npz:
            return set(SPARSE_KEYS) <= set(npz.files)
    except (OSError, ValueError, EOFError):
        return False


DATASET = register_dataset(image_dataset(
    LArCVImages,
    "LArCV-style LArTPC charge images (MeV per pixel); bundled: 2,000 simulated 64x64 tracks/showers",
    "images (N, H, W) in .h5/.npy/.npz, or the sparse .npz of physgan.data.larcv_sim",
    recognise=_is_larcv_file,
    read=read_larcv,
    training_data=larcv_training_data,
    sparse=True,  # sparse charge: log colour scale
))
