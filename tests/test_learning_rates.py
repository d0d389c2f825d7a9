"""Keras' own callbacks steer the learning rates of a model made of several networks
(here MPD's WGAN-GP on real TPC responses): each network's rate changes, the ratio
between them is kept, and the rates survive a save and reload."""

import keras
import numpy as np
import pytest

import physgan
from physgan.training import LearningRateDecay

GENERATOR_LR, CRITIC_LR = 3e-4, 1e-4


def _model():
    """MPD's WGAN without its own per-epoch decay, the critic at a third of the generator's rate."""
    model = physgan.get_model("mpd_wgan", seed=0, lr_decay_per_epoch=1.0)
    model.compile(optimizers={"critic": keras.optimizers.RMSprop(CRITIC_LR)})
    return model


def _rates(model) -> tuple[float, float]:
    return tuple(float(keras.ops.convert_to_numpy(model.network_optimizer(name).learning_rate))
                 for name in ("generator", "critic"))


def test_learning_rate_scheduler_sets_every_networks_rate_and_logs_them(mpd_images):
    model = _model()
    history = model.fit(mpd_images, batch_size=64, epochs=2, verbose=0,
                        callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    np.testing.assert_allclose(_rates(model), (GENERATOR_LR / 4, CRITIC_LR / 4), rtol=1e-5)
    np.testing.assert_allclose(history.history["learning_rate_generator"], [GENERATOR_LR / 2, GENERATOR_LR / 4],
                               rtol=1e-5)
    np.testing.assert_allclose(history.history["learning_rate_critic"], [CRITIC_LR / 2, CRITIC_LR / 4], rtol=1e-5)


def test_reduce_lr_on_plateau_monitors_any_logged_loss(mpd_images):
    model = _model()
    # min_delta so large that no epoch after the first counts as an improvement.
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="generator_loss", mode="min", factor=0.1,
                                                patience=1, min_delta=1e9)
    model.fit(mpd_images, batch_size=64, epochs=2, verbose=0, callbacks=[plateau])
    np.testing.assert_allclose(_rates(model), (GENERATOR_LR / 10, CRITIC_LR / 10), rtol=1e-5)


def test_early_stopping_on_a_logged_loss_stops_the_run(mpd_images):
    model = _model()
    stop = keras.callbacks.EarlyStopping(monitor="critic_loss", mode="min", patience=1, min_delta=1e9)
    history = model.fit(mpd_images, batch_size=64, epochs=5, verbose=0, callbacks=[stop])
    assert len(history.history["critic_loss"]) == 2


def test_group_learning_rate_scales_every_network_together():
    model = _model()
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(GENERATOR_LR)
    model.optimizer.learning_rate = GENERATOR_LR / 3
    np.testing.assert_allclose(_rates(model), (GENERATOR_LR / 3, CRITIC_LR / 3), rtol=1e-5)


def test_decay_at_milestones_changes_only_its_networks_and_survives_saving(mpd_images, tmp_path):
    model = _model()
    decay = LearningRateDecay(0.1, networks=("critic",), milestones=(2,))
    model.fit(mpd_images, batch_size=64, epochs=3, verbose=0, callbacks=[decay])
    np.testing.assert_allclose(_rates(model), (GENERATOR_LR, CRITIC_LR / 10), rtol=1e-5)
    model.save(tmp_path / "model.keras")
    reloaded = physgan.load(tmp_path / "model.keras")
    np.testing.assert_allclose(_rates(reloaded), (GENERATOR_LR, CRITIC_LR / 10), rtol=1e-5)


def test_tensorboard_writes_its_event_files(mpd_images, tmp_path):
    pytest.importorskip("tensorboard")  # an optional extra (pip install 'physgan[tensorboard]'); CI installs it
    _model().fit(mpd_images, batch_size=64, epochs=1, verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path))])
    assert list((tmp_path / "train").glob("events.out.tfevents.*"))
