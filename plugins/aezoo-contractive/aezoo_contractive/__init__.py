"""aezoo-contractive: the contractive autoencoder (Rifai et al., ICML 2011) as an aezoo plugin.

>>> import aezoo
>>> model = aezoo.create("contractive", latent_dim=16)
"""

from .model import ContractiveAE, ContractiveConfig, contraction_penalty

__all__ = ["ContractiveAE", "ContractiveConfig", "contraction_penalty"]
__version__ = "0.1.0"
