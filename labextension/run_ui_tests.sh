#!/usr/bin/env bash
# Galata UI tests of the JupyterLab extension against a real kernel.
# Needs: a Python env with this package's dependencies (jupyterlab, ipykernel, ...) whose bin dir
# is on PATH or given as VENV; Node >= 20; a Chromium (or Chrome) binary. Installs what is missing
# (node_modules; notebook>=7 with pip), builds the extension if it is not built, then runs
# Playwright with CI=1. It never downloads browsers (Playwright's own would need their system
# libraries anyway).
#
# Root is needed for one thing only: when no browser is found (CHROMIUM_PATH, default
# /usr/bin/chromium), it runs `apt-get install chromium` (Debian's package, about 290 MB), because
# a system package brings the libraries headless Chromium needs. Without root, point
# CHROMIUM_PATH at any Chromium or Chrome you have, e.g.
#   CHROMIUM_PATH=$(command -v chromium || command -v google-chrome) ./run_ui_tests.sh
# or ask an administrator once for `sudo apt-get install chromium`.
#
# The Jupyter server gets a free port (CARBON_MAGIC_UI_PORT, unless set), so a JupyterLab already
# running on 8888 (./dev.sh lab) neither blocks the tests nor gets used by them.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
if [ -n "${VENV:-}" ]; then export PATH="$VENV/bin:$PATH"; fi
command -v jupyter >/dev/null || { echo "run_ui_tests: jupyter not on PATH (set VENV=/path/to/venv)" >&2; exit 2; }

# The Notebook 7 test needs the notebook package (better: list it in the test extras).
if ! python -c "import notebook.app" 2>/dev/null; then
  echo "run_ui_tests: installing notebook>=7 for the Notebook 7 test" >&2
  python -m pip install -q "notebook>=7"
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "run_ui_tests: no browser at $CHROMIUM_PATH; set CHROMIUM_PATH to a Chromium or Chrome binary" \
         "(no root needed), or install Debian's: sudo apt-get install chromium" >&2
    exit 2
  fi
  echo "run_ui_tests: no browser at $CHROMIUM_PATH: installing Debian's chromium with apt-get" \
       "(about 290 MB; running as root). To use another browser, set CHROMIUM_PATH." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -d node_modules ]; then jlpm install --immutable; fi
if [ ! -f ../carbon_magic/labextension/static/style.js ]; then jlpm build:prod; fi

if [ -z "${CARBON_MAGIC_UI_PORT:-}" ]; then
  CARBON_MAGIC_UI_PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
export CARBON_MAGIC_UI_PORT
echo "run_ui_tests: Jupyter server on port $CARBON_MAGIC_UI_PORT" >&2

cd ui-tests
if [ ! -d node_modules ]; then jlpm install --immutable; fi
CI=1 jlpm playwright test "$@"
