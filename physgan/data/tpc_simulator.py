"""A small MPD-like TPC pad-response simulator, the bundled default data of `mpd_wgan`.

A charged track crosses one pad row (12 mm high, 5 mm pads, as the inner MPD TPC
rows) at a crossing angle (in the pad plane) and a dip angle (towards the drift
direction). Along its path through the row:

1. primary ionisation: Poisson clusters (24 per cm in Ar/CH4 90/10), each of
   n electrons with P(n) ~ 1/n^2 up to 100 (delta electrons give the Landau tail);
2. drift over 10-150 cm with transverse and longitudinal diffusion (0.063 and
   0.079 mm / sqrt(mm)); a cluster's cloud is Gaussian, its centre shifted by
   the mean of its electrons' random walks;
3. gas gain per electron from a Polya distribution (theta = 1.5), summed per
   cluster as a Gamma variate;
4. induced charge shared over the pads by a Gaussian pad response (sigma 1.3 mm)
   and over 100 ns time bins (5.5 mm of drift each) by the shaper (sigma 0.45 bin);
5. ADC conversion, electronic noise (0.3 ADC), saturation at 40950 and zero
   suppression below 1 ADC.

The 7 pads x 8 time bins around the track are written like the real data
(ipad 40..46, itime 267..274), so events are 8x8 images in the digits.csv format.
The constants were tuned so that cells per event, amplitude quantiles and the
amplitude sum are close to the public MPD file (see tests/test_data_mpd.py).

    python -m physgan.data.tpc_simulator --n-events 5000 --seed 0 --out sample.csv.gz
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtr

from physgan.data.mpd import SATURATION_ADC, TPCEvents, write_digits_csv

N_PADS, N_TIME_BINS = 7, 8


@dataclass(frozen=True)
class TPCSettings:
    """Geometry, gas and electronics constants (mm, time bins, ADC counts)."""

    pad_width: float = 5.0
    row_height: float = 12.0
    drift_per_bin: float = 5.5           # 100 ns at 5.5 cm/us
    clusters_per_mm: float = 2.4
    max_cluster_size: int = 100
    drift_range: tuple = (100.0, 1500.0)
    transverse_diffusion: float = 0.063  # mm / sqrt(mm)
    longitudinal_diffusion: float = 0.079
    pad_response_sigma: float = 1.3
    shaping_sigma_bins: float = 0.45
    polya_theta: float = 1.5
    adc_per_electron: float = 32.0       # gain x electronics, in ADC counts
    noise_adc: float = 0.3
    threshold_adc: float = 1.0
    saturation_adc: float = SATURATION_ADC


def _cluster_sizes(rng, n, max_size):
    # P(N >= k) = 1/k for P(k) ~ 1/k^2: inverse transform of a uniform.
    return np.minimum(np.floor(1.0 / rng.uniform(1e-9, 1.0, n)), max_size)


def _bin_fractions(centres, sigmas, edges):
    """Returns the Gaussian charge fraction of each cluster in each bin."""
    upper = ndtr((edges[None, 1:] - centres[:, None]) / sigmas[:, None])
    lower = ndtr((edges[None, :-1] - centres[:, None]) / sigmas[:, None])
    return upper - lower


def simulate_tpc_events(
    n_events: int,
    seed: int = 0,
    crossing_angle_range: tuple[float, float] = (0.0, 15.0),
    dip_angle_range: tuple[float, float] = (0.0, 20.0),
    settings: TPCSettings = TPCSettings(),
) -> TPCEvents:
    """Returns `n_events` simulated pad responses with their angles (degrees)."""
    s = settings
    rng = np.random.default_rng(seed)
    crossing = rng.uniform(*crossing_angle_range, n_events)
    dip = rng.uniform(*dip_angle_range, n_events)
    drift = rng.uniform(*s.drift_range, n_events)
    x_offset = rng.uniform(-0.5, 0.5, n_events) * s.pad_width
    t_offset = rng.uniform(-0.5, 0.5, n_events)
    phi, lam = np.radians(crossing), np.radians(dip)
    path = s.row_height / np.cos(phi) / np.cos(lam)

    n_clusters = rng.poisson(s.clusters_per_mm * path)
    event = np.repeat(np.arange(n_events), n_clusters)
    along = rng.uniform(-0.5, 0.5, len(event))  # position along the segment
    size = _cluster_sizes(rng, len(event), s.max_cluster_size)
    charge = rng.gamma(s.polya_theta * size, 1.0 / s.polya_theta)  # electrons after gain fluctuation

    d = drift[event]
    sigma_x_diff = s.transverse_diffusion * np.sqrt(d)
    sigma_t_diff = s.longitudinal_diffusion * np.sqrt(d) / s.drift_per_bin
    x = x_offset[event] + along * s.row_height * np.tan(phi[event])
    x += rng.normal(0.0, sigma_x_diff / np.sqrt(size))
    t = 4.0 + t_offset[event] + along * path[event] * np.sin(lam[event]) / s.drift_per_bin
    t += rng.normal(0.0, sigma_t_diff / np.sqrt(size))

    pad_edges = (np.arange(N_PADS + 1) - N_PADS / 2) * s.pad_width
    time_edges = np.arange(N_TIME_BINS + 1, dtype="float64")
    pad_fraction = _bin_fractions(x, np.hypot(sigma_x_diff, s.pad_response_sigma), pad_edges)
    time_fraction = _bin_fractions(t, np.hypot(sigma_t_diff, s.shaping_sigma_bins), time_edges)

    images = np.zeros((n_events, N_PADS * N_TIME_BINS))
    contributions = (charge[:, None, None] * pad_fraction[:, :, None] * time_fraction[:, None, :])
    np.add.at(images, event, contributions.reshape(len(event), -1))
    amplitude = images.reshape(n_events, N_PADS, N_TIME_BINS) * s.adc_per_electron
    amplitude += rng.normal(0.0, s.noise_adc, amplitude.shape)
    amplitude = np.minimum(amplitude, s.saturation_adc)
    amplitude[amplitude < s.threshold_adc] = 0.0
    amplitude = np.round(amplitude, 3)

    full = np.zeros((n_events, 8, 8), dtype="float32")
    full[:, :N_PADS, :] = amplitude
    return TPCEvents(full, crossing.astype("float32"), dip.astype("float32"),
                     np.arange(n_events, dtype="int64"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m physgan.data.tpc_simulator",
        description="Simulate MPD-like TPC pad responses and write them as digits.csv(.gz).",
    )
    parser.add_argument("--n-events", type=int, default=5000, help="number of events (default: 5000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--crossing-angle", type=float, nargs=2, default=(0.0, 15.0), metavar=("MIN", "MAX"),
                        help="crossing angle range in degrees (default: 0 15)")
    parser.add_argument("--dip-angle", type=float, nargs=2, default=(0.0, 20.0), metavar=("MIN", "MAX"),
                        help="dip angle range in degrees (default: 0 20)")
    parser.add_argument("--out", required=True, help="output file, .csv or .csv.gz")
    args = parser.parse_args(argv)
    events = simulate_tpc_events(args.n_events, args.seed, tuple(args.crossing_angle), tuple(args.dip_angle))
    path = write_digits_csv(Path(args.out), events)
    print(f"wrote {args.n_events} events to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
