#!/usr/bin/env bash
# Install everything the tests need (fresh Debian 12, root, Python 3.11) and run pytest.
# Usage: bash scripts/test.sh [pytest args...]     e.g. bash scripts/test.sh -q -m "not e2e"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_install() {
  # Lock timeout: wait for another apt/dpkg run instead of failing at once.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}

if [ ! -x .venv/bin/python ]; then
  # Debian's own python3 needs python3-venv (ensurepip) for `-m venv`.
  python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# Playwright cannot download its own browsers here: the e2e tests drive Debian's Chromium.
[ -x /usr/bin/chromium ] || apt_install chromium
# Durable sessions and multi-worker tests (tests/service, tests/deploy) start a real
# redis-server and nginx on free loopback ports, in temporary directories.
{ command -v redis-server >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; }; } \
  || apt_install redis-server nginx

# exec: pytest's exit code is the script's (5 = no tests collected, which counts as a failure).
exec .venv/bin/python -m pytest "$@"
