"""3D convolutions that are fast on every backend, with Keras' weights and numerics.

XLA:CPU (the JAX backend on a CPU) runs two kinds of 3D convolution one to two
orders of magnitude slower than TensorFlow: a transposed convolution with
stride > 1 (XLA's input-dilated convolution; 21 s instead of 0.08 s for the
ILD generator's 16^3 -> 32^3 layer at batch 16) and the first and second
derivatives of a strided convolution (6 s instead of 0.03 s for the input
gradient of the ILD GAN discriminator's first layer; 5.3 s for the gradient
penalty through the ILD WGAN critic's second layer at batch 32). These two
layers compute the same function with operations XLA:CPU runs well:

- `Conv3DTranspose`: a transposed convolution with stride s is s^3
  stride-1 convolutions, one per output phase, each with the kernel taps that
  reach that phase (the "sub-pixel" convolution of Shi et al.,
  arXiv:1609.05158), interleaved by depth-to-space. Each is computed as one
  matrix product with all its taps and a sum of shifted slices, which
  XLA:CPU runs 2-15x faster than its own 3D convolution for these shapes.
- `Conv3D`: a strided 3D convolution is a 2D convolution over the (height,
  width) planes of depth-stacked input slices, batch and output depth folded
  together; where the kernel spans one stride block in height and width (the
  ILD WGAN critic) it is a matrix product after space-to-depth, so that the
  gradient penalty's second derivatives avoid strided convolutions too. A
  stride-1 convolution to few channels (taps x filters <= 64, e.g. a last
  layer to one channel) is the matrix product and shifted sum.

Both are drop-in subclasses of the Keras layer of the same name: they keep
its kernel (same shape, same name, same config apart from `formulation`),
and agree with it to float tolerance in outputs and in input and kernel
gradients (tests/test_conv3d.py, every backend). `formulation="auto"` takes the
reformulation on JAX and Keras' own operation on TensorFlow and torch, where
that is faster (benchmarks/backend_parity.py); "native" and "reformulated"
force one.
"""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
from keras import layers, ops

FORMULATIONS = ("auto", "native", "reformulated")


def _check_formulation(formulation: str) -> str:
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    return formulation


def _use_reformulation(layer) -> bool:
    """Returns whether `layer` computes its reformulation: forced, or on JAX
    where XLA:CPU is slow (strided, or stride 1 to few output values per
    input position; a wide stride-1 layer is as fast natively)."""
    if layer.formulation != "auto":
        return layer.formulation == "reformulated"
    few_outputs = math.prod(layer.kernel_size) * layer.filters <= 64
    return keras.backend.backend() == "jax" and (max(layer.strides) > 1 or few_outputs)


def _to_channels_last(x, data_format: str):
    return x if data_format == "channels_last" else ops.transpose(x, (0, 2, 3, 4, 1))


def _from_channels_last(x, data_format: str):
    return x if data_format == "channels_last" else ops.transpose(x, (0, 4, 1, 2, 3))


def _add_bias_and_activate(layer, outputs):
    """Returns `outputs` plus the layer's bias, through its activation (as Keras' conv layers do)."""
    if layer.use_bias:
        shape = (1, 1, 1, 1, layer.filters) if layer.data_format == "channels_last" else (1, layer.filters, 1, 1, 1)
        outputs = ops.add(outputs, ops.reshape(layer.bias, shape))
    return layer.activation(outputs) if layer.activation is not None else outputs


# === Transposed convolution as output phases ===


def _phase_taps(kernel_size: int, stride: int, crop: int, input_size: int, output_size: int):
    """Returns, along one axis, the input padding (before, after), the number
    of output positions per phase, and the (window, stride) table of kernel
    taps: entry [j, r] is the tap through which padded-input position q + j
    reaches output s*q + r, or `kernel_size` for none (the used entries of a
    column are contiguous).
    `crop` is PyTorch's `padding` of the transposed convolution: output o is
    full-convolution position o + crop."""
    # Output o = s*q + r takes input i = q - d through tap t = s*d + r + crop, 0 <= t < k.
    d_max = (kernel_size - 1 - crop) // stride  # >= 0: Keras' crop is at most k - 1
    d_min = -((stride - 1 + crop) // stride)
    per_phase = -(-output_size // stride)
    taps = np.full((d_max - d_min + 1, stride), kernel_size, dtype="int32")
    for j, d in enumerate(range(d_max, d_min - 1, -1)):
        for r in range(stride):
            if 0 <= stride * d + r + crop < kernel_size:
                taps[j, r] = stride * d + r + crop
    return (d_max, max(0, per_phase - d_min - input_size)), per_phase, taps


def conv3d_by_shifted_matmul(inputs, kernel):
    """Returns the "valid" stride-1 convolution of channels-last 5D `inputs`
    with kernel (kd, kh, kw, C_in, C_out) as one matrix product of every input
    position with all taps, (B, D, H, W, C_in) @ (C_in, taps x C_out), then a
    sum of shifted slices: XLA:CPU runs this several times faster than its 3D
    convolution when C_out is small."""
    kernel_size = tuple(kernel.shape[:3])
    out = [n - k + 1 for n, k in zip(inputs.shape[1:4], kernel_size)]
    per_tap = ops.matmul(inputs, ops.reshape(ops.transpose(kernel, (3, 0, 1, 2, 4)), (kernel.shape[3], -1)))
    # `split`, not channel slices: its gradient is one concatenation, where the
    # gradients of T channel slices are T zero-padded copies of the whole product.
    per_tap = ops.split(per_tap, math.prod(kernel_size), axis=-1)
    y = None
    for part, (a, b, c) in zip(per_tap, itertools.product(*map(range, kernel_size))):
        part = part[:, a:a + out[0], b:b + out[1], c:c + out[2]]
        y = part if y is None else y + part
    return y


def conv_transpose_by_phases(inputs, kernel, strides, crops, output_shape):
    """Returns Keras' `conv_transpose(inputs, kernel)` for channels-last 5D
    `inputs` (B, D, H, W, C_in) and kernel (kd, kh, kw, C_out, C_in), computed
    per output phase as a stride-1 convolution with the kernel taps that reach
    it, the phases then interleaved (depth-to-space).

    Args:
        strides: the stride along each spatial axis.
        crops: PyTorch's `padding` along each axis (full-convolution positions
            cropped before the first output).
        output_shape: the spatial output size (D', H', W').
    """
    kernel_size = tuple(kernel.shape[:3])
    plans = [_phase_taps(*args) for args in zip(kernel_size, strides, crops, inputs.shape[1:4], output_shape)]
    padded = ops.pad(inputs, [(0, 0), *[plan[0] for plan in plans], (0, 0)])
    per_phase = [plan[1] for plan in plans]
    batch, filters = ops.shape(inputs)[0], kernel.shape[3]
    kernel = ops.transpose(kernel, (0, 1, 2, 4, 3))  # (kd, kh, kw, C_in, C_out): ops.conv's layout
    outputs = []
    for phase in itertools.product(*[[taps[:, r] for r in range(taps.shape[1])] for _, _, taps in plans]):
        used = [np.flatnonzero(column < k) for column, k in zip(phase, kernel_size)]  # contiguous windows
        if any(len(u) == 0 for u in used):  # stride > kernel: no tap reaches this phase
            outputs.append(ops.zeros((batch, *per_phase, filters), dtype=inputs.dtype))
            continue
        window = padded[:, used[0][0]:used[0][0] + per_phase[0] + len(used[0]) - 1,
                        used[1][0]:used[1][0] + per_phase[1] + len(used[1]) - 1,
                        used[2][0]:used[2][0] + per_phase[2] + len(used[2]) - 1]
        sub_kernel = kernel
        for axis, (column, u) in enumerate(zip(phase, used)):
            sub_kernel = ops.take(sub_kernel, column[u], axis=axis)
        outputs.append(conv3d_by_shifted_matmul(window, sub_kernel))
    # (B, Qd, Qh, Qw, sd*sh*sw, C_out) -> interleave the phases -> crop to the output size.
    x = ops.reshape(ops.stack(outputs, axis=4), (batch, *per_phase, *strides, filters))
    x = ops.transpose(x, (0, 1, 4, 2, 5, 3, 6, 7))
    x = ops.reshape(x, (batch, *[q * s for q, s in zip(per_phase, strides)], filters))
    return x[:, :output_shape[0], :output_shape[1], :output_shape[2]]


def _transpose_crop(kernel_size: int, stride: int, padding: str, input_size: int) -> tuple[int, int]:
    """Returns (crop, output size) along one axis of Keras' `conv_transpose`
    with `padding` and no output padding or dilation (JAX's convention, which
    TensorFlow and torch follow for the sizes the zoo uses)."""
    if padding == "valid":
        return 0, (input_size - 1) * stride + max(kernel_size, stride)
    total = stride + kernel_size - 2
    before = min(total // 2 + total % 2, kernel_size - 1)
    return kernel_size - 1 - before, input_size * stride


@keras.saving.register_keras_serializable(package="physgan")
class Conv3DTranspose(layers.Conv3DTranspose):
    """`keras.layers.Conv3DTranspose`, computed as stride-1 convolutions per
    output phase where that is faster (JAX); same weights and outputs.

    Args:
        formulation: "auto" (sub-pixel where JAX is slow, Keras' op
            elsewhere), "native" or "reformulated".
        Other arguments are those of `keras.layers.Conv3DTranspose`.
    """

    def __init__(self, *args, formulation: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.formulation = _check_formulation(formulation)
        if self.output_padding is not None or any(d != 1 for d in self.dilation_rate):
            raise ValueError("physgan Conv3DTranspose supports neither output_padding nor dilation_rate")

    def call(self, inputs):
        if not _use_reformulation(self):
            return super().call(inputs)
        x = _to_channels_last(inputs, self.data_format)
        sizes = [_transpose_crop(k, s, self.padding, n)
                 for k, s, n in zip(self.kernel_size, self.strides, x.shape[1:4])]
        x = conv_transpose_by_phases(x, self.kernel, self.strides, [c for c, _ in sizes], [n for _, n in sizes])
        return _add_bias_and_activate(self, _from_channels_last(x, self.data_format))

    def get_config(self):
        return {**super().get_config(), "formulation": self.formulation}


# === Strided convolution as a 2D convolution or a matrix product ===


def _same_padding(kernel_size: int, stride: int, input_size: int) -> tuple[int, int]:
    total = max((math.ceil(input_size / stride) - 1) * stride + kernel_size - input_size, 0)
    return total // 2, total - total // 2


def conv3d_by_depth_folding(inputs, kernel, strides):
    """Returns Keras' "valid" `conv(inputs, kernel, strides)` for channels-last
    5D `inputs` (B, D, H, W, C_in) and kernel (kd, kh, kw, C_in, C_out),
    computed as one 2D convolution: for each output depth the kd input slices
    it reads are stacked along the channels, and (batch, output depth) is one axis."""
    kernel_depth, kernel_h, kernel_w, channels, filters = kernel.shape
    stride_d = strides[0]
    out_depth = (inputs.shape[1] - kernel_depth) // stride_d + 1
    stacked = ops.concatenate([inputs[:, a:a + stride_d * (out_depth - 1) + 1:stride_d]
                               for a in range(kernel_depth)], axis=-1)  # (B, D', H, W, kd * C_in)
    batch, height, width = ops.shape(inputs)[0], inputs.shape[2], inputs.shape[3]
    planes = ops.reshape(stacked, (-1, height, width, kernel_depth * channels))
    kernel_2d = ops.reshape(ops.transpose(kernel, (1, 2, 0, 3, 4)), (kernel_h, kernel_w, kernel_depth * channels, filters))
    y = ops.conv(planes, kernel_2d, strides=tuple(strides[1:]), padding="valid")
    return ops.reshape(y, (batch, out_depth, y.shape[1], y.shape[2], filters))


def conv3d_by_space_to_depth(inputs, kernel, strides):
    """Returns Keras' "valid" `conv(inputs, kernel, strides)` for channels-last
    5D `inputs` (B, D, H, W, C_in) and kernel (kd, kh, kw, C_in, C_out) with
    kh <= sh and kw <= sw (the ILD WGAN critic's (k, 2, 2) / (1, 2, 2)) as one
    matrix product: every axis is cut into blocks of its stride, moved into
    the channels (space-to-depth), the kernel (zero-padded to whole blocks)
    likewise, and the ceil(kd / sd) depth taps are stacked along the channels.
    Every derivative, the gradient penalty's second ones included, is then a
    matrix product or a slice, which XLA:CPU runs fast, where the derivatives
    of a strided convolution are not."""
    if any(k > s for k, s in zip(kernel.shape[1:3], strides[1:])):
        raise ValueError(f"conv3d_by_space_to_depth needs kernel height and width <= strides, got kernel "
                         f"{tuple(kernel.shape[:3])} and strides {tuple(strides)}")
    sizes = inputs.shape[1:4]
    taps = [-(-k // s) for k, s in zip(kernel.shape[:3], strides)]
    out = [(n - k) // s + 1 for n, k, s in zip(sizes, kernel.shape[:3], strides)]
    # Input length (out - 1 + taps) * s per axis: crop what no output reads, zero-pad a short tail.
    needed = [(o - 1 + t) * s for o, t, s in zip(out, taps, strides)]
    x = inputs[:, :needed[0], :needed[1], :needed[2]]
    x = ops.pad(x, [(0, 0), *[(0, max(0, m - n)) for m, n in zip(needed, sizes)], (0, 0)])
    channels, filters = kernel.shape[3], kernel.shape[4]
    batch = ops.shape(inputs)[0]
    blocks = [m // s for m, s in zip(needed, strides)]
    x = ops.reshape(x, (batch, blocks[0], strides[0], blocks[1], strides[1], blocks[2], strides[2], channels))
    x = ops.reshape(ops.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7)), (batch, *blocks, math.prod(strides) * channels))
    k = ops.pad(kernel, [(0, t * s - kk) for t, s, kk in zip(taps, strides, kernel.shape[:3])] + [(0, 0), (0, 0)])
    k = ops.reshape(k, (taps[0], strides[0], taps[1], strides[1], taps[2], strides[2], channels, filters))
    k = ops.reshape(ops.transpose(k, (0, 2, 4, 1, 3, 5, 6, 7)), (*taps, math.prod(strides) * channels, filters))
    stacked = ops.concatenate([x[:, a:a + out[0]] for a in range(taps[0])], axis=-1) if taps[0] > 1 else x
    return ops.matmul(stacked, ops.reshape(k, (-1, filters)))


@keras.saving.register_keras_serializable(package="physgan")
class Conv3D(layers.Conv3D):
    """`keras.layers.Conv3D`, computed where JAX is slow: strided, as a matrix
    product after space-to-depth where the kernel spans one stride block in
    height and width, else as a 2D convolution over depth-stacked slices;
    stride 1 with few outputs, as a matrix product and shifted sum. Same
    weights and outputs.

    Args:
        formulation: "auto" (reformulated where JAX is slow, Keras' op
            elsewhere), "native" or "reformulated".
        Other arguments are those of `keras.layers.Conv3D`.
    """

    def __init__(self, *args, formulation: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.formulation = _check_formulation(formulation)
        if any(d != 1 for d in self.dilation_rate) or self.groups != 1:
            raise ValueError("physgan Conv3D supports neither dilation_rate nor groups")

    def convolution_op(self, inputs, kernel):
        if not _use_reformulation(self):
            return super().convolution_op(inputs, kernel)
        x = _to_channels_last(inputs, self.data_format)
        if self.padding == "same":  # once here: every formulation below is "valid"
            x = ops.pad(x, [(0, 0), *[_same_padding(k, s, n) for k, s, n in
                                      zip(self.kernel_size, self.strides, x.shape[1:4])], (0, 0)])
        if max(self.strides) > 1 and all(k <= s for k, s in zip(self.kernel_size[1:], self.strides[1:])):
            x = conv3d_by_space_to_depth(x, kernel, self.strides)
        elif max(self.strides) > 1:
            x = conv3d_by_depth_folding(x, kernel, self.strides)
        else:
            x = conv3d_by_shifted_matmul(x, kernel)
        return _from_channels_last(x, self.data_format)

    def get_config(self):
        return {**super().get_config(), "formulation": self.formulation}
