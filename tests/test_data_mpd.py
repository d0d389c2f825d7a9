"""The digits.csv format, the TPC simulator and the MPD observables."""


import numpy as np
import pytest

from physgan.data.mpd import (
    bundled_sample_path, from_log_images, load_tpc_events, read_digits_csv,
    to_log_images, write_digits_csv,
)
from physgan.data.tpc_simulator import simulate_tpc_events
from physgan.errors import DataError
from physgan.metrics.mpd import tpc_observables

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


@pytest.fixture(scope="module")
def real(shared_data):
    return read_digits_csv(shared_data / "real/physgan/digits_unparameterized.csv")


def test_reads_the_real_file(real):
    assert real.n_events == 9999 and real.crossing_angle is None
    cells = (real.amplitudes > 0).sum(axis=(1, 2))
    assert cells.min() == 12 and cells.max() == 44 and np.median(cells) == 19
    # First rows of the file: event 0, ipad 41/42, itime 269-271 (minima 40, 267).
    assert real.amplitudes[0, 1, 2] == pytest.approx(2.474)
    assert real.amplitudes[0, 2, 1] == pytest.approx(35.81)
    assert real.amplitudes.max() == pytest.approx(40950.0)


def test_round_trip_keeps_events_and_angles(tmp_path):
    events = simulate_tpc_events(50, seed=2)
    path = write_digits_csv(tmp_path / "sim.csv.gz", events)
    again = read_digits_csv(path)
    np.testing.assert_allclose(again.amplitudes, events.amplitudes, rtol=1e-5)
    np.testing.assert_allclose(again.crossing_angle, events.crossing_angle, rtol=1e-5)


def test_bundled_sample_is_parametrized_and_loads_by_default():
    assert bundled_sample_path().exists()
    events = load_tpc_events(max_events=100)
    assert events.n_events == 100 and events.crossing_angle is not None
    assert 0.0 <= events.crossing_angle.min() and events.crossing_angle.max() <= 15.0


def test_simulator_is_close_to_the_real_detector(real):
    sim = simulate_tpc_events(3000, seed=0).amplitudes
    real_cells, sim_cells = ((a > 0).sum(axis=(1, 2)) for a in (real.amplitudes, sim))
    assert abs(np.median(sim_cells) - np.median(real_cells)) <= 2
    real_sum, sim_sum = (np.median(a.sum(axis=(1, 2))) for a in (real.amplitudes, sim))
    assert 0.8 < sim_sum / real_sum < 1.25
    assert sim.max() <= 40950.0 and sim[sim > 0].min() >= 1.0


def test_larger_crossing_angles_spread_over_more_pads():
    narrow = simulate_tpc_events(500, seed=1, crossing_angle_range=(0.0, 1.0)).amplitudes
    wide = simulate_tpc_events(500, seed=1, crossing_angle_range=(40.0, 45.0)).amplitudes
    assert tpc_observables(wide)["pad_width"].mean() > 1.3 * tpc_observables(narrow)["pad_width"].mean()


def test_log_images_invert():
    amplitudes = np.zeros((2, 8, 8), dtype="float32")
    amplitudes[0, 3, 4] = 250.0
    images = to_log_images(amplitudes)
    assert images.shape == (2, 8, 8, 1) and images[0, 3, 4, 0] == pytest.approx(np.log(250.0))
    np.testing.assert_allclose(from_log_images(images), amplitudes, rtol=1e-6)
    images[1, 0, 0] = 14.0  # a generator's overshoot: 1.2e6 counts
    assert from_log_images(images)[1, 0, 0] == pytest.approx(40950.0, rel=1e-5)  # the ADC saturates


def test_observables_of_a_known_event():
    a = np.zeros((1, 8, 8))
    a[0, 2, 3] = 1.0
    a[0, 4, 5] = 1.0
    obs = tpc_observables(a)
    assert obs["pad_mean"][0] == 3.0 and obs["time_mean"][0] == 4.0
    assert obs["pad_width"][0] == 1.0 and obs["time_width"][0] == 1.0
    assert obs["pad_time_covariance"][0] == 1.0 and obs["n_cells"][0] == 2


def write(tmp_path, text, name="digits.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("evtId,ipad,time,amp\n0,40,267,3\n", "no column 'itime'"),
        ("evtId,ipad,itime,amp\n0,40,267,nan\n", "NaN or inf at data row 1"),
        ("evtId,ipad,itime,amp\n0,40,267,5\n1,41,268,-2\n", "amp <= 0 at data row 2"),
        ("evtId,ipad,itime,amp\n0,40,267,5\n1,49,268,2\n", "event 1 does not fit the 8x8"),
        ("evtId,ipad,itime,amp\n0,40,267,5\n0,40,267,2\n", "duplicate (pad, time) cell"),
        ("evtId,ipad,itime,amp\n0,40,abc,5\n", "non-numeric"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, text, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_digits_csv(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_digits_csv(tmp_path / "none.csv")
