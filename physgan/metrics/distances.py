"""Distances between a generated and a reference sample (CaloChallenge metrics).

- separation power of two histograms, 0.5 * sum (p - q)^2 / (p + q) on
  normalised histograms: 0 for equal, 1 for disjoint distributions;
- FPD, the Frechet distance of Gaussians fitted to the (standardised)
  observables, extrapolated to infinite sample size (value at 1/N -> 0);
- KPD, the unbiased kernel MMD^2 with the cubic polynomial kernel
  (x.y / d + 1)^3, averaged over bootstrap batches.
Both distances are returned as (value, uncertainty).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def common_bins(reference: np.ndarray, generated: np.ndarray, n_bins: int = 50, log: bool = False) -> np.ndarray:
    """Returns bin edges spanning the 0.1-99.9 % range of both samples (log-spaced if `log`)."""
    both = np.concatenate([reference, generated])
    both = both[np.isfinite(both)]
    if log:
        both = both[both > 0]
    if both.size == 0:
        return np.linspace(0.0, 1.0, n_bins + 1)
    low, high = np.quantile(both, [0.001, 0.999])
    if high <= low:
        low, high = low - 0.5, high + 0.5
    if log:
        return np.logspace(np.log10(low), np.log10(high), n_bins + 1)
    return np.linspace(low, high, n_bins + 1)


def separation_power(reference: np.ndarray, generated: np.ndarray, bins) -> float:
    """Returns 0.5 * sum((p - q)^2 / (p + q)) of the two normalised histograms."""
    p, _ = np.histogram(np.clip(reference, bins[0], bins[-1]), bins=bins)
    q, _ = np.histogram(np.clip(generated, bins[0], bins[-1]), bins=bins)
    p = p / max(p.sum(), 1)
    q = q / max(q.sum(), 1)
    both = p + q
    mask = both > 0
    return float(0.5 * np.sum((p[mask] - q[mask]) ** 2 / both[mask]))


def standardise(reference: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns both samples scaled by the reference's mean and standard deviation."""
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (reference - mean) / std, (generated - mean) / std


def _frechet(x: np.ndarray, y: np.ndarray) -> float:
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(cov_x @ cov_y)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x + cov_y - 2.0 * root))


def frechet_physics_distance(reference: np.ndarray, generated: np.ndarray, n_sizes: int = 5,
                             repeats: int = 4, seed: int = 0) -> tuple[float, float]:
    """Returns (FPD, its uncertainty): the Frechet distance fitted linearly in 1/N
    over bootstrap samples of several sizes N, read off at 1/N = 0."""
    x, y = standardise(np.asarray(reference, "float64"), np.asarray(generated, "float64"))
    rng = np.random.default_rng(seed)
    n_max = min(len(x), len(y))
    sizes = np.linspace(max(n_max // 4, 50), n_max, n_sizes).astype(int)
    inverse, values = [], []
    for n in sizes:
        for _ in range(repeats):
            values.append(_frechet(x[rng.integers(0, len(x), n)], y[rng.integers(0, len(y), n)]))
            inverse.append(1.0 / n)
    coefficients, covariance = np.polyfit(inverse, values, 1, cov=True)
    return float(coefficients[1]), float(np.sqrt(covariance[1, 1]))


def _mmd_polynomial(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.mean())


def kernel_physics_distance(reference: np.ndarray, generated: np.ndarray, batch: int = 1000,
                            repeats: int = 10, seed: int = 0) -> tuple[float, float]:
    """Returns (KPD, its uncertainty): the mean and standard error of the unbiased
    polynomial-kernel MMD^2 over `repeats` bootstrap batches of `batch` showers."""
    x, y = standardise(np.asarray(reference, "float64"), np.asarray(generated, "float64"))
    rng = np.random.default_rng(seed)
    batch = min(batch, len(x), len(y))
    values = [_mmd_polynomial(x[rng.integers(0, len(x), batch)], y[rng.integers(0, len(y), batch)])
              for _ in range(repeats)]
    return float(np.mean(values)), float(np.std(values) / np.sqrt(repeats))
