"""The proof-of-concept data set of the LArCV particle generator: scikit-learn's 1,797 real
handwritten digits (8 x 8, ink 0-16, labels 0-9), shipped with scikit-learn, so it works
offline. The originals used MNIST (`physgan.data.mnist`), which needs a download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from physgan.data.images import (
    DIGITS_MAX_INK,
    SKLEARN_DIGITS_FILE,
    ImageEvents,
    digits_source,
    image_dataset,
    image_file_kind,
    image_training_data,
    load_digits_with_labels,
    no_particle,
    read_image_events,
)
from physgan.datasets import register_dataset
from physgan.errors import ConfigError


@dataclass
class DigitImages(ImageEvents):
    """Handwritten digits (N, 8, 8) in ink units 0-16 (or generated ones), labels 0-9 or None."""

    dataset = "digits"


def is_sklearn_digits(path: str | Path) -> bool:
    """Returns True if `path` is scikit-learn's own digits file (digits.csv.gz)."""
    return Path(path).name == SKLEARN_DIGITS_FILE and Path(path).resolve() == digits_source().resolve()


def read_digits(path: str | Path, max_events: int | None = None) -> DigitImages:
    """Returns the digit images of a file written by `write_images`, or of scikit-learn's
    digits file (the path a run trained on the bundled digits records), with their labels."""
    if is_sklearn_digits(path):
        bunch = load_digits_with_labels(normalise="none")
        return DigitImages(bunch.images[:max_events], bunch.labels[:max_events])
    return read_image_events(DigitImages, path, max_events)


def digits_training_data(path, max_events: int | None, particle: str | None):
    """Returns scikit-learn's digits (or a digits file of `write_images`) for image models."""
    no_particle("digits", particle)
    # A run's config.json records scikit-learn's file as the data path: accept it back.
    if path is None or is_sklearn_digits(path) or image_file_kind(path) == "digits":
        source = digits_source() if path is None else Path(path)
        events = read_digits(source)
    else:
        raise ConfigError("the digits data set is scikit-learn's bundled digits (or a digits file written by "
                          "physgan); use --dataset mnist or larcv for other image files")
    return image_training_data(events, source, DIGITS_MAX_INK, max_events)


DATASET = register_dataset(image_dataset(
    DigitImages,
    "scikit-learn's 1,797 real handwritten digits, 8x8 (offline MNIST stand-in)",
    "images .npz/.h5 written by physgan with kind 'digits'",
    recognise=lambda path: is_sklearn_digits(path) or image_file_kind(path) == "digits",
    read=read_digits,
    training_data=digits_training_data,
))
