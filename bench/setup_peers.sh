#!/usr/bin/env bash
# Create one virtual environment per peer tool under bench/.peers/<name> (git-ignored) and
# install it from PyPI with pip. Each peer gets its own environment because their pins conflict
# (pandas, pynvml vs nvidia-ml-py, pydantic). Installed versions are written to
# bench/.peers/<name>/VERSION (and `pip freeze` to freeze.txt) for the benchmark tables.
#
#   bash bench/setup_peers.sh            # all peers
#   bash bench/setup_peers.sh codecarbon # one peer
#
# Installing is the only step that uses the network; the benchmarks themselves run offline.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
peers_dir="$here/.peers"
python="${PYTHON:-python3}"
mkdir -p "$peers_dir"

# name -> pip requirement
declare -A REQ=(
  [codecarbon]="codecarbon"
  [zeus]="zeus"
  [carbontracker]="carbontracker"
  [eco2ai]="eco2ai pandas<3"  # eco2ai 0.3.12 writes "N/A" into a float column, which pandas 3 refuses
)
# name -> distribution whose version is reported
declare -A DIST=( [codecarbon]=codecarbon [zeus]=zeus [carbontracker]=carbontracker [eco2ai]=eco2ai )

names=("$@")
[ ${#names[@]} -eq 0 ] && names=(codecarbon zeus carbontracker eco2ai)
status=0
for name in "${names[@]}"; do
  venv="$peers_dir/$name"
  echo "== $name: $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv" || { status=1; continue; }
  # psutil is what the runner itself uses to measure memory and thread CPU inside the peer's process.
  if "$venv/bin/pip" install --quiet ${REQ[$name]} psutil > "$venv/install.log" 2>&1; then
    "$venv/bin/python" -c "import importlib.metadata as m; print(m.version('${DIST[$name]}'))" > "$venv/VERSION"
    "$venv/bin/pip" freeze > "$venv/freeze.txt"
    echo "   installed ${DIST[$name]} $(cat "$venv/VERSION")"
  else
    echo "   FAILED to install (see $venv/install.log):"
    tail -3 "$venv/install.log" | sed 's/^/   /'
    echo "install failed: $(tail -1 "$venv/install.log")" > "$venv/FAILED"
    status=1
  fi
done
exit $status
