#!/usr/bin/env bash
# One entry point for a fresh machine:
#   ./dev.sh lab    set everything up, open JupyterLab on the quick-start notebook
#   ./dev.sh test   set everything up, lint, run every test (Python, notebooks, extension unit and browser tests)
#   ./dev.sh lint   only lint: ruff and mypy (configured in pyproject.toml)
#   ./dev.sh setup  only set up (.venv with the package and test tools, the JupyterLab extension built)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${CARBON_MAGIC_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

log() { printf '\n== %s\n' "$*"; }

setup_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        "$PY" -m venv "$VENV"
    fi
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    if ! python -c "import carbon_magic, pytest, nbclient" 2>/dev/null \
        || [ pyproject.toml -nt "$VENV/.carbon_magic_installed" ]; then
        log "installing carbon_magic and its test tools"
        python -m pip install -q --upgrade pip
        python -m pip install -q -c ci/constraints.txt -e ".[test,examples]"
        touch "$VENV/.carbon_magic_installed"
    fi
}

setup_labextension() {
    [ -f labextension/package.json ] || return 0
    if ! command -v node >/dev/null; then
        echo "carbon_magic: Node.js not found; the JupyterLab extension is not built (apt-get install nodejs)" >&2
        return 0
    fi
    if [ ! -f carbon_magic/labextension/package.json ] || [ -n "$(find labextension/src labextension/style labextension/schema labextension/package.json -newer carbon_magic/labextension/package.json 2>/dev/null | head -1)" ]; then
        log "building the JupyterLab extension"
        (cd labextension && jlpm install --immutable && jlpm build:prod)
    fi
}

setup() {
    setup_python
    setup_labextension
}

lint() {
    log "lint: ruff check . and mypy (configured in pyproject.toml)"
    python -m ruff check .
    python -m mypy
}

case "${1:-}" in
    setup)
        setup
        ;;
    lab)
        setup
        log "starting JupyterLab on example_notebooks/01_quickstart.ipynb"
        extra=()
        [ "$(id -u)" = 0 ] && extra+=(--allow-root)
        exec jupyter lab "${extra[@]}" example_notebooks/01_quickstart.ipynb "${@:2}"
        ;;
    lint)
        setup_python
        lint
        ;;
    test)
        setup
        lint
        log "Python tests (magics, sources, intensity, reports, widget, notebooks)"
        python -m pytest -q
        if [ -f labextension/package.json ] && command -v node >/dev/null; then
            log "extension lint: stylelint, prettier, eslint (the extension template's configuration)"
            (cd labextension && jlpm lint:check)
            log "extension unit tests (jest)"
            (cd labextension && jlpm test)
            log "extension browser tests (Galata, headless Chromium: CHROMIUM_PATH, else apt-get as root)"
            bash labextension/run_ui_tests.sh
            log "packaging: sdist carries the built extension, its wheel builds without Node and loads in JupyterLab"
            bash scripts/check_release.sh "$VENV/bin/python"
        fi
        ;;
    *)
        echo "usage: ./dev.sh lab | test | lint | setup" >&2
        exit 2
        ;;
esac
