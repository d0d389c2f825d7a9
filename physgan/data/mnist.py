"""MNIST (28 x 28, grey 0-255, labels 0-9) from a local file, the LArCV particle generator's
proof of concept: the `mnist.npz` of keras.datasets.mnist.load_data() or the idx files.
physgan never downloads it (`physgan.data.images.read_mnist`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from physgan.data.images import (
    MNIST_MAX_GREY,
    ImageEvents,
    image_dataset,
    image_file_kind,
    image_training_data,
    no_particle,
    read_image_events,
    read_mnist,
)
from physgan.datasets import register_dataset
from physgan.errors import ConfigError


@dataclass
class MnistImages(ImageEvents):
    """MNIST digits (N, 28, 28) in grey levels 0-255 (or generated ones), labels 0-9 or None."""

    dataset = "mnist"


def read_mnist_events(path: str | Path, max_events: int | None = None) -> MnistImages:
    """Returns MNIST images of a local MNIST file, or of a file written by `write_images`."""
    if image_file_kind(path) == "mnist":
        return read_image_events(MnistImages, path, max_events)
    mnist = read_mnist(path)
    events = MnistImages(mnist.images, mnist.labels)
    return events if max_events is None else events[:max_events]


def mnist_training_data(path, max_events: int | None, particle: str | None):
    """Returns MNIST from a local file for image models; ConfigError without a path."""
    no_particle("mnist", particle)
    if path is None:
        raise ConfigError("the mnist data set needs the path of a local MNIST file: the mnist.npz that "
                          "keras.datasets.mnist.load_data() saves in ~/.keras/datasets/, or "
                          "train-images-idx3-ubyte[.gz]; physgan does not download it")
    return image_training_data(read_mnist_events(path), Path(path), MNIST_MAX_GREY, max_events)


def _is_mnist_file(path) -> bool:
    path = Path(path)
    return image_file_kind(path) == "mnist" or "idx3-ubyte" in path.name


DATASET = register_dataset(image_dataset(
    MnistImages,
    "MNIST handwritten digits, 28x28, from a local file (never downloaded)",
    "mnist.npz of keras.datasets, *-images-idx3-ubyte[.gz], or images written by physgan",
    recognise=_is_mnist_file,
    read=read_mnist_events,
    training_data=mnist_training_data,
))
