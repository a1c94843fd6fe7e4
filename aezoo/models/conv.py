"""The convolutional autoencoder: strided convolutions down, transposed convolutions up."""

from __future__ import annotations

import dataclasses
import itertools

from torch import Tensor, nn

from ..core.config import AEConfig
from ..core.errors import ConfigError
from ..io.pretrained import builtin_entries
from .base import Autoencoder, Capabilities
from .layers import ACTIVATION_MODULES, ACTIVATIONS, check_choice, check_dims

__all__ = ["ConvAE", "ConvConfig"]


@dataclasses.dataclass(frozen=True)
class ConvConfig(AEConfig):
    """A conv autoencoder for (C, H, W) images: 1x28x28 (MNIST) or 3x32x32 (CIFAR-10) and the like."""

    latent_dim: int = 16  # size of the code between the two dense layers
    channels: tuple[int, ...] = (32, 64)  # channels of each stride-2 3x3 conv; each halves H and W
    activation: str = "relu"  # after every layer but the last: relu | elu | sigmoid | tanh | linear
    output_activation: str = "sigmoid"  # the reconstruction (inputs scaled to [0, 1])

    def validate(self) -> None:
        owner = type(self).__name__
        if len(self.input_shape) != 3:
            raise ConfigError(
                f"{owner}.input_shape must be (channels, height, width) for a conv autoencoder, got "
                f"{tuple(self.input_shape)!r}; e.g. input_shape=(1, 28, 28), or use an MLP architecture for vectors"
            )
        check_dims(owner, "latent_dim", (self.latent_dim,))
        check_dims(owner, "channels", self.channels, min_len=1)
        check_choice(owner, "activation", self.activation, tuple(ACTIVATIONS))
        check_choice(owner, "output_activation", self.output_activation, tuple(ACTIVATIONS))


def _halved(size: int, times: int) -> list[int]:
    """Spatial sizes through ``times`` stride-2 3x3 convs with padding 1 (each is ceil(size / 2))."""
    sizes = [size]
    for _ in range(times):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class ConvAE(Autoencoder):
    """Convolutional autoencoder: strided convs, a dense code, transposed convs, sigmoid output.

    After Masci, Meier, Cireşan and Schmidhuber, "Stacked Convolutional Auto-Encoders for
    Hierarchical Feature Extraction", ICANN 2011, with their max-pooling replaced by stride-2
    convolutions (Springenberg et al., "Striving for Simplicity", ICLR 2015 workshop; Radford et
    al., DCGAN, ICLR 2016). Works for any (C, H, W): the transposed convs pad their output back
    to the exact input size.

    >>> import aezoo, torch
    >>> model = aezoo.create("conv", input_shape=(3, 32, 32))
    >>> model(torch.rand(2, 3, 32, 32)).reconstruction.shape
    torch.Size([2, 3, 32, 32])
    """

    architecture = "conv"
    pretrained = builtin_entries("conv")
    config_class = ConvConfig
    capabilities = Capabilities(stack=True)
    config: ConvConfig

    def __init__(self, config: ConvConfig) -> None:
        super().__init__(config)
        c_in, height, width = config.input_shape
        chans = [c_in, *config.channels]
        hs, ws = _halved(height, len(config.channels)), _halved(width, len(config.channels))
        act = ACTIVATION_MODULES[config.activation]
        self._bottom = (chans[-1], hs[-1], ws[-1])
        flat = chans[-1] * hs[-1] * ws[-1]

        down: list[nn.Module] = []
        for a, b in itertools.pairwise(chans):
            down += [nn.Conv2d(a, b, 3, stride=2, padding=1), act()]
        self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, config.latent_dim))

        up: list[nn.Module] = [nn.Linear(config.latent_dim, flat), act(), nn.Unflatten(1, self._bottom)]
        n = len(config.channels)
        for i in range(n, 0, -1):
            pad = (hs[i - 1] - (2 * hs[i] - 1), ws[i - 1] - (2 * ws[i] - 1))
            up.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 3, stride=2, padding=1, output_padding=pad))
            up.append(act() if i > 1 else ACTIVATION_MODULES[config.output_activation]())
        self.decoder = nn.Sequential(*up)

    def _encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def _decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)
