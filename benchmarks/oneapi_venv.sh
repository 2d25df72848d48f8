#!/usr/bin/env bash
# Create benchmarks/.venv-oneapi: a separate venv holding the IBL's ONE-api (3.x) from PyPI, used
# only by the benchmark to time the same operations. Never installed into the project's .venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-oneapi"
python="${PYTHON:-python3}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import one.api, one.alf.cache" 2>/dev/null; then
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check "ONE-api>=3,<4"
"$venv/bin/python" -c "import one; print('ONE-api', one.__version__, 'installed in', '$venv')"
