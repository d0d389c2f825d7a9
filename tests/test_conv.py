"""physgan.layers.conv: the reformulated 2D and 3D convolutions against Keras'
own operations (forward, input and kernel gradients, both layouts) on every
backend, and against a direct loop."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from physgan.backend import input_gradient
from physgan.layers.conv import Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose


def _numpy(x):
    return ops.convert_to_numpy(x)


def _transpose_loop(x, kernel, stride, crop):
    """PyTorch's ConvTranspose3d for channels-last x (B, L, L, L, C_in), kernel
    (k, k, k, C_out, C_in): y[o] += x[i] w[o + crop - s*i]."""
    batch, size, _, _, _ = x.shape
    k, filters = kernel.shape[0], kernel.shape[3]
    full = (size - 1) * stride + k
    y = np.zeros((batch, full, full, full, filters))
    for i, j, l in itertools.product(range(size), repeat=3):
        y[:, i * stride:i * stride + k, j * stride:j * stride + k, l * stride:l * stride + k] += np.einsum(
            "bc,xyzoc->bxyzo", x[:, i, j, l], kernel)
    out = size * stride if crop else full
    return y[:, crop:crop + out, crop:crop + out, crop:crop + out]


# (layer, input size, C_in, C_out, kernel, stride, padding): the ILD and CorrVAE models'
# layers at small channel counts, plus odd kernels and strides.
CASES = [
    (Conv3DTranspose, 4, 6, 4, 4, 2, "same"),  # ILD GAN/WGAN generator upsampling
    (Conv3DTranspose, 1, 5, 4, 4, 1, "valid"),  # 1 -> 4^3
    (Conv3DTranspose, 6, 4, 1, 3, 1, "valid"),  # last layer to one channel
    (Conv3DTranspose, 3, 4, 3, 3, 3, "valid"),  # BIB-AE 10 -> 30
    (Conv3DTranspose, 4, 3, 2, 3, 2, "valid"),  # BIB-AE 30 -> 61
    (Conv3DTranspose, 3, 3, 2, 2, 3, "valid"),  # stride > kernel: phases no tap reaches
    (Conv3D, 9, 1, 4, 3, 2, "valid"),  # ILD discriminator
    (Conv3D, 8, 2, 3, (4, 2, 2), (1, 2, 2), "valid"),  # ILD WGAN critic (space-to-depth)
    (Conv3D, 7, 3, 4, (3, 1, 2), (2, 2, 3), "same"),  # space-to-depth with depth taps and a padded tail
    (Conv3D, 8, 3, 4, 4, 2, "same"),
    (Conv3D, 7, 4, 1, 3, 1, "same"),  # BIB-AE last layer to one channel
    (Conv3D, 6, 4, 5, 3, 1, "valid"),
    (Conv2DTranspose, 4, 6, 4, 4, 3, "valid"),  # CorrVAE decoder 4 -> 13 (cropped to 11 after)
    (Conv2DTranspose, 5, 4, 3, 4, 2, "valid"),
    (Conv2DTranspose, 5, 4, 1, 3, 2, "same"),  # to one channel
    (Conv2D, 10, 1, 4, 4, 2, "valid"),  # CorrVAE encoder (space-to-depth, 2x2 taps)
    (Conv2D, 9, 3, 4, 4, 3, "valid"),  # k4 s3: a tail no output reads
    (Conv2D, 8, 3, 4, (3, 2), (2, 2), "same"),
    (Conv2D, 7, 4, 1, 3, 1, "same"),
    (Conv3D, 4, 6, 5, 1, 1, "valid"),  # BIB-AE post-processor (a matrix product over the channels)
    (Conv2D, 4, 3, 1, 1, 1, "same"),
]


def _pair(cls, size, channels, filters, kernel, stride, padding, data_format):
    """Returns the native and the reformulated layer with the same weights, built."""
    spatial = (size,) * (3 if cls in (Conv3D, Conv3DTranspose) else 2)
    shape = (2, *spatial, channels) if data_format == "channels_last" else (2, channels, *spatial)
    common = dict(strides=stride, padding=padding, data_format=data_format, use_bias=True,
                  kernel_initializer="glorot_normal", bias_initializer="random_normal")
    native = cls(filters, kernel, formulation="native", **common)
    reformulated = cls(filters, kernel, formulation="reformulated", **common)
    native.build(shape)
    reformulated.build(shape)
    reformulated.set_weights(native.get_weights())
    return native, reformulated, shape


# Every case channels-last; channels-first (torch's internal layout) for one of each layer.
LAYOUTS = [(case, "channels_last") for case in CASES] + [(CASES[i], "channels_first") for i in (0, 6, 12, 15, 19)]


@pytest.mark.parametrize("case, data_format", LAYOUTS,
                         ids=lambda c: f"{c[0].__name__}-L{c[1]}-{c[2]}to{c[3]}-k{c[4]}s{c[5]}-{c[6]}".replace(" ", "")
                         if isinstance(c, tuple) else c)
def test_reformulation_matches_keras_forward_and_gradients(case, data_format):
    native, reformulated, shape = _pair(*case, data_format)
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.normal(size=shape).astype("float32"))
    expected = _numpy(native(x))
    np.testing.assert_allclose(_numpy(reformulated(x)), expected, rtol=1e-4, atol=1e-5)
    weights = ops.convert_to_tensor(rng.normal(size=expected.shape).astype("float32"))
    grads = [_numpy(input_gradient(lambda v, layer=layer: layer(v) * weights, x)) for layer in (native, reformulated)]
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-4)
    kernel_grads = [_numpy(input_gradient(
        lambda kernel, layer=layer: layer.stateless_call([kernel, layer.bias.value], [], x)[0] * weights,
        ops.convert_to_tensor(_numpy(native.kernel)))) for layer in (native, reformulated)]
    np.testing.assert_allclose(kernel_grads[1], kernel_grads[0], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("stride, crop, padding", [(2, 1, "same"), (3, 0, "valid"), (1, 0, "valid")])
def test_transposed_reformulation_is_pytorch_conv_transpose(stride, crop, padding):
    rng = np.random.default_rng(1)
    layer = Conv3DTranspose(3, 4 if padding == "same" else 3, strides=stride, padding=padding, use_bias=False,
                            formulation="reformulated")
    x = rng.normal(size=(2, 3, 3, 3, 2)).astype("float32")
    got = _numpy(layer(x))
    np.testing.assert_allclose(got, _transpose_loop(x, _numpy(layer.kernel), stride, crop), rtol=1e-4, atol=1e-5)


def test_layers_keep_keras_weights_and_round_trip_a_keras_file(tmp_path):
    inputs = keras.Input((3, 3, 3, 2))
    x = Conv3DTranspose(4, 4, strides=2, padding="same", name="up")(inputs)
    outputs = Conv3D(1, 3, strides=2, name="down")(x)
    model = keras.Model(inputs, outputs)
    plain = keras.Sequential([keras.Input((3, 3, 3, 2)), keras.layers.Conv3DTranspose(4, 4, strides=2, padding="same"),
                              keras.layers.Conv3D(1, 3, strides=2)])
    assert [w.shape for w in model.weights] == [w.shape for w in plain.weights]
    plain.set_weights(model.get_weights())
    x = np.random.default_rng(2).normal(size=(2, 3, 3, 3, 2)).astype("float32")
    np.testing.assert_allclose(_numpy(model(x)), _numpy(plain(x)), rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.get_layer("up").formulation == "auto"
    np.testing.assert_allclose(_numpy(reloaded(x)), _numpy(model(x)), rtol=1e-6)


@pytest.mark.backend_free
def test_bad_formulation_and_unsupported_arguments_are_refused():
    with pytest.raises(ValueError, match="formulation must be one of"):
        Conv3D(2, 3, formulation="fast")
    with pytest.raises(ValueError, match="dilation_rate"):
        Conv3DTranspose(2, 3, dilation_rate=2)
