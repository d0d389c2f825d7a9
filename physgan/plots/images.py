"""Figures of single-channel image data sets (digits, MNIST, LArCV-like tracks):
image grids real vs generated, samples over training epochs, observables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from physgan.metrics.images import as_images, hit_threshold
from physgan.plots.history import hist_real_vs_generated, save_figure

SAMPLE_FILE = re.compile(r"epoch_(\d+)\.npy$")
# Images with more empty pixels than this are drawn as sparse tracks (log colour scale, zeros white).
SPARSE_EMPTY_FRACTION = 0.9
# The gaps between images: grey on the white-background sparse scale, light blue among greys.
GAP_COLOUR_SPARSE, GAP_COLOUR_GREY = "0.75", "#a9c8e8"


def _is_sparse(images: np.ndarray, threshold: float) -> bool:
    return bool(np.mean(images <= threshold) > SPARSE_EMPTY_FRACTION)


def _style(images: np.ndarray, sparse: bool | None, cmap: str | None):
    """Returns (images to draw, colour map, norm, colour bar label) shared by all panels."""
    threshold = hit_threshold(images)
    low, high = float(images.min()), float(images.max())
    if sparse is None:
        sparse = _is_sparse(images, threshold)
    if sparse:
        # Height above the background on a log scale; empty pixels go under vmin (white),
        # the NaN gaps between images are "bad".
        lifted = images - low
        hit = lifted > threshold - low
        vmax = float(lifted[hit].max()) if hit.any() else 1.0
        vmin = max(threshold - low, vmax * 1e-3)
        vmax = max(vmax, vmin * 10)
        colours = colormaps[cmap or "viridis"].with_extremes(under="white", bad=GAP_COLOUR_SPARSE)
        return np.where(hit, lifted, vmin / 10), colours, LogNorm(vmin=vmin, vmax=vmax), "pixel value above background"
    colours = colormaps[cmap or "gray_r"].with_extremes(bad=GAP_COLOUR_GREY)
    return images, colours, Normalize(vmin=low, vmax=high if high > low else low + 1), "pixel value"


def _mosaic(images: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Returns the images tiled row by row into one array, NaN one pixel between
    them and where images run out (one imshow instead of n_rows x n_cols axes)."""
    h, w = images.shape[1:]
    tiled = np.full((n_rows * (h + 1) - 1, n_cols * (w + 1) - 1), np.nan)
    for i, image in enumerate(images[: n_rows * n_cols]):
        r, c = divmod(i, n_cols)
        tiled[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = image
    return tiled


def _draw_mosaic(ax, images: np.ndarray, n_rows: int, n_cols: int, cmap, norm, row_labels=None):
    artist = ax.imshow(_mosaic(images, n_rows, n_cols), cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xticks([])
    if row_labels is None:
        ax.set_yticks([])
    else:
        h = images.shape[1]
        ax.set_yticks(np.arange(n_rows) * (h + 1) + (h - 1) / 2, row_labels, fontsize=8)
        ax.tick_params(axis="y", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return artist


def plot_image_grid(images, path: str | Path, n_rows: int = 8, n_cols: int = 8, title: str | None = None,
                    cmap: str | None = None, sparse: bool | None = None) -> Path:
    """Returns the PNG of the first n_rows x n_cols images (N, H, W) or (N, H, W, 1).

    `sparse` (None: more than 90 % empty pixels) draws the height above the
    background on a log scale with empty pixels white (`cmap` default viridis),
    for LArCV-like tracks; otherwise a linear scale (default gray_r), for digits.
    """
    array = as_images(images)[: n_rows * n_cols]
    drawn, colours, norm, label = _style(array, sparse, cmap)
    fig = Figure(figsize=(0.9 * n_cols + 1.5, 0.9 * n_rows + 0.5))
    ax = fig.add_subplot(1, 1, 1)
    artist = _draw_mosaic(ax, drawn, n_rows, n_cols, colours, norm)
    if title:
        ax.set_title(title)
    fig.colorbar(artist, ax=ax, shrink=0.7, label=label)
    return save_figure(fig, path)


def plot_real_vs_generated_grid(reference, generated, path: str | Path, n_rows: int = 6, n_cols: int = 6,
                                cmap: str | None = None, sparse: bool | None = None) -> Path:
    """Returns the PNG of n_rows x n_cols real (left) and generated (right) images, one colour scale."""
    n = n_rows * n_cols
    real, gen = as_images(reference)[:n], as_images(generated)[:n]
    drawn, colours, norm, label = _style(np.concatenate([real, gen]), sparse, cmap)
    fig = Figure(figsize=(1.8 * n_cols + 1.5, 0.9 * n_rows + 0.6))
    axes = [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)]
    for ax, images, name in ((axes[0], drawn[: len(real)], "real"), (axes[1], drawn[len(real):], "generated")):
        artist = _draw_mosaic(ax, images, n_rows, n_cols, colours, norm)
        ax.set_title(f"{name} ({len(images)})")
    fig.colorbar(artist, ax=axes, shrink=0.7, label=label)
    return save_figure(fig, path)


def sample_epoch(path: str | Path) -> int:
    """Returns the epoch number of a `samples/epoch_NNNN.npy` file name."""
    match = SAMPLE_FILE.search(Path(path).name)
    if not match:
        raise ValueError(f"physgan: {Path(path).name} is not a samples file (expected epoch_NNNN.npy)")
    return int(match.group(1))


def sample_files(run_dir: str | Path) -> list[Path]:
    """Returns RUN_DIR/samples/epoch_NNNN.npy sorted by epoch number (not by name)."""
    folder = Path(run_dir) / "samples"
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if SAMPLE_FILE.search(p.name)), key=sample_epoch)


def _epoch_rows(files, max_rows: int) -> list[Path]:
    files = [Path(f) for f in files]
    if len(files) <= max_rows:
        return files
    # Evenly spaced epochs, always the first and the last.
    keep = np.unique(np.linspace(0, len(files) - 1, max_rows).round().astype(int))
    return [files[i] for i in keep]


def plot_samples_over_epochs(sample_files: list, path: str | Path, n_per_epoch: int = 8,
                             max_rows: int = 20, sparse: bool | None = None) -> Path:
    """Returns the PNG of the first `n_per_epoch` samples of each epoch file, one row per epoch.

    `sample_files` are `samples/epoch_NNNN.npy` files (float32 (n, H, W)
    images, the same latent draws every epoch); rows are labelled by the epoch
    in the file name. More than `max_rows` epochs are thinned to evenly spaced
    ones (first and last kept). (n, d) code vectors (the EWM's) are drawn as
    an n_per_epoch x d heat map per epoch.
    """
    files = _epoch_rows(sample_files, max_rows)
    if not files:
        raise ValueError("physgan: no sample files to draw")
    epochs = [sample_epoch(f) for f in files]
    arrays = [np.asarray(np.load(f), dtype="float64")[:n_per_epoch] for f in files]
    if arrays[0].ndim == 2:  # code vectors, not images
        return _plot_codes_over_epochs(arrays, epochs, path)
    arrays = [as_images(a) for a in arrays]
    drawn, colours, norm, label = _style(np.concatenate(arrays), sparse, None)
    n_cols = max(len(a) for a in arrays)
    # Row by row, padded with NaN where an epoch file holds fewer than n_cols images.
    h, w = arrays[0].shape[1:]
    rows = np.full((len(arrays) * n_cols, h, w), np.nan)
    start = 0
    for row, images in enumerate(arrays):
        rows[row * n_cols: row * n_cols + len(images)] = drawn[start: start + len(images)]
        start += len(images)
    fig = Figure(figsize=(0.9 * n_cols + 2.2, 0.9 * len(arrays) + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    artist = _draw_mosaic(ax, rows, len(arrays), n_cols, colours, norm, [f"epoch {e}" for e in epochs])
    ax.set_title("samples over training (same latent draws every epoch)")
    fig.colorbar(artist, ax=ax, shrink=0.7, label=label)
    return save_figure(fig, path)


def _plot_codes_over_epochs(arrays, epochs, path) -> Path:
    fig = Figure(figsize=(8, min(1.5 + 0.12 * sum(len(a) for a in arrays), 24)))
    ax = fig.add_subplot(1, 1, 1)
    stacked = np.concatenate(arrays)
    limit = float(np.max(np.abs(stacked))) or 1.0
    image = ax.imshow(stacked, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    edges = np.cumsum([len(a) for a in arrays])
    for edge in edges[:-1]:
        ax.axhline(edge - 0.5, color="k", linewidth=0.8)
    ax.set_yticks(edges - np.array([len(a) for a in arrays]) / 2 - 0.5, [f"epoch {e}" for e in epochs])
    ax.set_xlabel("code dimension")
    fig.colorbar(image, ax=ax, label="code value")
    ax.set_title("generated codes over training (same latent draws every epoch)")
    return save_figure(fig, path)


def _bins(real: np.ndarray, generated: np.ndarray, n: int = 40, integer: bool = False) -> np.ndarray:
    both = np.concatenate([real, generated])
    low, high = np.quantile(both, [0.001, 0.999]) if both.size else (0.0, 1.0)
    if integer:
        return np.arange(np.floor(low) - 0.5, np.ceil(high) + 1.5, max(1, int((high - low) // n) or 1))
    return np.linspace(low, high if high > low else low + 1.0, n + 1)


def plot_image_observables(reference, generated, path: str | Path, threshold: float | None = None) -> Path:
    """Returns the PNG of real vs generated distributions: hit pixels per image
    (> `threshold`, default `hit_threshold(reference)`), total intensity per
    image (sum of the height above background), and the intensity spectrum of
    hit pixels (log y)."""
    real, gen = as_images(reference), as_images(generated)
    threshold = hit_threshold(real) if threshold is None else float(threshold)
    background = float(real.min())
    fig = Figure(figsize=(15, 4.2))
    real_hits, gen_hits = (real > threshold).sum(axis=(1, 2)), (gen > threshold).sum(axis=(1, 2))
    ax = fig.add_subplot(1, 3, 1)
    hist_real_vs_generated(ax, real_hits, gen_hits, _bins(real_hits, gen_hits, integer=True))
    ax.set_xlabel(f"hit pixels per image (> {threshold:.3g})")
    ax.set_ylabel("fraction of images")
    ax.legend()
    real_sum, gen_sum = (real - background).sum(axis=(1, 2)), (gen - background).sum(axis=(1, 2))
    ax = fig.add_subplot(1, 3, 2)
    hist_real_vs_generated(ax, real_sum, gen_sum, _bins(real_sum, gen_sum))
    ax.set_xlabel("total intensity per image (above background)")
    ax.set_ylabel("fraction of images")
    ax = fig.add_subplot(1, 3, 3)
    real_pixels, gen_pixels = real[real > threshold], gen[gen > threshold]
    if real_pixels.size and gen_pixels.size:
        hist_real_vs_generated(ax, real_pixels, gen_pixels, _bins(real_pixels, gen_pixels, 50))
        ax.set_yscale("log")
    ax.set_xlabel("hit pixel value")
    ax.set_ylabel("fraction of hit pixels")
    fig.suptitle(f"image observables: {len(real)} real vs {len(gen)} generated images")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_images(reference, generated, out_dir: str | Path, sparse: bool | None = None) -> list[Path]:
    """Returns the figures of an image data set: real vs generated grid, observables."""
    out_dir = Path(out_dir)
    return [plot_real_vs_generated_grid(reference, generated, out_dir / "examples.png", sparse=sparse),
            plot_image_observables(reference, generated, out_dir / "observables.png")]
