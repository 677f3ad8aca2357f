#!/usr/bin/env bash
# Set-up for `make metadata` / `make test` on a fresh Debian/Ubuntu machine, with no internet beyond
# the package registries: a virtual environment with the project (plus the extras named in EXTRAS:
# `make test` asks for dev,ray; `make metadata` for none), WordNet 3.0 (Debian packages copied for
# nltk), the embedded Wikipedia sample, and (for one test) WordNet 3.1.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root for '$*' (no sudo found); run it as root and retry" >&2; return 1; fi
}

if ! command -v "$PYTHON" >/dev/null; then
  echo "[setup] installing python3" >&2
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    echo "[setup] installing python3-venv" >&2
    rm -rf "$VENV"
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$PYTHON" -m venv "$VENV"
  fi
fi

stamp="$VENV/.installed-${EXTRAS:-base}"
# reinstalled when pyproject.toml or the C source of the compiled tokenizer changed (pip rebuilds it;
# without a C compiler it is skipped and wiki-count uses its Arrow form)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ metadata_builder/sources/wiki/_tokencount.c -nt "$stamp" ]; then
  echo "[setup] installing the project${EXTRAS:+ with extras $EXTRAS} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
  if [[ ",$EXTRAS," == *",dev,"* ]]; then
    # img2dataset's Reader checks our curated output (tests/test_export.py). Without its dependencies:
    # they pin pandas < 3 and pull opencv, albumentations, wandb (~40 packages) the Reader never uses.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "img2dataset==1.47.0"
  fi
  touch "$stamp"
fi

"$VENV/bin/metadata-builder" setup "$@"
