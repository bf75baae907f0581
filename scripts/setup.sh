#!/usr/bin/env bash
# Set up advdpnp on a fresh machine: a virtual environment in .venv with the package and its test
# tools, plus Debian's Fashion-MNIST when apt is available. Safe to re-run.
#   TORCH_SPEC  torch requirement to pre-install (default torch==2.13.0, the CPU build; set e.g.
#               TORCH_SPEC="torch" for your CUDA build)
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
    || echo "note: could not install dataset-fashion-mnist (Fashion-MNIST presets need it)" >&2
fi
python3 -m venv .venv
.venv/bin/pip install -q "${TORCH_SPEC:-torch==2.13.0}"
.venv/bin/pip install -q -e ".[test]"
# torchattacks declares a torchvision dependency it never imports: --no-deps keeps the torch build.
.venv/bin/pip install -q --no-deps torchattacks==3.5.1
.venv/bin/python -c "import torch, advdpnp; print('advdpnp', advdpnp.__version__, '| torch', torch.__version__)"
