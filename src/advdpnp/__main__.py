"""`python -m advdpnp ...` (also what `torchrun -m advdpnp train ...` runs)."""

from .cli import main

raise SystemExit(main())
