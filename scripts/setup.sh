#!/usr/bin/env bash
# Set up everything etworkbench needs, idempotently: Debian packages (graphviz for `dot`,
# chromium for the browser test, nodejs for the Model Explorer loader test), the .venv with
# the pinned stack, and nothing else.
# A second run with everything present takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.etwb-setup"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

need_apt=()
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
[ -x /usr/bin/chromium ] || need_apt+=(chromium chromium-driver)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)  # runs Model Explorer's own graph loader in a test

if [ ${#need_apt[@]} -eq 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/etwb" ]; then
  echo "setup: up to date"
  exit 0
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PY=$candidate; break
  fi
done
[ -n "$PY" ] || { echo "setup: Python 3.11 is required (executorch 1.5.1 wheels are built for it)" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
echo "setup: installing the pinned stack into $VENV (first time: a few minutes, about 6 GB)"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[dev,models]'
echo "$want" > "$STAMP"
echo "setup: done"
