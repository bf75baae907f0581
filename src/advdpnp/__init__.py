"""advdpnp: reference implementation of Adv-DPNP (arXiv 2504.03782) and its evaluation toolkit."""

__version__ = "0.1.0"
