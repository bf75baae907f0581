"""Sub-commands of the `advdpnp` CLI: each module defines NAME, HELP, add_arguments(parser), run(args)."""
