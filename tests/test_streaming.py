"""Training CaloGAN from disk, batch by batch."""

import numpy as np
import pytest

import physgan
from physgan.data.calogan import read_calogan
from physgan.errors import ConfigError
from physgan.streaming import ShowerStream


@pytest.mark.backend_free
def test_stream_serves_every_batch_of_the_file_once_per_epoch(shared_data):
    path = shared_data / "calogan_eplus.h5"
    stream = ShowerStream("calogan", path, batch_size=32, max_events=128, seed=0)
    assert len(stream) == 4
    showers = read_calogan(path, max_events=128)
    seen = sorted(float(stream[i]["energy"][0, 0]) for i in range(len(stream)))
    assert seen == sorted(float(e) for e in showers.incident_energy[::32])
    batch = stream[0]
    start = int(stream.order[0]) * 32
    np.testing.assert_allclose(batch["layer_1"][..., 0], showers.layers[1][start : start + 32] / 1000.0)
    first_order = stream.order.copy()
    stream.on_epoch_end()
    assert sorted(stream.order) == sorted(first_order)


def test_a_model_trains_from_the_stream(shared_data):
    stream = ShowerStream("calogan", shared_data / "calogan_gamma.h5", batch_size=16, max_events=64)
    model = physgan.get_model("calogan", latent_size=8, energy_range=stream.energy_range)
    model.compile()
    history = model.fit(stream, epochs=1, verbose=0)
    assert int(model.generator_optimizer.iterations) == 2 * len(stream)
    assert np.isfinite(history.history["generator_loss"][0])


@pytest.mark.backend_free
def test_stream_needs_a_full_batch(shared_data):
    with pytest.raises(ConfigError, match="fewer than one batch"):
        ShowerStream("calogan", shared_data / "calogan_gamma.h5", batch_size=64, max_events=10)


@pytest.mark.backend_free
def test_ild_stream_serves_training_batches_of_the_getting_high_layout(shared_data):
    from physgan.data.ild import read_ild

    path = shared_data / "ild_photons.h5"  # datasets at the file root
    stream = ShowerStream("ild", path, batch_size=4, max_events=12, seed=0)
    assert len(stream) == 3 and stream.energy_range[0] >= 10 and stream.energy_range[1] <= 100
    batch = stream[1]
    start = int(stream.order[1]) * 4
    assert batch["layers"].shape == (4, 30, 30, 30, 1)
    np.testing.assert_array_equal(batch["layers"][..., 0], read_ild(path, max_events=4, start=start).layers)


@pytest.mark.backend_free
def test_a_data_set_without_a_stream_says_so(shared_data):
    with pytest.raises(ConfigError, match="mpd_tpc data set cannot be streamed"):
        ShowerStream("mpd_tpc", shared_data / "calogan_gamma.h5", batch_size=4)


@pytest.mark.backend_free
def test_a_streamed_run_reads_a_sample_of_events_for_its_model_options(shared_data):
    from physgan.runner import STREAM_SAMPLE_EVENTS, _training_data

    path = shared_data / "calogan_eplus.h5"
    options = {"stream": True, "data": str(path), "max_events": None}
    data, stream = _training_data("calogan", options, batch_size=32)
    assert data.n_events == STREAM_SAMPLE_EVENTS and len(stream) == len(read_calogan(path).incident_energy) // 32
    data, _ = _training_data("calogan", {**options, "max_events": 100}, batch_size=32)
    assert data.n_events == 100


@pytest.mark.backend_free
def test_each_process_streams_its_own_equal_share_of_the_batches(shared_data):
    path = shared_data / "calogan_eplus.h5"
    shards = [ShowerStream("calogan", path, batch_size=16, max_events=100, seed=0, shard=(i, 2)) for i in (0, 1)]
    assert [len(s) for s in shards] == [3, 3]  # 6 batches of 16 in 100 events, 3 each
    assert sorted(shards[0].order) == [0, 1, 2] and sorted(shards[1].order) == [3, 4, 5]
    shards[1].on_epoch_end()
    assert sorted(shards[1].order) == [3, 4, 5]
    energy = read_calogan(path, max_events=100).incident_energy
    batch = shards[1][0]
    start = int(shards[1].order[0]) * 16
    np.testing.assert_allclose(batch["energy"][:, 0], energy[start:start + 16], rtol=1e-6)
    with pytest.raises(ConfigError, match="fewer than one batch of 16 for each of 8 processes"):
        ShowerStream("calogan", path, batch_size=16, max_events=100, shard=(0, 8))
