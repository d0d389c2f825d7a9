"""Metrics of generated single-channel images (8x8 digits, MNIST, LArCV-like TPC tracks).

- nearest-neighbour distances to the training images and the memorisation
  report built on them ("does the model learn or copy?");
- the classifier test on flattened pixels (`physgan.metrics.classifier`);
- a digit class score, an Inception-score-like figure with a small classifier
  trained on the real digits;
- occupancy and intensity spectra, real vs generated (`image_metrics`).

Images are (N, H, W) or (N, H, W, 1) arrays in any units (0..16 for the
scikit-learn digits, [-1, 1] for what the LArCV models sample); "empty" pixels
are those at the data's lowest value. Plain numpy; scikit-learn and Keras are
imported only by the functions that need them.
"""

from __future__ import annotations

import numpy as np

METRICS = ("l2", "hamming")
# A pixel counts as hit when it is above the data's minimum by this fraction of the data's range.
HIT_FRACTION_OF_RANGE = 0.01
# Default copy tolerance: this fraction of the median held-out -> training NN distance.
COPY_FRACTION_OF_REAL_DISTANCE = 0.1


def as_images(images, dtype: str | None = "float64") -> np.ndarray:
    """Returns `images` as an (N, H, W) array of `dtype` (None: as given).

    Takes (N, H, W) or (N, H, W, 1) arrays, a `{"image": ...}` batch, or an
    object with an `images` attribute (a data set's reference sample).
    """
    if isinstance(images, dict):
        if "image" not in images:
            raise ValueError(f"physgan: image batch has no key 'image' (found: {', '.join(images)})")
        images = images["image"]
    elif not isinstance(images, np.ndarray) and hasattr(images, "images"):
        images = images.images
    array = np.asarray(images, dtype=dtype)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"physgan: expected images of shape (N, H, W) or (N, H, W, 1), got {array.shape}")
    return array


def hit_threshold(images) -> float:
    """Returns the pixel value above which a pixel counts as hit: the minimum
    plus 1 % of the range of `images` (0.16 for the 0..16 digits, -0.98 for [-1, 1])."""
    array = as_images(images)
    low, high = float(array.min()), float(array.max())
    return low + HIT_FRACTION_OF_RANGE * (high - low)


def occupancy(images, threshold: float) -> np.ndarray:
    """Returns the fraction of pixels above `threshold`, per image (N,)."""
    array = as_images(images)
    return (array > threshold).reshape(len(array), -1).mean(axis=1)


def _flat(images) -> np.ndarray:
    array = as_images(images)
    return array.reshape(len(array), -1)


def nearest_neighbour_distances(generated, training, metric: str = "l2", threshold: float | None = None,
                                chunk_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Returns (distance, index) of each generated image's nearest training image, both (N_gen,).

    Args:
        generated: (N_gen, H, W) images.
        training: (N_train, H, W) images, same shape and units.
        metric: "l2", the Euclidean distance of the flattened pixels (in pixel
            units), or "hamming", the number of pixels that differ once both
            sets are binarised at `threshold` (hit: pixel > threshold).
        threshold: binarisation level for "hamming"; None takes the midpoint of
            the training images' range (right for digits; for sparse LArCV-like
            tracks pass the background level, e.g. 0 for physical units).
        chunk_size: images per block; besides the inputs, memory is about
            8 * chunk_size * (chunk_size + 2 * H * W) bytes whatever N_gen and
            N_train (10k x 60k MNIST images: 50 MB in blocks, not 3.8 TB).
    """
    if metric not in METRICS:
        raise ValueError(f"physgan: metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if chunk_size < 1:
        raise ValueError(f"physgan: chunk_size must be >= 1, got {chunk_size}")
    gen, train = as_images(generated, dtype=None), as_images(training, dtype=None)
    if gen.shape[1:] != train.shape[1:]:
        raise ValueError(f"physgan: generated images {gen.shape[1:]} and training images "
                         f"{train.shape[1:]} differ in shape")
    if len(train) == 0:
        raise ValueError("physgan: no training images to compare with")
    return _nearest(gen, train, metric, threshold, chunk_size, leave_one_out=False)


def _nearest(gen: np.ndarray, train: np.ndarray, metric: str, threshold: float | None, chunk_size: int,
             leave_one_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """`nearest_neighbour_distances`; with `leave_one_out` (gen is train), an
    image is not its own neighbour."""
    gen, train = gen.reshape(len(gen), -1), train.reshape(len(train), -1)
    if metric == "hamming":
        if threshold is None:
            threshold = 0.5 * (float(train.min()) + float(train.max()))
        gen, train = gen > threshold, train > threshold
    best = np.full(len(gen), np.inf)
    best_index = np.zeros(len(gen), dtype="int64")
    # Blocks are converted to float64 one at a time (the inputs may be float32 or uint8 MNIST);
    # training blocks outside, a running minimum per generated image.
    for t0 in range(0, len(train), chunk_size):
        block = train[t0:t0 + chunk_size].astype("float64")
        block_norms = np.einsum("ij,ij->i", block, block)
        for g0 in range(0, len(gen), chunk_size):
            g1 = min(g0 + chunk_size, len(gen))
            rows = gen[g0:g1].astype("float64")
            # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b; for 0/1 vectors it is the Hamming distance.
            squared = np.einsum("ij,ij->i", rows, rows)[:, None] + block_norms[None, :] - 2.0 * (rows @ block.T)
            if leave_one_out:
                own = np.arange(max(g0, t0), min(g1, t0 + len(block)))
                squared[own - g0, own - t0] = np.inf
            nearest = np.argmin(squared, axis=1)
            value = squared[np.arange(g1 - g0), nearest]
            better = value < best[g0:g1]
            best[g0:g1] = np.where(better, value, best[g0:g1])
            best_index[g0:g1] = np.where(better, t0 + nearest, best_index[g0:g1])
    best = np.maximum(best, 0.0)
    if metric == "l2":
        return np.sqrt(best), best_index
    return np.rint(best), best_index


def memorisation_report(generated, training, held_out=None, metric: str = "l2", threshold: float | None = None,
                        tolerance: float | None = None) -> dict:
    """Returns how close generated images are to the training images, with real
    held-out images as the yardstick: does the model learn or copy?

    Each generated and each held-out image is matched to its nearest training
    image (`nearest_neighbour_distances`). Held-out real images were never
    trained on, so their distances are what "a new image of the same kind"
    looks like:

    - `ratio` = median(generated -> train) / median(held-out -> train).
      About 1: generated images are as far from the training set as new real
      images are (the model generalises). Well below 1 (< 0.5): generated
      images sit on top of training images (memorisation). Well above 1:
      generated images are unlike anything real (poor quality, not copying).
    - `copy_fraction`: the fraction of generated images closer than
      `tolerance` to a training image (near-exact copies);
      `held_out_copy_fraction` is the same for the real held-out images, the
      rate of look-alikes the data holds by itself (duplicates, empty
      events). A copying model has `copy_fraction` far above it.

    `tolerance` (units of the distance) defaults to 0.1 x the median
    held-out -> train distance. `verdict` is "copies" (copy_fraction > 0.5 or
    ratio < 0.5), "closer than real data" (ratio < 0.8), "as far as real
    data" (ratio <= 1.25) or "farther than real data" (the samples are not yet
    like the training images): a summary, not a test. Held-out images must not be
    training images (`ratio` is inf or nan when their median distance is 0).

    Without `held_out` images, each training image's distance to its nearest
    *other* training image is the yardstick (leave-one-out): what a new
    image would look like, from one fewer training image.
    """
    gen_distance, gen_index = nearest_neighbour_distances(generated, training, metric, threshold)
    if held_out is None:
        train = as_images(training, dtype=None)
        if len(train) < 2:
            raise ValueError("physgan: a leave-one-out yardstick needs at least 2 training images")
        real_distance, _ = _nearest(train, train, metric, threshold, 2048, leave_one_out=True)
    else:
        real_distance, _ = nearest_neighbour_distances(held_out, training, metric, threshold)
    gen_median, real_median = float(np.median(gen_distance)), float(np.median(real_distance))
    if tolerance is None:
        tolerance = COPY_FRACTION_OF_REAL_DISTANCE * real_median
    if real_median > 0:
        ratio = gen_median / real_median
    else:  # held-out images duplicate training ones: no yardstick
        ratio = float("inf") if gen_median > 0 else float("nan")
    copy_fraction = float(np.mean(gen_distance <= tolerance))
    if not np.isfinite(ratio):
        verdict = "no yardstick: the held-out images are training images"
    elif copy_fraction > 0.5 or ratio < 0.5:
        verdict = "copies"
    elif ratio < 0.8:
        verdict = "closer than real data"
    elif ratio <= 1.25:
        verdict = "as far as real data"
    else:
        verdict = "farther than real data"
    return {
        "metric": metric,
        "n_generated": len(gen_distance),
        "n_training": len(as_images(training)),
        "n_held_out": 0 if held_out is None else len(real_distance),
        "generated_to_train_median": gen_median,
        "generated_to_train_mean": float(np.mean(gen_distance)),
        "held_out_to_train_median": real_median,
        "held_out_to_train_mean": float(np.mean(real_distance)),
        "ratio": float(ratio),
        "tolerance": float(tolerance),
        "copy_fraction": copy_fraction,
        "held_out_copy_fraction": float(np.mean(real_distance <= tolerance)),
        "distinct_training_images_matched": int(len(np.unique(gen_index))),
        "verdict": verdict,
    }


def image_classifier_auc(real, generated, hidden: tuple[int, ...] = (128,), epochs: int = 30,
                         batch_size: int = 128, patience: int = 5, seed: int = 0):
    """Returns the `ClassifierResult` of a DNN separating `generated` from `real`
    flattened images: AUC 0.5 for indistinguishable, 1 for separable samples
    (`physgan.metrics.classifier.classifier_auc`, a smaller default network)."""
    from physgan.metrics.classifier import classifier_auc

    return classifier_auc(_flat(real), _flat(generated), hidden=hidden, epochs=epochs,
                          batch_size=batch_size, patience=patience, seed=seed)


class DigitClassifier:
    """A logistic regression of the digit label on the flattened pixels, scaled
    by the training images' range (the same scale for every pixel, so pixels
    that are always empty in real digits stay small on generated ones)."""

    def __init__(self, model, low: float, scale: float, held_out_accuracy: float, n_classes: int):
        self.model = model
        self.low = low
        self.scale = scale
        self.held_out_accuracy = held_out_accuracy
        self.n_classes = n_classes

    def probabilities(self, images) -> np.ndarray:
        """Returns the class probabilities (N, n_classes) of `images`."""
        return self.model.predict_proba((_flat(images) - self.low) / self.scale)


def fit_digit_classifier(train_images, train_labels, held_out_fraction: float = 0.25, max_train: int = 10000,
                         seed: int = 0) -> DigitClassifier:
    """Returns a `DigitClassifier` fitted on real digits, with its accuracy on a
    held-out `held_out_fraction` of them (at most `max_train` images are fitted)."""
    from sklearn.linear_model import LogisticRegression

    x, y = _flat(train_images), np.asarray(train_labels)
    if len(x) != len(y):
        raise ValueError(f"physgan: {len(x)} digit images but {len(y)} labels")
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"physgan: held_out_fraction must be in (0, 1), got {held_out_fraction}")
    low, high = float(x.min()), float(x.max())
    scale = high - low if high > low else 1.0
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(held_out_fraction * len(x)))
    test, train = order[:n_test], order[n_test:][:max_train]
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((x[train] - low) / scale, y[train])
    accuracy = float(model.score((x[test] - low) / scale, y[test]))
    return DigitClassifier(model, low, scale, accuracy, len(model.classes_))


def digit_class_score(generated, train_images=None, train_labels=None, classifier: DigitClassifier | None = None,
                      seed: int = 0) -> dict:
    """Returns an Inception-score-like judgement of generated digits by a
    classifier trained on real ones (`fit_digit_classifier`, or `classifier`).

    - `confidence`: the mean highest class probability; near 1 for images
      that clearly show a digit, near 1 / n_classes for noise.
    - `class_entropy` (nats) of the predicted-class frequencies and
      `diversity` = exp(class_entropy), the effective number of classes:
      10 when all digits are generated equally often, 1 when one digit is.
    - `inception_score`: exp(mean KL(p(y|x) || p(y))), high when images are
      both confident and diverse (at most n_classes).
    - `classifier_accuracy`: the classifier's accuracy on held-out real digits,
      the reference for how far to trust the above.
    """
    if classifier is None:
        if train_images is None or train_labels is None:
            raise ValueError("physgan: digit_class_score needs train_images and train_labels, or a classifier")
        classifier = fit_digit_classifier(train_images, train_labels, seed=seed)
    p = np.clip(classifier.probabilities(generated), 1e-12, 1.0)
    counts = np.bincount(np.argmax(p, axis=1), minlength=classifier.n_classes)
    frequencies = counts / counts.sum()
    nonzero = frequencies[frequencies > 0]
    entropy = float(-np.sum(nonzero * np.log(nonzero)))
    marginal = p.mean(axis=0)
    kl = np.sum(p * (np.log(p) - np.log(marginal)[None, :]), axis=1)
    return {
        "confidence": float(np.mean(p.max(axis=1))),
        "class_entropy": entropy,
        "diversity": float(np.exp(entropy)),
        "inception_score": float(np.exp(np.mean(kl))),
        "class_fractions": [float(f) for f in frequencies],
        "classifier_accuracy": classifier.held_out_accuracy,
        "n_generated": int(len(p)),
    }


def image_metrics(reference, generated, training=None, labels=None, threshold: float | None = None,
                  classifier: bool = True, max_images: int = 2000, seed: int = 0) -> dict:
    """Returns the metrics of `generated` images against real `reference` images.

    - `occupancy`: mean fraction of hit pixels (> `threshold`, default
      `hit_threshold(reference)`), real and generated, and the separation
      power of the per-image occupancy distributions;
    - `intensity`: separation powers of the per-image mean intensity and of
      the pixel intensity spectrum of hit pixels, and the mean absolute
      difference of the average images;
    - `memorisation`: `memorisation_report` (L2) of generated images against
      `training` with the `reference` images that are not training images as
      the held-out yardstick; without `training` (or when most reference
      images are training images, as in a watch run), against the reference
      with its leave-one-out distances as the yardstick;
    - `classifier`: `image_classifier_auc` (unless `classifier=False`);
    - `digit_score`: `digit_class_score` when `labels` (of `training`, or of
      `reference` without it) are given.
    At most `max_images` images of each sample are used (10-20 s on a CPU
    for 1k 8x8 images, nearly all of it the classifier).
    """
    from physgan.metrics.distances import common_bins, separation_power

    real, gen = as_images(reference), as_images(generated)
    if real.shape[1:] != gen.shape[1:]:
        raise ValueError(f"physgan: reference images {real.shape[1:]} and generated images {gen.shape[1:]} differ")
    rng = np.random.default_rng(seed)
    real_index = np.sort(rng.permutation(len(real))[:max_images])
    real_sub, gen = real[real_index], gen[np.sort(rng.permutation(len(gen))[:max_images])]
    threshold = hit_threshold(real) if threshold is None else float(threshold)
    real_occ, gen_occ = occupancy(real_sub, threshold), occupancy(gen, threshold)
    real_mean, gen_mean = real_sub.mean(axis=(1, 2)), gen.mean(axis=(1, 2))
    real_pixels, gen_pixels = real_sub[real_sub > threshold], gen[gen > threshold]
    metrics = {
        "n_reference": len(real_sub),
        "n_generated": len(gen),
        "threshold": threshold,
        "occupancy": {
            "real_mean": float(real_occ.mean()),
            "generated_mean": float(gen_occ.mean()),
            "separation_power": separation_power(real_occ, gen_occ, common_bins(real_occ, gen_occ, 30)),
        },
        "intensity": {
            "mean_intensity_separation_power": separation_power(real_mean, gen_mean,
                                                                common_bins(real_mean, gen_mean, 30)),
            "pixel_spectrum_separation_power": (
                separation_power(real_pixels, gen_pixels, common_bins(real_pixels, gen_pixels, 50))
                if len(real_pixels) and len(gen_pixels) else float("nan")),
            "average_image_mean_abs_difference": float(np.mean(np.abs(real_sub.mean(axis=0) - gen.mean(axis=0)))),
        },
    }
    train_images, held_out = _memorisation_split(real_sub, None if training is None else as_images(training))
    if len(train_images) >= 2:
        metrics["memorisation"] = memorisation_report(gen, train_images, held_out)
    if classifier:
        metrics["classifier"] = image_classifier_auc(real_sub, gen, seed=seed).to_dict()
    if labels is not None:
        if training is not None:
            metrics["digit_score"] = digit_class_score(gen, training, labels, seed=seed)
        else:
            metrics["digit_score"] = digit_class_score(gen, real_sub, np.asarray(labels)[real_index], seed=seed)
    return metrics


def _memorisation_split(reference: np.ndarray, training: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns (training images, held-out images or None) for the memorisation report.

    Reference images that are training images (a watch run compares with the
    data it trained on) are no yardstick: they are dropped; when fewer than a
    tenth remain, or without `training`, the reference is both the training
    set and, leave-one-out, the yardstick.
    """
    if training is not None:
        distance, _ = nearest_neighbour_distances(reference, training)
        unseen = reference[distance > 0]
        if len(unseen) >= max(2, len(reference) // 10):
            return training, unseen
    return reference, None


# === The evaluation suite of the image data sets (physgan.evaluate) ===

IMAGE_OBSERVABLE_LABELS = {
    "intensity_sum": "summed intensity [image units]",
    "max_pixel": "brightest pixel [image units]",
    "n_hit": "hit pixels (> 1 % of the brightest)",
    "x_mean": "x centroid [pixel]",
    "y_mean": "y centroid [pixel]",
    "x_width": "x width (weighted std) [pixel]",
    "y_width": "y width (weighted std) [pixel]",
}


def _image_observable_catalogue() -> dict:
    from physgan.metrics.calo import Observable

    return {name: Observable(label) for name, label in IMAGE_OBSERVABLE_LABELS.items()}


def image_observables(images) -> dict[str, np.ndarray]:
    """Returns per-image observables (N,) of images (N, H, W) in physical units (negative
    pixels count as 0): summed intensity, brightest pixel, hit pixels (above 1 % of the
    image's brightest, so no data-set scale is needed), intensity-weighted centroids and
    widths in pixels (0 for an empty image)."""
    a = np.maximum(as_images(images), 0.0)
    moments = weighted_moments(a)
    brightest = a.max(axis=(1, 2), initial=0.0)
    return {
        "intensity_sum": moments["total"],
        "max_pixel": brightest,
        "n_hit": ((a > HIT_FRACTION_OF_RANGE * brightest[:, None, None]) & (a > 0)).sum(axis=(1, 2)).astype("float64"),
        "x_mean": moments["col_mean"],
        "y_mean": moments["row_mean"],
        "x_width": moments["col_width"],
        "y_width": moments["row_width"],
    }


def weighted_moments(a: np.ndarray) -> dict[str, np.ndarray]:
    """Returns the intensity-weighted moments (N,) of images `a` (N, rows, cols), in index
    units: `total`, `row_mean`, `col_mean`, `row_width`, `col_width` (weighted standard
    deviations) and `covariance` of row and column; 0 for an empty image."""
    total = a.sum(axis=(1, 2))
    weight = a / np.where(total > 0, total, 1.0)[:, None, None]
    rows = np.arange(a.shape[1])[None, :, None]
    cols = np.arange(a.shape[2])[None, None, :]
    row_mean, col_mean = (weight * rows).sum(axis=(1, 2)), (weight * cols).sum(axis=(1, 2))
    d_row, d_col = rows - row_mean[:, None, None], cols - col_mean[:, None, None]
    return {
        "total": total,
        "row_mean": row_mean,
        "col_mean": col_mean,
        "row_width": np.sqrt((weight * d_row**2).sum(axis=(1, 2))),
        "col_width": np.sqrt((weight * d_col**2).sum(axis=(1, 2))),
        "covariance": (weight * d_row * d_col).sum(axis=(1, 2)),
    }


def observable_matrix(observables: dict[str, np.ndarray], names, log_names=()) -> np.ndarray:
    """Returns the observables `names` as one (N, k) float64 array, those in `log_names`
    as ln(1 + value) (FPD, KPD and the high-level classifier)."""
    return np.stack([np.log1p(np.asarray(observables[n], "float64")) if n in log_names
                     else np.asarray(observables[n], "float64") for n in names], axis=1)


def mean_image_difference(real_images, generated_images) -> tuple[float, float]:
    """Returns how far the mean image of `generated_images` is from that of `real_images`
    (both (N, H, W), physical units): the summed |difference| of the per-pixel means as a
    fraction of the real mean sum, and the largest relative difference of a pixel that the
    real mean occupies (above 10^-3 of its brightest pixel)."""
    real = as_images(real_images).mean(axis=0)
    fake = as_images(generated_images).mean(axis=0)
    occupied = real > 1e-3 * real.max()
    return float(np.abs(fake - real).sum() / real.sum()), float((np.abs(fake - real)[occupied] / real[occupied]).max())


def image_extra_metrics(reference, generated) -> dict[str, float]:
    """Returns the image suite's own metrics of `generated` against `reference` (ImageEvents):
    the mean image's `mean_image_l1` (`mean_image_difference`; its largest pixel difference is
    left out: rarely inked pixels make it noisy, 0.9 between two halves of the real digits) and,
    when the reference has labels (digits), `digit_class_score`'s confidence, diversity and
    inception score with a classifier fitted on the reference."""
    metrics = {"mean_image_l1": mean_image_difference(reference.images, generated.images)[0]}
    if reference.labels is not None and len(np.unique(reference.labels)) > 1:
        score = digit_class_score(generated.images, reference.images, reference.labels)
        metrics.update({f"digit_{key}": score[key] for key in
                        ("confidence", "diversity", "inception_score", "classifier_accuracy")})
    return metrics


def image_evaluation():
    """Returns the `Evaluation` suite of the image data sets (digits, MNIST, LArCV): the
    `image_observables`, low-level classifier on the pixels, `image_extra_metrics`."""
    from physgan.datasets import Evaluation

    return Evaluation(lambda events: image_observables(events.images), _image_observable_catalogue(),
                      lambda observables: observable_matrix(observables, IMAGE_OBSERVABLE_LABELS),
                      lambda events: _flat(events.images), image_extra_metrics)
