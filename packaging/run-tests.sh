#!/usr/bin/env bash
# Sets up the checkout (packaging/dev-setup.sh), then runs the linters, the type checker, the
# layer contracts ([tool.importlinter] in pyproject.toml) and the whole test suite, slow
# end-to-end tests included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/dev-setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
# --no-cache: the import graph takes about a second to build, and no cache folder is left behind.
lint-imports --no-cache --no-logo
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
    echo "run-tests: pytest collected no tests, which counts as a failure" >&2
    exit 1
fi
exit "$rc"
