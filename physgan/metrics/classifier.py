"""The CaloChallenge classifier test: can a DNN tell generated from reference showers?

A small Keras network is trained on a 60/20/20 train/validation/test split
with early stopping on the validation loss; the AUC on the test split is 0.5
for indistinguishable samples and 1 for perfectly separable ones. The
JSD-like figure CaloChallenge also quotes, (ln 2 - test BCE) / ln 2, is 0 for
indistinguishable samples and 1 for separable ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class ClassifierResult:
    """Test-split AUC and JSD-like figure of one classifier run."""

    auc: float
    jsd: float
    test_loss: float
    epochs: int
    n_test: int

    def to_dict(self) -> dict:
        return asdict(self)


def low_level_features(showers) -> np.ndarray:
    """Returns the cells divided by the incident energy (both MeV), and log10(E / GeV)."""
    energy = np.asarray(showers.incident_energy, "float64")
    layers = showers.layers
    if isinstance(layers, np.ndarray):  # one volume per shower (ILD)
        cells = layers.reshape(len(layers), -1)
    else:  # several layer images per shower (CaloGAN)
        cells = np.concatenate([layer.reshape(len(layer), -1) for layer in layers], axis=1)
    return np.concatenate([cells / (1000.0 * energy[:, None]), np.log10(energy)[:, None]], axis=1)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Returns the area under the ROC curve (rank formula, ties averaged)."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    ranks = rankdata(scores)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classifier_auc(reference: np.ndarray, generated: np.ndarray, hidden: tuple[int, ...] = (256, 256),
                   epochs: int = 50, batch_size: int = 256, patience: int = 5,
                   seed: int = 0) -> ClassifierResult:
    """Returns the test-split AUC of a DNN trained to separate `generated` from `reference` features."""
    import keras

    x = np.concatenate([reference, generated]).astype("float64")
    y = np.concatenate([np.zeros(len(reference)), np.ones(len(generated))]).astype("float32")
    mean, std = x.mean(axis=0), x.std(axis=0)
    x = ((x - mean) / np.where(std > 0, std, 1.0)).astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_train, n_val = int(0.6 * len(x)), int(0.2 * len(x))
    train, val, test = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((x.shape[1],))
    h = inputs
    for units in hidden:
        h = keras.layers.Dense(units, activation="leaky_relu")(h)
        h = keras.layers.Dropout(0.2)(h)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(keras.optimizers.Adam(2e-4), loss="binary_crossentropy")
    stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    history = model.fit(x[train], y[train], validation_data=(x[val], y[val]), epochs=epochs,
                        batch_size=batch_size, callbacks=[stop], verbose=0)
    scores = model.predict(x[test], batch_size=4096, verbose=0)[:, 0]
    clipped = np.clip(scores, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y[test] * np.log(clipped) + (1 - y[test]) * np.log(1 - clipped)))
    return ClassifierResult(auc=roc_auc(y[test], scores), jsd=float((np.log(2.0) - loss) / np.log(2.0)),
                            test_loss=loss, epochs=len(history.history["loss"]), n_test=len(scores))
