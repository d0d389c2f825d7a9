"""LocallyConnected2D: a convolution whose kernel differs at every output position.

Keras 3 dropped the layer; CaloGAN's generator and discriminator are built
from it. The weights keep Keras 2's layout (kernel `(out_rows * out_cols,
kernel_rows * kernel_cols * channels, filters)`, bias `(out_rows, out_cols,
filters)`), so Keras 2 weights load as they are.
"""

from __future__ import annotations

import keras
from keras import ops


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair


def extract_patches(inputs, kernel_size: tuple[int, int], strides: tuple[int, int]):
    """Returns the (B, out_rows, out_cols, kernel_rows * kernel_cols * C) patches of a
    channels-last batch ("valid" padding), in Keras 2's (row, col, channel) order."""
    rows, cols = inputs.shape[1], inputs.shape[2]
    out_rows = (rows - kernel_size[0]) // strides[0] + 1
    out_cols = (cols - kernel_size[1]) // strides[1] + 1
    # One strided slice per kernel offset: k*k cheap slices beat a generic
    # patch extraction on every backend for the small kernels used here.
    shifted = [
        inputs[
            :,
            i : i + strides[0] * (out_rows - 1) + 1 : strides[0],
            j : j + strides[1] * (out_cols - 1) + 1 : strides[1],
            :,
        ]
        for i in range(kernel_size[0])
        for j in range(kernel_size[1])
    ]
    patches = ops.stack(shifted, axis=3)  # (B, out_rows, out_cols, k*k, C)
    return ops.reshape(patches, (-1, out_rows, out_cols, len(shifted) * inputs.shape[3]))


@keras.saving.register_keras_serializable(package="physgan")
class LocallyConnected2D(keras.layers.Layer):
    """2D locally connected layer (unshared weights), channels-last, "valid" padding.

    Args:
        filters: number of output channels.
        kernel_size: int or (rows, cols).
        strides: int or (rows, cols).
        padding: only "valid" (pad explicitly with `ZeroPadding2D`, as Keras 2 did).
        activation, use_bias, kernel_initializer, bias_initializer: as in `Conv2D`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        if str(padding).lower() != "valid":
            raise ValueError(f"LocallyConnected2D supports padding='valid' only, got {padding!r}")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = "valid"
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def compute_output_shape(self, input_shape):
        rows, cols = input_shape[1], input_shape[2]
        out_rows = (rows - self.kernel_size[0]) // self.strides[0] + 1
        out_cols = (cols - self.kernel_size[1]) // self.strides[1] + 1
        return (input_shape[0], out_rows, out_cols, self.filters)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(f"LocallyConnected2D needs a fixed (rows, cols, channels) input, got {input_shape}")
        _, out_rows, out_cols, _ = self.compute_output_shape(input_shape)
        if out_rows < 1 or out_cols < 1:
            raise ValueError(f"input {input_shape[1:3]} is smaller than the kernel {self.kernel_size}")
        self.out_rows, self.out_cols = out_rows, out_cols
        patch_size = self.kernel_size[0] * self.kernel_size[1] * input_shape[3]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(out_rows * out_cols, patch_size, self.filters),
            initializer=self.kernel_initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(out_rows, out_cols, self.filters), initializer=self.bias_initializer
            )

    def call(self, inputs):
        patches = extract_patches(inputs, self.kernel_size, self.strides)
        positions = self.out_rows * self.out_cols
        flat = ops.reshape(patches, (-1, positions, patches.shape[-1]))
        # (positions, B, patch) @ (positions, patch, filters): one batched matmul.
        outputs = ops.matmul(ops.transpose(flat, (1, 0, 2)), self.kernel)
        outputs = ops.reshape(ops.transpose(outputs, (1, 0, 2)), (-1, self.out_rows, self.out_cols, self.filters))
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
