"""ILD-like 30x30x30 photon shower observables and figures ("Getting High"),
checked on hand-made showers and on the real Geant4 sample."""

from dataclasses import dataclass

import h5py
import numpy as np
import pytest

from physgan.metrics import ild
from physgan.metrics.distances import common_bins, separation_power
from physgan.metrics.ild import (
    CELL_SIZE_MM,
    HIT_THRESHOLD_MEV,
    ILD_OBSERVABLES,
    average_shower,
    hit_energies,
    ild_observable_matrix,
    ild_observables,
    longitudinal_profile,
    radial_profile,
)
from physgan.plots.ild import plot_ild, plot_ild_average_showers, plot_ild_observables, plot_ild_profiles

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


@dataclass
class Showers:
    """The duck-typed shower sample the metrics and figures take."""

    layers: np.ndarray  # (N, 30, 30, 30) MeV, [z, x, y]
    incident_energy: np.ndarray  # (N,) GeV


def _read(path, stop=None) -> Showers:
    with h5py.File(path, "r") as f:
        return Showers(f["layers"][:stop], f["energy"][:stop, 0])


@pytest.fixture(scope="module")
def real(shared_data) -> Showers:
    return _read(shared_data / "ild_photons.h5", 400)


@pytest.fixture(scope="module")
def real_observables(real):
    return ild_observables(real)


def _cell(*cells) -> np.ndarray:
    layers = np.zeros((1, 30, 30, 30), "float32")
    for (z, x, y), energy in cells:
        layers[0, z, x, y] = energy
    return layers


def test_single_cell_shower_has_exact_observables():
    # cell x = 15 is the first right of the window centre: +0.5 cells; y = 10 is -4.5 cells
    obs = ild_observables(_cell(((7, 15, 10), 50.0)), incident_energy=[2.0])
    assert obs["energy_sum"][0] == pytest.approx(50.0)
    assert obs["n_hits"][0] == 1
    assert obs["energy_ratio"][0] == pytest.approx(50.0 / 2000.0)
    assert obs["cog_z"][0] == pytest.approx(7.0)
    assert obs["cog_x"][0] == pytest.approx(0.5 * CELL_SIZE_MM)
    assert obs["cog_y"][0] == pytest.approx(-4.5 * CELL_SIZE_MM)
    assert obs["longitudinal_width"][0] == pytest.approx(0.0, abs=1e-9)
    assert obs["radial_width"][0] == pytest.approx(np.hypot(0.5, 4.5) * CELL_SIZE_MM)
    assert obs["max_cell"][0] == pytest.approx(50.0)
    assert list(obs) == list(ILD_OBSERVABLES)


def test_two_cell_shower_has_exact_moments_and_profiles():
    layers = _cell(((4, 14, 14), 30.0), ((10, 15, 15), 10.0))  # the cells either side of the centre
    obs = ild_observables(layers)
    assert "energy_ratio" not in obs  # no incident energy given
    assert obs["energy_sum"][0] == pytest.approx(40.0) and obs["n_hits"][0] == 2
    assert obs["cog_z"][0] == pytest.approx((4 * 30 + 10 * 10) / 40)  # 5.5
    assert obs["longitudinal_width"][0] == pytest.approx(np.sqrt(0.75 * 0.25) * 6)  # Bernoulli std times the gap
    assert obs["cog_x"][0] == pytest.approx((-0.5 * 30 + 0.5 * 10) / 40 * CELL_SIZE_MM)
    assert obs["cog_y"][0] == pytest.approx(obs["cog_x"][0])
    assert obs["radial_width"][0] == pytest.approx(np.sqrt(0.5) * CELL_SIZE_MM)  # both at 0.707 cells
    assert obs["max_cell"][0] == pytest.approx(30.0)
    profile = longitudinal_profile(layers)[0]
    assert profile[4] == 30.0 and profile[10] == 10.0 and profile.sum() == pytest.approx(40.0)
    rings = radial_profile(layers)[0]
    assert rings[0] == pytest.approx(40.0) and rings.shape == (21,)  # r = 3.6 mm < one cell
    assert sorted(hit_energies(layers)) == [10.0, 30.0]
    assert ild_observable_matrix(obs).shape == (1, len(ILD_OBSERVABLES) - 1)


def test_threshold_removes_cells_below_half_a_mip():
    layers = _cell(((3, 0, 0), 0.099), ((3, 29, 29), 0.05), ((20, 14, 15), 2.0), ((21, 14, 15), HIT_THRESHOLD_MEV))
    obs = ild_observables(layers)
    assert obs["n_hits"][0] == 2  # 2.0 and exactly 0.1 MeV count
    assert obs["energy_sum"][0] == pytest.approx(2.1)
    assert obs["cog_x"][0] == pytest.approx(-0.5 * CELL_SIZE_MM)  # the far corners do not pull it
    assert longitudinal_profile(layers)[0, 3] == 0.0
    assert min(hit_energies(layers)) == pytest.approx(HIT_THRESHOLD_MEV)
    assert average_shower(layers)[3].sum() == 0.0
    lower = ild_observables(layers, threshold_mev=0.01)
    assert lower["n_hits"][0] == 4 and lower["energy_sum"][0] == pytest.approx(2.249)
    empty = ild_observables(np.zeros((2, 30, 30, 30)), incident_energy=[10.0, 20.0])
    assert all(np.all(v == 0) for v in empty.values())


def test_accepts_objects_and_works_in_chunks(real, monkeypatch):
    head = Showers(real.layers[:120], real.incident_energy[:120])
    whole = ild_observables(head)
    assert set(whole) == set(ILD_OBSERVABLES)
    profiles = longitudinal_profile(head), radial_profile(head), average_shower(head), hit_energies(head)
    monkeypatch.setattr(ild, "CHUNK", 7)  # chunk boundaries change nothing
    chunked = ild_observables(head.layers, head.incident_energy)
    for name in whole:
        assert chunked[name] == pytest.approx(whole[name], rel=1e-12)
    again = longitudinal_profile(head), radial_profile(head), average_shower(head), hit_energies(head)
    for a, b in zip(profiles, again):
        assert a == pytest.approx(b, rel=1e-12)
    assert np.array_equal(hit_energies(head, max_hits=1000), profiles[3][:1000])
    with pytest.raises(ValueError, match="30"):
        ild_observables(np.zeros((2, 30, 30)))


def test_real_showers_have_the_papers_shape(real, real_observables):
    obs = real_observables
    # ~533 cells per shower are >= 0.1 MeV (the README's "about 600" counts every non-zero cell, ~620)
    assert 300 < obs["n_hits"].mean() < 1000
    assert 8 < obs["cog_z"].mean() < 20  # measured 14.4
    z_profile = average_shower(real).sum(axis=(1, 2))
    assert 8 < np.average(np.arange(30), weights=z_profile) < 20 and 10 <= z_profile.argmax() <= 18  # max at 14
    # Sampling fraction: the Si alone sees 2.80 % of the photon energy, spread 0.27 % (measured on
    # 5000 showers; the data README quotes "about 2.8 %"). For a MIP, 0.5 mm Si (0.19 MeV) per
    # 2.1 mm W (4.6 MeV) gives 4 % in the first 20 layers and 2 % behind 4.2 mm W; EM showers
    # sample somewhat less than MIPs. Band: +-20 % around 2.8 %.
    ratio = obs["energy_ratio"]
    assert 0.022 < ratio.mean() < 0.034 and ratio.std() < 0.005
    assert np.corrcoef(obs["energy_sum"], real.incident_energy)[0, 1] > 0.9
    assert abs(obs["cog_x"].mean()) < 0.2 and abs(obs["cog_y"].mean()) < 0.2  # mm: on the axis
    assert ild_observable_matrix(obs).shape == (400, len(ILD_OBSERVABLES))


def test_profiles_sum_to_the_energy_sum(real, real_observables):
    total = real_observables["energy_sum"]
    assert longitudinal_profile(real).sum(axis=1) == pytest.approx(total, rel=1e-9)
    assert radial_profile(real).sum(axis=1) == pytest.approx(total, rel=1e-9)  # 21 rings hold the window
    spectrum = hit_energies(real)
    assert spectrum.size == real_observables["n_hits"].sum() and spectrum.sum() == pytest.approx(total.sum())
    assert average_shower(real).sum() == pytest.approx(total.mean())


def _separation(a: dict, b: dict) -> dict:
    return {name: separation_power(a[name], b[name], common_bins(a[name], b[name], 50, log=style.log_x))
            for name, style in ILD_OBSERVABLES.items()}


def test_separation_power_bounds_both_ways(shared_data):
    # All 5000 showers: 50 bins on 200 + 200 showers give ~0.1 from statistics alone.
    showers = _read(shared_data / "ild_photons.h5")
    first, second = (Showers(showers.layers[s], showers.incident_energy[s]) for s in (slice(0, 2500), slice(2500, None)))
    real_first, real_second = ild_observables(first), ild_observables(second)
    same = _separation(real_first, real_second)
    assert max(same.values()) < 0.05, same  # measured <= 0.017
    scaled = _separation(real_first, ild_observables(Showers(second.layers * 1.2, second.incident_energy)))
    # The incident energy is uniform in 10-100 GeV, so E_sum of the scaled sample (a uniform 12-120 GeV
    # shape) overlaps most of the real one: separation ~0.08, not 0.5. Normalised to the incident
    # energy the 20 % shift is 7 standard deviations of the response: separation ~0.65.
    assert scaled["energy_ratio"] > 0.5, scaled
    assert scaled["energy_sum"] > 0.05 and scaled["energy_sum"] > 4 * same["energy_sum"], scaled


def test_figures_are_written(real, tmp_path):
    reference = Showers(real.layers[:200], real.incident_energy[:200])
    generated = Showers(real.layers[200:] * 1.1, real.incident_energy[200:])
    paths = [*plot_ild_observables(reference, generated, tmp_path / "a"), plot_ild_profiles(reference, generated, tmp_path / "a"),
             plot_ild_average_showers(reference, generated, tmp_path / "a")]
    assert [p.name for p in paths] == ["ild_observables.png", "ild_profiles.png", "ild_average_showers.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    everything = plot_ild(reference, generated, tmp_path / "b")
    assert sorted(p.name for p in everything) == sorted(p.name for p in paths)
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".")]  # no temporary file left
