"""Figures of ZDC responses and of CorrVAE models: properties, reconstructions,
property-controlled generation, latent traversals (PNG and animated GIF).

Responses are `ZdcData` (images in photon counts, their 9 properties) and are
shown as log(1 + photons)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physgan.data.zdc import PROPERTY_NAMES, ZdcData
from physgan.fileio import atomic_path
from physgan.metrics.zdc import property_control_errors
from physgan.plots.history import hist_real_vs_generated, save_figure

# The original's example: centre of mass at x = 10, y = 30, size 0.3. Its size is the fraction
# of the 1,936 pixels that are non-zero (581 pixels), beyond the bundled simulated responses
# (at most 525); here 0.3 is on the model's scaled n_nonzero axis.
EXAMPLE_CONDITION = {"centre_x": 10.0, "centre_y": 30.0}
EXAMPLE_SCALED_SIZE = 0.3


def _show(ax, counts, vmax: float, title: str | None = None):
    image = ax.imshow(np.log1p(counts), origin="lower", vmin=0.0, vmax=vmax, cmap="inferno")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return image


def _vmax(*arrays) -> float:
    return float(max(np.log1p(np.max(a)) for a in arrays if len(a)) or 1.0)


def plot_zdc_properties(real: ZdcData, generated: ZdcData, path: str | Path) -> Path:
    """Returns the PNG of the 9 property distributions, real vs generated."""
    real_props, generated_props = real.properties, generated.properties
    fig = Figure(figsize=(15, 9))
    for i, name in enumerate(PROPERTY_NAMES):
        ax = fig.add_subplot(3, 3, i + 1)
        both = np.concatenate([real_props[:, i], generated_props[:, i]])
        low, high = np.quantile(both, [0.001, 0.999])
        bins = np.linspace(low, high if high > low else low + 1.0, 40)
        hist_real_vs_generated(ax, real_props[:, i], generated_props[:, i], bins)
        ax.set_xlabel(name)
        if i == 0:
            ax.legend()
    fig.suptitle(f"ZDC properties: {len(real)} real vs {len(generated)} generated responses")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_zdc_examples(real: ZdcData, generated: ZdcData, path: str | Path, n: int = 8) -> Path:
    """Returns the PNG of `n` real and `n` generated responses, log(1 + counts)."""
    real, generated = real.images, generated.images
    fig = Figure(figsize=(2.0 * n, 4.4))
    vmax = _vmax(real[:n], generated[:n])
    for row, (label, events) in enumerate((("real", real), ("generated", generated))):
        for i in range(min(n, len(events))):
            image = _show(fig.add_subplot(2, n, row * n + i + 1), events[i], vmax, label if i == 0 else None)
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="log(1 + photons)")
    return save_figure(fig, path)


def plot_property_control(requested, generated: ZdcData, path: str | Path, scaler=None) -> tuple[Path, dict]:
    """Returns the PNG of requested (n, 9) physical vs measured properties of the
    `generated` responses (drawn for those requests) and the errors per property."""
    errors = property_control_errors(requested, generated, scaler)
    measured = generated.properties
    requested = np.asarray(requested)
    fig = Figure(figsize=(15, 9))
    for i, name in enumerate(PROPERTY_NAMES):
        ax = fig.add_subplot(3, 3, i + 1)
        ax.scatter(requested[:, i], measured[:, i], s=3, alpha=0.4)
        low = min(requested[:, i].min(), measured[:, i].min())
        high = max(requested[:, i].max(), measured[:, i].max())
        ax.plot([low, high], [low, high], color="k", linewidth=0.8)
        ax.set_xlabel(f"requested {name}")
        ax.set_ylabel("measured")
        ax.set_title(f"MAE {errors[name]['mae']:.3g} ({errors[name]['mae_scaled']:.3f} scaled)", fontsize=9)
    fig.suptitle("Property control: requested vs measured on the generated responses")
    fig.tight_layout()
    return save_figure(fig, path), errors


def plot_reconstructions(model, data: ZdcData, path: str | Path, n: int = 8) -> Path:
    """Returns the PNG of `n` responses and their CorrVAE reconstructions."""
    scaled = model.scaler.transform(data.properties[:n])
    reconstructed = model.reconstruct(data.log_images[:n], scaled)
    fig = Figure(figsize=(2.0 * n, 4.4))
    vmax = _vmax(data.images[:n], reconstructed)
    for row, (label, events) in enumerate((("data", data.images[:n]), ("reconstruction", reconstructed))):
        for i in range(len(events)):
            _show(fig.add_subplot(2, n, row * n + i + 1), events[i], vmax, label if i == 0 else None)
    return save_figure(fig, path)


def example_condition(model) -> dict:
    """Returns the original's example request: centre (10, 30), scaled size 0.3."""
    size = model.scaler.inverse_transform(np.full(len(PROPERTY_NAMES), EXAMPLE_SCALED_SIZE))
    return {**EXAMPLE_CONDITION, "n_nonzero": float(size[PROPERTY_NAMES.index("n_nonzero")])}


def plot_generation_grid(model, condition: dict, path: str | Path, rows: int = 4, cols: int = 6,
                         seed: int = 0) -> Path:
    """Returns the PNG of rows x cols responses generated for one `condition` dict."""
    generated = model.sample(rows * cols, condition=condition, seed=seed)
    images, measured = generated.images, generated.properties
    fig = Figure(figsize=(2.0 * cols, 2.1 * rows + 0.6))
    vmax = _vmax(images)
    ix, iy = PROPERTY_NAMES.index("centre_x"), PROPERTY_NAMES.index("centre_y")
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        _show(ax, images[i], vmax, f"centre ({measured[i, ix]:.1f}, {measured[i, iy]:.1f})")
    text = ", ".join(f"{k} {v:.3g}" for k, v in condition.items())
    fig.suptitle(f"CorrVAE generation for {text}")
    return save_figure(fig, path)


def plot_traversal(model, path: str | Path, values=None, seed: int = 0) -> Path:
    """Returns the PNG of images along each w dimension (rows) over `values` (columns)."""
    values = np.linspace(-3.0, 3.0, 9) if values is None else np.asarray(values)
    rows = [model.traverse(i, values, seed=seed) for i in range(model.w_dim)]
    mask = np.asarray(model.mask())
    fig = Figure(figsize=(1.6 * len(values), 1.7 * model.w_dim + 0.6))
    vmax = _vmax(*rows)
    for r, images in enumerate(rows):
        props = [PROPERTY_NAMES[p] for k, p in enumerate(model.w_properties) if mask[k, r] > 0]
        for c, image in enumerate(images):
            ax = fig.add_subplot(model.w_dim, len(values), r * len(values) + c + 1)
            _show(ax, image, vmax, f"w{r} = {values[c]:.1f}" if r == 0 or c == 0 else None)
            if c == 0:
                ax.set_ylabel(f"w{r}" + (f"\n{', '.join(props)}" if props else ""), fontsize=7)
    fig.suptitle("CorrVAE latent traversal of w (rows: dimension; label: properties it controls)")
    return save_figure(fig, path)


def write_traversal_gif(model, path: str | Path, w_index: int | None = None, frames: int = 25,
                        seed: int = 0) -> Path | None:
    """Writes an animated GIF of one w dimension's traversal; None if no GIF writer exists."""
    from matplotlib import animation

    if not animation.writers.is_available("pillow"):
        return None
    if w_index is None:
        mask = np.asarray(model.mask())
        used = np.flatnonzero(mask.sum(axis=0) > 0)
        w_index = int(used[0]) if len(used) else 0
    values = np.concatenate([np.linspace(-3, 3, frames), np.linspace(3, -3, frames)])
    images = model.traverse(w_index, values, seed=seed)
    fig = Figure(figsize=(4, 4.3))
    ax = fig.add_subplot(1, 1, 1)
    artist = _show(ax, images[0], _vmax(images))

    def update(i):
        artist.set_data(np.log1p(images[i]))
        ax.set_title(f"w{w_index} = {values[i]:+.2f}")
        return (artist,)

    movie = animation.FuncAnimation(fig, update, frames=len(values), blit=False)
    with atomic_path(path) as tmp:
        movie.save(tmp, writer=animation.PillowWriter(fps=10))
    return Path(path)


def plot_zdc(reference: ZdcData, generated: ZdcData, out_dir: str | Path) -> list[Path]:
    """Returns the data-set figures: properties, examples and, when `generated` were
    drawn for the reference's properties one by one (as watch_results.py does),
    property control (with its errors in property_control.json)."""
    out_dir = Path(out_dir)
    paths = [plot_zdc_properties(reference, generated, out_dir / "properties.png"),
             plot_zdc_examples(reference, generated, out_dir / "examples.png")]
    if len(generated) == len(reference):
        control, errors = plot_property_control(reference.properties, generated, out_dir / "property_control.png")
        with atomic_path(out_dir / "property_control.json") as tmp:
            Path(tmp).write_text(json.dumps(errors, indent=2))
        paths.append(control)
    return paths


def plot_corrvae_figures(model, data: ZdcData, out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Returns the CorrVAE figures: reconstructions, example generation grid, traversals."""
    out_dir = Path(out_dir)
    paths = [plot_reconstructions(model, data, out_dir / "reconstructions.png"),
             plot_generation_grid(model, example_condition(model), out_dir / "generation_x10_y30.png", seed=seed),
             plot_traversal(model, out_dir / "traversal.png", seed=seed)]
    gif = write_traversal_gif(model, out_dir / "traversal.gif", seed=seed)
    return paths + ([gif] if gif else [])
