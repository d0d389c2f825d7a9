"""2D and 3D convolutions that are fast on every backend, with Keras' weights and numerics.

XLA:CPU (the JAX backend on a CPU) runs strided convolutions, their
derivatives and strided transposed convolutions up to two orders of magnitude
slower than TensorFlow: 21 s instead of 0.08 s for the ILD generator's 16^3 ->
32^3 transposed layer at batch 16; 6 s instead of 0.03 s for the input
gradient of the ILD GAN discriminator's first layer; 5.3 s for the gradient
penalty through the ILD WGAN critic's second layer at batch 32; 39 ms instead
of 6 ms for the CorrVAE encoder's 24x24x32 k4 s2 layer at batch 256, and 52
instead of 10 ms for its decoder's 11 -> 22 transposed layer. These layers
compute the same function with operations XLA:CPU runs well:

- `Conv2DTranspose`, `Conv3DTranspose`: a transposed convolution with stride
  s is prod(s) stride-1 convolutions, one per output phase, each with the
  kernel taps that reach that phase (the "sub-pixel" convolution of Shi et
  al., arXiv:1609.05158), interleaved by depth-to-space. Each is one matrix
  product with all its taps and a sum of shifted slices.
- `Conv2D`, `Conv3D`: a strided convolution is a stride-1 convolution after
  space-to-depth (every axis cut into blocks of its stride, moved into the
  channels, the kernel likewise), computed as a matrix product and shifted
  sum, so that its derivatives, the gradient penalty's second ones included,
  avoid strided convolutions too. A strided 3D kernel wider than its stride in
  height or width (the BIB-AE's k4 s2, k3 s2) is instead a 2D convolution over
  the depth-stacked input slices, batch and output depth folded together. A
  stride-1 convolution to few channels (taps x filters <= 64, e.g. a last
  layer to one channel) is the matrix product and shifted sum.
- On torch, a convolution with a kernel of size 1 (the BIB-AE
  post-processor's) is one matrix product over the channels, which torch
  runs 1.3-6x faster than its convolution.

They are drop-in subclasses of the Keras layer of the same name: they keep
its kernel (same shape, same name, same config apart from `formulation`),
and agree with it to float tolerance in outputs and in input and kernel
gradients (tests/test_conv.py, every backend). `formulation="auto"` takes the
reformulations on JAX, the matrix product of a size-1 kernel on torch, and
Keras' own operation elsewhere, where that is faster
(benchmarks/backend_parity.py); "native" and "reformulated" force one.
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
    if data_format == "channels_last":
        return x
    return ops.transpose(x, (0, *range(2, len(x.shape)), 1))


def _from_channels_last(x, data_format: str):
    if data_format == "channels_last":
        return x
    return ops.transpose(x, (0, len(x.shape) - 1, *range(1, len(x.shape) - 1)))


def _window(x, starts, sizes):
    """Returns x[:, starts[0]:starts[0] + sizes[0], ...] over the spatial axes of a channels-last x."""
    return x[(slice(None), *[slice(a, a + n) for a, n in zip(starts, sizes)])]


def _add_bias_and_activate(layer, outputs):
    """Returns `outputs` plus the layer's bias, through its activation (as Keras' conv layers do)."""
    if layer.use_bias:
        rank = len(layer.kernel_size)
        shape = [1] * (rank + 2)
        shape[-1 if layer.data_format == "channels_last" else 1] = layer.filters
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


def conv_by_shifted_matmul(inputs, kernel):
    """Returns the "valid" stride-1 convolution of channels-last `inputs` (B,
    *spatial, C_in) with kernel (*kernel_size, C_in, C_out), 2D or 3D, as one
    matrix product of every input position with all taps, (..., C_in) @ (C_in,
    taps x C_out), then a sum of shifted slices: XLA:CPU runs this several
    times faster than its own convolution where C_out is small."""
    kernel_size = tuple(kernel.shape[:-2])
    rank = len(kernel_size)
    out = [n - k + 1 for n, k in zip(inputs.shape[1:-1], kernel_size)]
    to_matrix = ops.transpose(kernel, (rank, *range(rank), rank + 1))
    per_tap = ops.matmul(inputs, ops.reshape(to_matrix, (kernel.shape[-2], -1)))
    # `split`, not channel slices: its gradient is one concatenation, where the
    # gradients of T channel slices are T zero-padded copies of the whole product.
    per_tap = ops.split(per_tap, math.prod(kernel_size), axis=-1)
    y = None
    for part, offset in zip(per_tap, itertools.product(*map(range, kernel_size))):
        part = _window(part, offset, out)
        y = part if y is None else y + part
    return y


def conv_transpose_by_phases(inputs, kernel, strides, crops, output_shape):
    """Returns Keras' `conv_transpose(inputs, kernel)` for channels-last
    `inputs` (B, *spatial, C_in) and kernel (*kernel_size, C_out, C_in), 2D or
    3D, computed per output phase as a stride-1 convolution with the kernel
    taps that reach it, the phases then interleaved (depth-to-space).

    Args:
        strides: the stride along each spatial axis.
        crops: PyTorch's `padding` along each axis (full-convolution positions
            cropped before the first output).
        output_shape: the spatial output size.
    """
    kernel_size = tuple(kernel.shape[:-2])
    rank = len(kernel_size)
    plans = [_phase_taps(*args) for args in zip(kernel_size, strides, crops, inputs.shape[1:-1], output_shape)]
    padded = ops.pad(inputs, [(0, 0), *[plan[0] for plan in plans], (0, 0)])
    per_phase = [plan[1] for plan in plans]
    batch, filters = ops.shape(inputs)[0], kernel.shape[-2]
    kernel = ops.transpose(kernel, (*range(rank), rank + 1, rank))  # (*k, C_in, C_out): ops.conv's layout
    outputs = []
    for phase in itertools.product(*[[taps[:, r] for r in range(taps.shape[1])] for _, _, taps in plans]):
        used = [np.flatnonzero(column < k) for column, k in zip(phase, kernel_size)]  # contiguous windows
        if any(len(u) == 0 for u in used):  # stride > kernel: no tap reaches this phase
            outputs.append(ops.zeros((batch, *per_phase, filters), dtype=inputs.dtype))
            continue
        window = _window(padded, [u[0] for u in used], [q + len(u) - 1 for q, u in zip(per_phase, used)])
        sub_kernel = kernel
        for axis, (column, u) in enumerate(zip(phase, used)):
            sub_kernel = ops.take(sub_kernel, column[u], axis=axis)
        outputs.append(conv_by_shifted_matmul(window, sub_kernel))
    # (B, *Q, prod(strides), C_out) -> interleave the phases -> crop to the output size.
    x = ops.reshape(ops.stack(outputs, axis=rank + 1), (batch, *per_phase, *strides, filters))
    x = ops.transpose(x, (0, *[a for i in range(rank) for a in (1 + i, 1 + rank + i)], 1 + 2 * rank))
    x = ops.reshape(x, (batch, *[q * s for q, s in zip(per_phase, strides)], filters))
    return _window(x, [0] * rank, output_shape)


def _transpose_crop(kernel_size: int, stride: int, padding: str, input_size: int) -> tuple[int, int]:
    """Returns (crop, output size) along one axis of Keras' `conv_transpose`
    with `padding` and no output padding or dilation (JAX's convention, which
    TensorFlow and torch follow for the sizes the zoo uses)."""
    if padding == "valid":
        return 0, (input_size - 1) * stride + max(kernel_size, stride)
    total = stride + kernel_size - 2
    before = min(total // 2 + total % 2, kernel_size - 1)
    return kernel_size - 1 - before, input_size * stride


class _TransposeByPhases:
    """`call` of a Keras transposed convolution (2D or 3D), computed as
    stride-1 convolutions per output phase where that is faster (JAX), Keras'
    own op otherwise; same weights and outputs.

    Args:
        formulation: "auto" (sub-pixel where JAX is slow, Keras' op
            elsewhere), "native" or "reformulated".
        Other arguments are those of the Keras layer.
    """

    def __init__(self, *args, formulation: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.formulation = _check_formulation(formulation)
        if self.output_padding is not None or any(d != 1 for d in self.dilation_rate):
            raise ValueError(f"physgan {type(self).__name__} supports neither output_padding nor dilation_rate")

    def call(self, inputs):
        if not _use_reformulation(self):
            return super().call(inputs)
        x = _to_channels_last(inputs, self.data_format)
        sizes = [_transpose_crop(k, s, self.padding, n)
                 for k, s, n in zip(self.kernel_size, self.strides, x.shape[1:-1])]
        x = conv_transpose_by_phases(x, self.kernel, self.strides, [c for c, _ in sizes], [n for _, n in sizes])
        return _add_bias_and_activate(self, _from_channels_last(x, self.data_format))

    def get_config(self):
        return {**super().get_config(), "formulation": self.formulation}


@keras.saving.register_keras_serializable(package="physgan")
class Conv2DTranspose(_TransposeByPhases, layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` with a `formulation` argument: see `_TransposeByPhases`."""


@keras.saving.register_keras_serializable(package="physgan")
class Conv3DTranspose(_TransposeByPhases, layers.Conv3DTranspose):
    """`keras.layers.Conv3DTranspose` with a `formulation` argument: see `_TransposeByPhases`."""


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


def conv_by_space_to_depth(inputs, kernel, strides):
    """Returns Keras' "valid" `conv(inputs, kernel, strides)` for channels-last
    `inputs` (B, *spatial, C_in) and kernel (*kernel_size, C_in, C_out), 2D or
    3D, without a strided convolution: every axis is cut into blocks of its
    stride, moved into the channels (space-to-depth), the kernel (zero-padded
    to whole blocks) likewise, which leaves a stride-1 convolution with
    ceil(k / s) taps per axis. Where only the first axis has several taps (the
    ILD WGAN critic's (k, 2, 2) / (1, 2, 2)) they are stacked along the
    channels and multiplied once; otherwise it is a matrix product and shifted
    sum. Every derivative, the gradient penalty's second ones included, is then
    a matrix product or a slice, which XLA:CPU runs fast, where the derivatives
    of a strided convolution are not."""
    kernel_size = tuple(kernel.shape[:-2])
    rank = len(kernel_size)
    sizes = inputs.shape[1:-1]
    taps = [-(-k // s) for k, s in zip(kernel_size, strides)]
    out = [(n - k) // s + 1 for n, k, s in zip(sizes, kernel_size, strides)]
    # Input length (out - 1 + taps) * s per axis: crop what no output reads, zero-pad a short tail.
    needed = [(o - 1 + t) * s for o, t, s in zip(out, taps, strides)]
    x = _window(inputs, [0] * rank, needed)
    x = ops.pad(x, [(0, 0), *[(0, max(0, m - n)) for m, n in zip(needed, sizes)], (0, 0)])
    channels, filters = kernel.shape[-2], kernel.shape[-1]
    batch = ops.shape(inputs)[0]
    blocks = [m // s for m, s in zip(needed, strides)]
    block_axes, stride_axes = [1 + 2 * i for i in range(rank)], [2 + 2 * i for i in range(rank)]
    x = ops.reshape(x, (batch, *[v for pair in zip(blocks, strides) for v in pair], channels))
    x = ops.reshape(ops.transpose(x, (0, *block_axes, *stride_axes, 1 + 2 * rank)),
                    (batch, *blocks, math.prod(strides) * channels))
    k = ops.pad(kernel, [(0, t * s - kk) for t, s, kk in zip(taps, strides, kernel_size)] + [(0, 0), (0, 0)])
    k = ops.reshape(k, (*[v for pair in zip(taps, strides) for v in pair], channels, filters))
    k = ops.transpose(k, (*[a - 1 for a in block_axes], *[a - 1 for a in stride_axes], 2 * rank, 2 * rank + 1))
    k = ops.reshape(k, (*taps, math.prod(strides) * channels, filters))
    if any(t > 1 for t in taps[1:]):
        return conv_by_shifted_matmul(x, k)
    stacked = ops.concatenate([x[:, a:a + out[0]] for a in range(taps[0])], axis=-1) if taps[0] > 1 else x
    return ops.matmul(stacked, ops.reshape(k, (-1, filters)))


def conv_by_pointwise_matmul(inputs, kernel, data_format: str):
    """Returns the convolution of `inputs` with a kernel of size 1 on every
    axis (stride 1) as one matrix product over the channels, in either layout
    without a transposition of `inputs`: torch runs it 1.3-6x faster than its
    1x1x1 convolution (BIB-AE post-processor, 128 -> 128 and 128 -> 1 channels)."""
    channels, filters = kernel.shape[-2], kernel.shape[-1]
    matrix = ops.reshape(kernel, (channels, filters))
    if data_format == "channels_last":
        return ops.matmul(inputs, matrix)
    batch, spatial = ops.shape(inputs)[0], inputs.shape[2:]
    # One (C_out, C_in) matrix per shower, broadcast: torch multiplies (2D @ 3D)
    # by transposing copies of the whole input, 6x slower than this batched product.
    per_shower = ops.broadcast_to(ops.transpose(matrix), (batch, filters, channels))
    y = ops.matmul(per_shower, ops.reshape(inputs, (batch, channels, -1)))  # (B, C_out, cells)
    return ops.reshape(y, (batch, filters, *spatial))


class _StridedByReformulation:
    """`convolution_op` of a Keras convolution (2D or 3D), reformulated where
    `_use_reformulation` says so; Keras' own op otherwise."""

    def __init__(self, *args, formulation: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.formulation = _check_formulation(formulation)
        if any(d != 1 for d in self.dilation_rate) or self.groups != 1:
            raise ValueError(f"physgan {type(self).__name__} supports neither dilation_rate nor groups")

    def _pointwise(self) -> bool:
        return all(k == 1 for k in self.kernel_size) and all(s == 1 for s in self.strides)

    def _reformulated(self, input_channels: int) -> bool:
        if self.formulation == "auto" and keras.backend.backend() == "torch":
            return self._pointwise()
        return _use_reformulation(self)

    def convolution_op(self, inputs, kernel):
        if not self._reformulated(kernel.shape[-2]):
            return super().convolution_op(inputs, kernel)
        if self._pointwise():
            return conv_by_pointwise_matmul(inputs, kernel, self.data_format)
        x = _to_channels_last(inputs, self.data_format)
        if self.padding == "same":  # once here: every formulation below is "valid"
            x = ops.pad(x, [(0, 0), *[_same_padding(k, s, n) for k, s, n in
                                      zip(self.kernel_size, self.strides, x.shape[1:-1])], (0, 0)])
        return _from_channels_last(self._strided_op(x, kernel), self.data_format)

    def _strided_op(self, x, kernel):
        if max(self.strides) > 1:
            return conv_by_space_to_depth(x, kernel, self.strides)
        return conv_by_shifted_matmul(x, kernel)

    def get_config(self):
        return {**super().get_config(), "formulation": self.formulation}


@keras.saving.register_keras_serializable(package="physgan")
class Conv2D(_StridedByReformulation, layers.Conv2D):
    """`keras.layers.Conv2D`, computed where JAX is slow: strided, as a matrix
    product and shifted sum after space-to-depth; stride 1 with few outputs,
    as a matrix product and shifted sum. Same weights and outputs.

    Args:
        formulation: "auto" (reformulated where JAX is slow, Keras' op
            elsewhere), "native" or "reformulated".
        Other arguments are those of `keras.layers.Conv2D`.
    """

    def _reformulated(self, input_channels: int) -> bool:
        # Space-to-depth of a narrow input (CorrVAE's first layer: 1 channel, s2)
        # leaves a matrix product too narrow to beat XLA's own convolution.
        narrow = max(self.strides) > 1 and input_channels * math.prod(self.strides) < 16
        return super()._reformulated(input_channels) and not (self.formulation == "auto" and narrow)


@keras.saving.register_keras_serializable(package="physgan")
class Conv3D(_StridedByReformulation, layers.Conv3D):
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

    def _strided_op(self, x, kernel):
        if max(self.strides) > 1 and any(k > s for k, s in zip(self.kernel_size[1:], self.strides[1:])):
            return conv3d_by_depth_folding(x, kernel, self.strides)
        return super()._strided_op(x, kernel)
