#!/usr/bin/env bash
# Packaging check, as the JupyterLab extension template's check_release does:
#   1. build the sdist; it must carry the built extension, py.typed and the version file;
#   2. build the wheel FROM the sdist with node/npm/jlpm/yarn replaced by failing stubs (so
#      installing from the sdist needs no Node);
#   3. install that wheel into a fresh environment (the test venv's packages underneath, none of
#      this checkout on the path) and check that JupyterLab finds the extension enabled and OK,
#      at the version of labextension/package.json, the one place the version is written.
# Needs: the built extension (./dev.sh setup) and the package registry (build backends).
# Usage: scripts/check_release.sh [python]   (default: the venv's python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${1:-${VENV:-$ROOT/.venv}/bin/python}
[ -x "$PY" ] || PY=python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/carbon-release.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "check_release: $*" >&2; exit 1; }

[ -f carbon_magic/labextension/static/style.js ] || fail "the extension is not built: run ./dev.sh setup"
VERSION=$("$PY" -c 'import json; print(json.load(open("labextension/package.json"))["version"])')

"$PY" -c "import build" 2>/dev/null || fail "the 'build' package is missing: pip install -e '.[test]'"
echo "== sdist"
"$PY" -m build --sdist --outdir "$WORK/dist" . >"$WORK/sdist.log" 2>&1 || { cat "$WORK/sdist.log"; fail "sdist build failed"; }
SDIST=$(ls "$WORK"/dist/*.tar.gz)
MEMBERS=$(tar -tzf "$SDIST")
for member in carbon_magic/labextension/package.json carbon_magic/labextension/static/style.js \
              carbon_magic/py.typed carbon_magic/_version.py labextension/install.json; do
    grep -qx "[^/]*/$member" <<<"$MEMBERS" || fail "the sdist lacks $member"
done
echo "   $(basename "$SDIST") carries the built extension, py.typed and _version.py"

echo "== wheel from the sdist, Node unavailable"
mkdir "$WORK/nonode"
for tool in node npm npx jlpm yarn; do
    printf '#!/bin/sh\necho "check_release: %s was called while building from the sdist" >&2\nexit 1\n' "$tool" >"$WORK/nonode/$tool"
    chmod +x "$WORK/nonode/$tool"
done
PATH="$WORK/nonode:$PATH" "$PY" -m pip wheel -q --no-deps -w "$WORK/wheel" "$SDIST" >"$WORK/wheel.log" 2>&1 \
    || { cat "$WORK/wheel.log"; fail "building the wheel from the sdist failed (did it need Node?)"; }
WHEEL=$(ls "$WORK"/wheel/*.whl)
case "$(basename "$WHEEL")" in carbon_magic-"$VERSION"-*) ;; *) fail "wheel $(basename "$WHEEL") is not version $VERSION";; esac
"$PY" - "$WHEEL" <<'EOF' || fail "the wheel lacks a file"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["carbon_magic/py.typed", "carbon_magic/_version.py",
        "share/jupyter/labextensions/carbon-magic-labextension/package.json",
        "share/jupyter/labextensions/carbon-magic-labextension/install.json"]
missing = [n for n in need if not any(x == n or x.endswith("/data/" + n) for x in names)]
sys.exit(f"missing: {missing}" if missing else 0)
EOF
echo "   $(basename "$WHEEL") built without Node"

echo "== install the wheel in a fresh environment"
"$PY" -m venv "$WORK/env"
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ENV_SITE=$("$WORK/env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$SITE" >"$ENV_SITE/zz_test_venv_packages.pth"  # dependencies from the test venv, after ours
"$WORK/env/bin/python" -m pip install -q --no-deps --no-index "$WHEEL"
(cd "$WORK" && "$WORK/env/bin/python" - "$VERSION" "$WORK/env" <<'EOF') || fail "the installed package is not the wheel's"
import sys, carbon_magic
version, prefix = sys.argv[1:]
assert carbon_magic.__file__.startswith(prefix), carbon_magic.__file__
assert carbon_magic.__version__ == version, (carbon_magic.__version__, version)
print(f"   carbon_magic {carbon_magic.__version__} imported from the installed wheel")
EOF
LIST=$(cd "$WORK" && JUPYTER_PATH= JUPYTER_DATA_DIR="$WORK/jupyter-data" "$WORK/env/bin/python" -m jupyterlab.labextensions list 2>&1)
echo "$LIST" | grep -E "carbon-magic-labextension v$VERSION .*enabled.*OK" \
    || { echo "$LIST"; fail "JupyterLab does not list carbon-magic-labextension v$VERSION enabled OK"; }
echo "check_release: ok"
