"""What the three ILD "Getting High" models share (arXiv:2005.05334).

Showers are 30 x 30 x 30 cells in MeV indexed [layer, x, y]; the condition is
the incident photon energy in GeV (10-100 GeV in the paper), fed raw as in the
original. Training batches are dicts: `energy` (B, 1) GeV and `layers`
(B, 30, 30, 30, 1) MeV. Generated cells below half a MIP (0.1 MeV) are set to
zero, as the original generation scripts did.

The 3D convolutions are `physgan.layers.conv`'s drop-in `Conv3D` and
`Conv3DTranspose` (Keras' weights and outputs; on JAX computed by a sub-pixel
or space-to-depth formulation that XLA:CPU runs 10-50x faster, issue #21).
"""

from __future__ import annotations

import numpy as np

from physgan.data.ild import MIP_THRESHOLD_MEV
from physgan.training import GenerativeModel

ENERGY_RANGE = (10.0, 100.0)


class IldModel(GenerativeModel):
    """Base of the ILD models: energy conditions, thresholds, config.

    Subclasses call `super().__init__(options, **kwargs)` with their
    constructor options (what `get_config` returns) and define
    `generate_volumes(energies, rng) -> (n, 30, 30, 30) MeV`.
    """

    dataset = "ild"

    def __init__(self, options: dict, **kwargs):
        super().__init__(**kwargs)
        options = dict(options)
        options["energy_range"] = [float(v) for v in options.get("energy_range", ENERGY_RANGE)]
        low, high = options["energy_range"]
        if not 0 < low < high:
            raise ValueError(f"energy_range must be 0 < low < high GeV, got {options['energy_range']}")
        self._options = options
        self.energy_range = (low, high)
        self.mip_threshold = float(options.get("mip_threshold", MIP_THRESHOLD_MEV))
        self.seed = options.get("seed")

    @property
    def required_inputs(self) -> tuple[str, ...]:
        return ("energy", "layers")

    def generate_volumes(self, energies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def energies_for(self, n: int, condition, rng: np.random.Generator) -> np.ndarray:
        """Returns (n, 1) incident energies [GeV]: `condition` (scalar or (n,)),
        or uniform over `energy_range` when it is None."""
        if condition is None:
            energies = rng.uniform(*self.energy_range, size=n)
        else:
            energies = np.broadcast_to(np.asarray(condition, dtype="float64").reshape(-1), (n,))
        return energies.astype("float32").reshape(n, 1)

    def sample(self, n: int, condition=None, seed: int | None = None):
        """Returns `n` showers as `IldShowers` (cells in MeV, energies in GeV).

        Args:
            n: number of showers.
            condition: incident energies in GeV (a scalar or (n,)); None draws
                them uniformly over `energy_range`.
            seed: makes the draw reproducible (the same on every backend).
        """
        from physgan.data.ild import IldShowers, apply_mip_threshold

        rng = np.random.default_rng(seed)
        energies = self.energies_for(n, condition, rng)
        # Cells below the threshold, negative ones too (the post-processor is linear), become 0.
        volumes = apply_mip_threshold(self.generate_volumes(energies, rng), max(self.mip_threshold, 0.0))
        return IldShowers(incident_energy=energies[:, 0], layers=volumes)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._options}


def volumes_from_output(output) -> np.ndarray:
    """Returns the (n, 30, 30, 30) cells of a generator output (n, 30, 30, 30, 1)."""
    return np.asarray(output)[..., 0]


def upsample_to_shower(x, ngf: int, norm, data_format: str):
    """Returns the shower (B, 30, 30, 30, 1) of the GAN and WGAN generators from
    their 4^3 volume: ConvT3d ngf*4, ngf*2, ngf (k4 s2, "same" = PyTorch's padding
    1; `norm(data_format, name)`, ReLU; 4 -> 8 -> 16 -> 32), ConvT3d 1 k3 cropped
    by 2 (PyTorch's padding 2; 32 -> 30), ReLU. No biases, weights N(0, 0.02)."""
    from keras import layers

    from physgan.layers.conv import Conv3DTranspose
    from physgan.layers.volume import CONV_INIT, to_channels_last_3d

    conv = dict(use_bias=False, kernel_initializer=CONV_INIT, data_format=data_format)
    for i, filters in enumerate((ngf * 4, ngf * 2, ngf)):
        size = 8 << i
        x = Conv3DTranspose(filters, 4, strides=2, padding="same", name=f"deconv_{size}", **conv)(x)
        x = norm(data_format, f"norm_{size}")(x)
        x = layers.ReLU(name=f"relu_{size}")(x)
    x = Conv3DTranspose(1, 3, padding="valid", name="deconv_out", **conv)(x)
    x = layers.Cropping3D(2, data_format=data_format, name="crop_to_30")(x)
    x = layers.ReLU(name="shower")(x)
    return to_channels_last_3d(x, data_format, "to_channels_last")
