"""Keras 3 layers the zoo shares and Keras does not have.

Every layer is backend-neutral (`keras.ops` only), serialisable
(`get_config`), and registered with Keras under the package name `physgan`
so that `.keras` files rebuild them on any backend.
"""

from physgan.layers.calorimeter import EnergyFeatures, EnergyNormalisation, LayerEnergy, LogEnergyScale, LogLayerFractions, Sparsity, TotalEnergy
from physgan.layers.conv import Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose
from physgan.layers.flow import ElementwiseMLP, TimeFeatures
from physgan.layers.inpainting import InpaintingGate
from physgan.layers.locally_connected import LocallyConnected2D
from physgan.layers.minibatch import MinibatchDiscrimination
from physgan.layers.spectral import SpectralNormDense
from physgan.layers.volume import BroadcastToVolume, Log1p, Reparameterize, SpatialLayerNorm

__all__ = [
    "BroadcastToVolume",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "ElementwiseMLP",
    "EnergyFeatures",
    "EnergyNormalisation",
    "InpaintingGate",
    "LayerEnergy",
    "LocallyConnected2D",
    "Log1p",
    "LogEnergyScale",
    "LogLayerFractions",
    "MinibatchDiscrimination",
    "Reparameterize",
    "Sparsity",
    "SpectralNormDense",
    "SpatialLayerNorm",
    "TimeFeatures",
    "TotalEnergy",
]
