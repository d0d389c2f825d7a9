"""Image metrics and figures (digits, MNIST, LArCV-like tracks), checked on the
1,797 real 8x8 handwritten digits of scikit-learn, on the bundled simulated
64x64 LArCV-like sample and on hand-made sparse tracks."""

import numpy as np
import pytest

from physgan.data.digits import DigitImages
from physgan.data.larcv import LArCVImages
from physgan.metrics.images import (
    _nearest,
    as_images,
    digit_class_score,
    fit_digit_classifier,
    hit_threshold,
    image_classifier_auc,
    image_metrics,
    memorisation_report,
    nearest_neighbour_distances,
)
from physgan.plots import plot_samples
from physgan.plots.images import (
    plot_image_grid,
    plot_image_observables,
    plot_real_vs_generated_grid,
    plot_samples_over_epochs,
    sample_files,
)

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


@pytest.fixture(scope="module")
def digits():
    """The real digits (pixel values 0..16), shuffled once: (images, labels)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    order = np.random.default_rng(1).permutation(len(data.images))
    return data.images[order], data.target[order]


@pytest.fixture(scope="module")
def split(digits):
    """(train images, train labels, held-out images, held-out labels): 1,200 / 597."""
    images, labels = digits
    return images[:1200], labels[:1200], images[1200:], labels[1200:]


@pytest.fixture(scope="module")
def classifier(split):
    return fit_digit_classifier(split[0], split[1])


def tracks(n: int, seed: int = 0) -> np.ndarray:
    """Returns n sparse 64x64 LArCV-like images: one straight track of charge (MeV-like units) each."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 64, 64), "float32")
    for i in range(n):
        start, angle = rng.uniform(8, 56, 2), rng.uniform(0, np.pi)
        for step in np.linspace(0, rng.uniform(10, 40), 80):
            r, c = (start + step * np.array([np.sin(angle), np.cos(angle)])).astype(int)
            if 0 <= r < 64 and 0 <= c < 64:
                images[i, r, c] += rng.exponential(0.5)
    return images


# === Nearest neighbours ===

@pytest.mark.parametrize("metric", ["l2", "hamming"])
def test_nearest_neighbour_distances_match_brute_force(digits, metric):
    images, _ = digits
    generated, training = images[:37] + np.random.default_rng(0).normal(0, 1, (37, 8, 8)), images[100:351]
    distance, index = nearest_neighbour_distances(generated, training, metric=metric, threshold=8.0, chunk_size=16)
    g, t = generated.reshape(37, 1, 64), training.reshape(1, 251, 64)
    if metric == "l2":
        brute = np.sqrt(((g - t) ** 2).sum(axis=2))
    else:
        brute = ((g > 8.0) != (t > 8.0)).sum(axis=2).astype(float)
    np.testing.assert_allclose(distance, brute.min(axis=1), atol=1e-9)
    # Ties (Hamming) may pick another index at the same distance.
    np.testing.assert_allclose(brute[np.arange(37), index], brute.min(axis=1), atol=1e-9)
    if metric == "l2":
        np.testing.assert_array_equal(index, brute.argmin(axis=1))


def test_nearest_neighbour_of_a_training_image_is_itself(digits):
    images, _ = digits
    distance, index = nearest_neighbour_distances(images[:50], images[:500], chunk_size=64)
    np.testing.assert_allclose(distance, 0.0, atol=1e-6)
    assert (images[index] == images[:50]).all()


def test_nearest_neighbour_checks_its_arguments(digits):
    images, _ = digits
    with pytest.raises(ValueError, match="metric must be one of l2, hamming, got 'cosine'"):
        nearest_neighbour_distances(images[:3], images, metric="cosine")
    with pytest.raises(ValueError, match="differ in shape"):
        nearest_neighbour_distances(images[:3], np.zeros((4, 28, 28)))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W\)"):
        as_images(np.zeros((4, 64)))
    assert as_images(images[:4, :, :, None]).shape == (4, 8, 8)
    assert as_images({"image": images[:2, :, :, None]}).shape == (2, 8, 8)


# === Memorisation ===

def test_memorisation_report_flags_copies(split):
    train, _, held_out, _ = split
    copies = train[:400] + np.random.default_rng(2).normal(0, 0.05, (400, 8, 8))
    # The digits are integers 0..16: binarised between two of them, the noise flips no pixel.
    for metric in ("l2", "hamming"):
        report = memorisation_report(copies, train, held_out, metric=metric, threshold=7.5)
        assert report["copy_fraction"] > 0.95, report
        assert report["ratio"] < 0.1, report
        assert report["held_out_copy_fraction"] < 0.2, report
        assert report["verdict"] == "copies"


def test_memorisation_report_does_not_flag_new_real_digits(split):
    train, _, held_out, _ = split
    report = memorisation_report(held_out[:300], train, held_out[300:])
    assert 0.8 < report["ratio"] < 1.25, report
    assert report["copy_fraction"] < 0.05, report
    assert report["verdict"] == "as far as real data"
    assert report["n_generated"] == 300 and report["n_training"] == 1200 and report["n_held_out"] == 297
    noise = np.random.default_rng(0).uniform(0, 16, size=(200, 8, 8))
    assert memorisation_report(noise, train, held_out)["verdict"] == "farther than real data"


def test_memorisation_report_leave_one_out(split):
    train, _, held_out, _ = split
    report = memorisation_report(held_out[:300], train)
    flat = train[:200].reshape(200, 1, 64)
    brute = np.sqrt(((flat - flat.transpose(1, 0, 2)) ** 2).sum(axis=2))
    np.fill_diagonal(brute, np.inf)
    small = memorisation_report(train[:5], train[:200])
    assert small["held_out_to_train_median"] == pytest.approx(np.median(brute.min(axis=1)))
    assert small["generated_to_train_median"] == 0.0 and small["verdict"] == "copies"
    blocked, index = _nearest(train[:200], train[:200], "l2", None, 16, leave_one_out=True)
    np.testing.assert_allclose(blocked, brute.min(axis=1), atol=1e-9)
    assert (index != np.arange(200)).all()
    assert report["n_held_out"] == 0 and 0.8 < report["ratio"] < 1.25, report


def test_memorisation_report_of_noise_is_far(split):
    train, _, held_out, _ = split
    noise = np.random.default_rng(3).uniform(0, 16, (200, 8, 8))
    report = memorisation_report(noise, train, held_out)
    assert report["ratio"] > 1.5 and report["copy_fraction"] == 0.0


# === Digit class score ===

def test_digit_class_score_is_confident_and_diverse_on_real_digits(split, classifier):
    score = digit_class_score(split[2], classifier=classifier)
    assert classifier.held_out_accuracy > 0.9
    assert score["confidence"] > 0.8, score
    assert score["diversity"] > 9.5, score
    assert score["inception_score"] > 5.0, score
    assert sum(score["class_fractions"]) == pytest.approx(1.0)


def test_digit_class_score_is_unsure_on_noise(classifier):
    noise = np.random.default_rng(4).uniform(0, 16, (500, 8, 8))
    score = digit_class_score(noise, classifier=classifier)
    assert score["confidence"] < 0.6, score
    assert score["inception_score"] < 2.5, score


def test_digit_class_score_diversity_is_one_for_a_single_digit(split):
    train, labels, held_out, held_labels = split
    sevens = held_out[held_labels == 7]
    same = np.repeat(sevens[:1], 200, axis=0) + np.random.default_rng(5).normal(0, 0.3, (200, 8, 8))
    score = digit_class_score(same, train, labels)
    assert score["diversity"] == pytest.approx(1.0)
    assert score["class_fractions"][7] == 1.0
    assert score["inception_score"] < 1.1


# === Classifier test ===

def test_image_classifier_auc_real_vs_real_and_vs_noise(digits):
    images, _ = digits
    options = dict(hidden=(32,), batch_size=32, patience=2)  # seconds, not minutes
    same = image_classifier_auc(images[:900], images[900:], epochs=3, **options)
    assert abs(same.auc - 0.5) < 0.1, same
    noise = image_classifier_auc(images[:600], np.random.default_rng(6).uniform(0, 16, (600, 8, 8, 1)), epochs=6,
                                 **options)
    assert noise.auc > 0.97, noise


def test_image_metrics_of_real_digits_and_of_copies(split):
    train, labels, held_out, _ = split
    metrics = image_metrics(held_out, held_out[::-1] + 0.0, training=train, labels=labels, classifier=False)
    assert metrics["occupancy"]["real_mean"] == pytest.approx(metrics["occupancy"]["generated_mean"])
    assert metrics["intensity"]["pixel_spectrum_separation_power"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["memorisation"]["ratio"] == pytest.approx(1.0)
    assert metrics["digit_score"]["diversity"] > 9.5
    noisy = image_metrics(train[:500], np.clip(train[:500] + 8.0, 0, 16), classifier=False)
    assert noisy["occupancy"]["generated_mean"] > noisy["occupancy"]["real_mean"] + 0.3
    assert noisy["intensity"]["mean_intensity_separation_power"] > 0.5
    assert "classifier" not in noisy and "digit_score" not in noisy
    assert noisy["memorisation"]["n_training"] == 500 and noisy["memorisation"]["n_held_out"] == 0


def test_image_metrics_of_a_run_compared_with_its_own_training_data(split):
    """watch_results compares with the data the model trained on: the
    yardstick is then leave-one-out, and copies are still caught."""
    train = split[0][:600]
    copies = train[::-1][:300] + np.random.default_rng(8).normal(0, 0.05, (300, 8, 8))
    report = image_metrics(train, copies, training=train, classifier=False)["memorisation"]
    assert report["n_held_out"] == 0 and report["held_out_to_train_median"] > 10
    assert report["verdict"] == "copies" and report["copy_fraction"] > 0.95


def test_image_metrics_of_sparse_tracks():
    real, generated = tracks(60, seed=0), tracks(60, seed=1)
    assert hit_threshold(real) == pytest.approx(0.01 * real.max())
    metrics = image_metrics(real, generated, training=tracks(100, seed=2), classifier=False)
    assert 0.005 < metrics["occupancy"]["real_mean"] < 0.02
    assert metrics["memorisation"]["copy_fraction"] == 0.0


# === Figures ===

def _png(path) -> bool:
    return path.exists() and path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_figures_are_written(tmp_path, split):
    train, _, held_out, _ = split
    generated = np.clip(held_out + np.random.default_rng(7).normal(0, 2, held_out.shape), 0, 16)
    paths = [
        plot_image_grid(train[:, :, :, None], tmp_path / "grid.png", 4, 5, title="digits"),
        plot_real_vs_generated_grid(held_out, generated, tmp_path / "real_vs_generated.png"),
        plot_image_observables(held_out, generated, tmp_path / "observables.png"),
        plot_image_grid(tracks(10), tmp_path / "tracks.png", 3, 4),  # fewer images than panels
    ]
    assert all(_png(p) for p in paths)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_samples_over_epochs_sorts_by_epoch_number(tmp_path, split):
    samples = tmp_path / "run" / "samples"
    samples.mkdir(parents=True)
    for epoch in (10, 2, 1, 100):
        np.save(samples / f"epoch_{epoch:04d}.npy", split[2][:64].astype("float32"))
    (samples / "notes.txt").write_text("not a sample")
    files = sample_files(tmp_path / "run")
    assert [f.name for f in files] == ["epoch_0001.npy", "epoch_0002.npy", "epoch_0010.npy", "epoch_0100.npy"]
    assert sample_files(tmp_path / "elsewhere") == []
    assert _png(plot_samples_over_epochs(files, tmp_path / "over_epochs.png", n_per_epoch=6))
    codes = tmp_path / "codes" / "samples"
    codes.mkdir(parents=True)
    for epoch in (1, 2):
        np.save(codes / f"epoch_{epoch:04d}.npy", np.random.default_rng(epoch).normal(size=(64, 20)).astype("float32"))
    assert _png(plot_samples_over_epochs(sample_files(tmp_path / "codes"), tmp_path / "codes.png"))


@pytest.mark.parametrize("dataset", ["digits", "larcv"])
def test_plot_samples_dispatches_image_data_sets(tmp_path, split, dataset):
    if dataset == "digits":
        real, generated = DigitImages(split[2]), DigitImages(split[0][:300])
    else:
        real, generated = LArCVImages(tracks(40)), LArCVImages(tracks(40, seed=3))
    paths = plot_samples(dataset, real, generated, tmp_path)
    assert [p.name for p in paths] == ["examples.png", "observables.png"]
    assert all(_png(p) for p in paths)


def test_image_metrics_on_the_bundled_larcv_tracks(tmp_path):
    """The simulated 64x64 LArCV-like sample: two halves of it are alike and not copies."""
    from physgan.data.images import read_images
    from physgan.data.larcv_sim import bundled_sample_path

    images = read_images(bundled_sample_path(), max_events=900)
    real, other, training = images[:300], images[300:600], images[600:]
    metrics = image_metrics(real, other, training=training, threshold=0.0, classifier=False)
    assert 0.005 < metrics["occupancy"]["real_mean"] < 0.05
    assert metrics["occupancy"]["separation_power"] < 0.1
    assert 0.8 < metrics["memorisation"]["ratio"] < 1.25 and metrics["memorisation"]["copy_fraction"] == 0.0
    hamming = memorisation_report(other, training, real, metric="hamming", threshold=0.0)
    assert 0.8 < hamming["ratio"] < 1.25, hamming
    paths = plot_samples("larcv", LArCVImages(real), LArCVImages(other), tmp_path)
    assert all(_png(p) for p in paths)
