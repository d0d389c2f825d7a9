"""physgan.layers: shapes, configs, and numbers against direct loop implementations."""

import keras
import numpy as np
import pytest

from physgan.layers import (
    EnergyFeatures,
    InpaintingGate,
    LayerEnergy,
    LocallyConnected2D,
    MinibatchDiscrimination,
    Sparsity,
    TotalEnergy,
)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _lc2d_loop(x, kernel, bias, kernel_size, strides):
    """Keras 2's LocallyConnected2D, one output position at a time."""
    batch, rows, cols, channels = x.shape
    kr, kc = kernel_size
    out_rows, out_cols = (rows - kr) // strides[0] + 1, (cols - kc) // strides[1] + 1
    out = np.zeros((batch, out_rows, out_cols, kernel.shape[-1]))
    for i in range(out_rows):
        for j in range(out_cols):
            r, c = i * strides[0], j * strides[1]
            patch = x[:, r : r + kr, c : c + kc, :].reshape(batch, -1)
            out[:, i, j] = patch @ kernel[i * out_cols + j]
            if bias is not None:
                out[:, i, j] += bias[i, j]
    return out


@pytest.mark.parametrize(
    "shape, filters, kernel_size, strides, use_bias",
    [((5, 98, 64), 16, (3, 3), (1, 2), True), ((14, 14, 16), 6, (2, 2), (1, 1), True),
     ((13, 13, 6), 1, (2, 2), (1, 1), False), ((6, 51, 8), 8, (2, 2), (1, 2), True)],
)
def test_locally_connected_matches_a_loop(shape, filters, kernel_size, strides, use_bias):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, *shape)).astype("float32")
    layer = LocallyConnected2D(filters, kernel_size, strides=strides, use_bias=use_bias,
                               bias_initializer="random_normal")
    out = _numpy(layer(x))
    kernel = _numpy(layer.kernel)
    bias = _numpy(layer.bias) if use_bias else None
    assert out.shape == layer.compute_output_shape((3, *shape))
    np.testing.assert_allclose(out, _lc2d_loop(x, kernel, bias, kernel_size, strides), rtol=1e-4, atol=1e-4)


@pytest.mark.backend_free
def test_locally_connected_has_keras2_weight_layout_and_count():
    layer = LocallyConnected2D(6, 2)
    layer.build((None, 14, 14, 16))
    assert tuple(layer.kernel.shape) == (13 * 13, 2 * 2 * 16, 6)
    assert tuple(layer.bias.shape) == (13, 13, 6)
    assert layer.count_params() == 13 * 13 * (64 * 6 + 6)


@pytest.mark.backend_free
def test_locally_connected_rejects_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        LocallyConnected2D(4, 2, padding="same")
    with pytest.raises(ValueError, match="filters"):
        LocallyConnected2D(0, 2)
    with pytest.raises(ValueError, match="kernel_size"):
        LocallyConnected2D(4, (2, 0))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        LocallyConnected2D(4, 5).build((None, 3, 3, 1))


def test_minibatch_discrimination_matches_a_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 7)).astype("float32") * 0.3
    layer = MinibatchDiscrimination(4, 3)
    layer.build((None, 7))
    layer.bias.assign(rng.normal(size=(4, 3)).astype("float32"))
    out = _numpy(layer(x))
    kernel, bias = _numpy(layer.kernel), _numpy(layer.bias)
    m = np.stack([np.stack([x[b] @ kernel[k] + bias[k] for k in range(4)]) for b in range(6)])
    expected = np.zeros((6, 4))
    for i in range(6):
        for k in range(4):
            expected[i, k] = np.tanh(sum(np.exp(-np.abs(m[i, k] - m[j, k]).sum()) for j in range(6)))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert out.shape == (6, 4)
    assert layer.count_params() == 4 * 7 * 3 + 4 * 3


def test_minibatch_discrimination_sees_a_collapsed_batch():
    layer = MinibatchDiscrimination(10, 10)
    diverse = np.random.default_rng(2).normal(size=(16, 5)).astype("float32") * 10
    collapsed = np.repeat(diverse[:1], 16, axis=0)
    # Identical samples are at distance 0 from each other: every feature -> tanh(16).
    np.testing.assert_allclose(_numpy(layer(collapsed)), np.tanh(16.0), rtol=1e-6)
    assert _numpy(layer(diverse)).mean() < np.tanh(16.0)


def test_sparsity_and_layer_energy():
    x = np.zeros((2, 3, 4, 1), "float32")
    x[0, 0, 0, 0] = 2.0
    x[0, 1, 2, 0] = 0.5
    x[1] = 1.0
    np.testing.assert_allclose(_numpy(Sparsity()(x))[:, 0], [2 / 12, 1.0])
    np.testing.assert_allclose(_numpy(Sparsity(threshold=1.0)(x))[:, 0], [1 / 12, 0.0])
    # Soft: each cell counts x / (x + s); bright cells about 1, faint ones a fraction.
    soft = _numpy(Sparsity(softness=0.5)(x))[:, 0]
    np.testing.assert_allclose(soft, [(2 / 2.5 + 0.5 / 1.0) / 12, 1 / 1.5], rtol=1e-6)
    # ... and it has a slope where the hard count has none: s / (x + s)^2 per cell.
    nudged = x.copy()
    nudged[0, 1, 2, 0] += 1e-3
    slope = (_numpy(Sparsity(softness=0.5)(nudged)) - _numpy(Sparsity(softness=0.5)(x)))[0, 0] / 1e-3
    assert slope == pytest.approx(0.5 / 1.0**2 / 12, rel=1e-2)
    assert _numpy(Sparsity()(nudged))[0, 0] == _numpy(Sparsity()(x))[0, 0]
    with pytest.raises(ValueError, match="softness"):
        Sparsity(softness=-1.0)
    np.testing.assert_allclose(_numpy(LayerEnergy()(x))[:, 0], [2.5, 12.0])
    np.testing.assert_allclose(_numpy(TotalEnergy()(np.array([[1.0, 2.0, 3.5]], "float32"))), [[6.5]])


def test_energy_features_follow_calogan():
    layers = np.array([[10.0, 40.0, 1.0], [1.0, 2.0, 0.0]], "float32")
    incident = np.array([[50.0], [10.0]], "float32")
    out = _numpy(EnergyFeatures()([layers, incident]))
    np.testing.assert_allclose(out[0], [1.0, 4.0, 0.1, 0.51, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.1, 0.2, 0.0, 0.03, 7.0, 10.0], rtol=1e-6)


def test_inpainting_gate_starts_as_the_own_image_and_can_carry():
    rng = np.random.default_rng(3)
    own = rng.uniform(size=(2, 12, 6, 1)).astype("float32")
    carried = rng.uniform(size=(2, 12, 6, 1)).astype("float32")
    gate = InpaintingGate()
    out = _numpy(gate([own, carried]))
    assert out.shape == (2, 12, 6, 1)
    assert gate.count_params() == 12 * 6 * (3 * 3 * 2 * 2 + 2)  # 2,736 as in CaloGAN
    # Untrained, the carried channel's bias of -10 keeps it out (exp(-10) ~ 5e-5) ...
    np.testing.assert_allclose(out, own, atol=2e-3)
    # ... and the output is the softmax-weighted mix, computed here by hand.
    bias = np.zeros((12, 6, 2), "float32")
    gate.mixing.bias.assign(bias)
    kernel = _numpy(gate.mixing.kernel)
    both = np.concatenate([own, carried], axis=-1)
    logits = _lc2d_loop(np.pad(both, ((0, 0), (1, 1), (1, 1), (0, 0))), kernel, bias, (3, 3), (1, 1))
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(_numpy(gate([own, carried])), (both * weights).sum(-1, keepdims=True),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [
    LocallyConnected2D(3, (2, 3), strides=(1, 2), use_bias=False, kernel_initializer="he_uniform"),
    MinibatchDiscrimination(5, 4, activation=None),
    Sparsity(threshold=0.1),
    Sparsity(softness=1e-4),
    EnergyFeatures(tolerance=3.0, flag_value=2.0),
    InpaintingGate(carried_bias=-5.0),
    LayerEnergy(),
])
def test_layers_rebuild_from_their_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)).get_config() == config


def test_inpainting_gate_weights_survive_a_keras_file(tmp_path):
    own = keras.Input((12, 12, 1))
    carried = keras.Input((12, 12, 1))
    model = keras.Model([own, carried], InpaintingGate(name="gate")([own, carried]))
    x = [np.random.default_rng(4).uniform(size=(2, 12, 12, 1)).astype("float32") for _ in range(2)]
    model.get_layer("gate").mixing.bias.assign(np.random.default_rng(5).normal(size=(12, 12, 2)))
    model.save(tmp_path / "gate.keras")
    reloaded = keras.saving.load_model(tmp_path / "gate.keras")
    np.testing.assert_allclose(_numpy(reloaded(x)), _numpy(model(x)), rtol=1e-6)


def test_spatial_layer_norm_is_pytorch_layernorm_and_stable_for_nearly_constant_channels():
    from physgan.layers import SpatialLayerNorm

    rng = np.random.default_rng(0)
    # A channel nearly constant over the volume: mean 100, spread 0.1 (the
    # BIB-AE post-processor's broadcast condition); in float32, E[x^2] - E[x]^2
    # is off by ~10% here.
    x = (100.0 + 0.1 * rng.standard_normal((2, 5, 6, 7, 3))).astype("float32")
    layer = SpatialLayerNorm(data_format="channels_last", scale_initializer="random_normal")
    got = keras.ops.convert_to_numpy(layer(x))
    x64 = x.astype("float64")
    mean = x64.mean(axis=(1, 2, 3), keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True)
    gamma, beta = (keras.ops.convert_to_numpy(w)[..., None] for w in (layer.gamma, layer.beta))
    expected = (x64 - mean) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-3)
    assert layer.gamma.shape == (5, 6, 7)
    # channels-first (torch's fused layer_norm on torch) meets the same reference
    first = SpatialLayerNorm(data_format="channels_first")
    first.build((2, 3, 5, 6, 7))
    first.set_weights(layer.get_weights())
    got = np.moveaxis(keras.ops.convert_to_numpy(first(np.moveaxis(x, -1, 1))), 1, -1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-3)
    first = SpatialLayerNorm(data_format="channels_first")
    last = SpatialLayerNorm(data_format="channels_last")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first(np.moveaxis(x, -1, 1))),
                               np.moveaxis(keras.ops.convert_to_numpy(last(x)), -1, 1), atol=2e-3)
