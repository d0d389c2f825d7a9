"""Shared fixtures: where the real data lives, and small helpers."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Returns ../shared/data beside the checkout (or $PHYSGAN_SHARED_DATA)."""
    override = os.environ.get("PHYSGAN_SHARED_DATA")
    path = Path(override) if override else REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        raise RuntimeError(
            f"tests need the real data in {path}; set PHYSGAN_SHARED_DATA "
            "to the folder holding calogan_eplus.h5 and real/"
        )
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="session")
def mpd_images(shared_data) -> dict:
    """The first 128 real MPD TPC responses (the original's training CSV) as mpd_wgan's
    training inputs: a small real batch for tests of the training machinery."""
    from physgan.data.mpd import read_digits_csv, to_log_images

    events = read_digits_csv(shared_data / "real/physgan/digits_unparameterized.csv", max_events=128)
    return {"image": to_log_images(events.amplitudes)}


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test():
    """Seeds Python, NumPy and the backend before each test, so a test draws the same
    weights whatever ran before it in its worker (xdist spreads tests differently on
    every machine)."""
    import keras

    keras.utils.set_random_seed(0)
