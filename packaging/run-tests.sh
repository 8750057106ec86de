#!/usr/bin/env bash
# Sets up the checkout (packaging/dev-setup.sh), then runs the linters, the type checker, the
# layer contracts ([tool.importlinter] in pyproject.toml) and the whole test suite, slow
# end-to-end tests included. Extra arguments go to pytest (to both parts below: a path that
# holds no `serial` test makes that part collect none, which fails; run pytest itself then).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/dev-setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
# --no-cache: the import graph takes about a second to build, and no cache folder is left behind.
lint-imports --no-cache --no-logo
# Two parts: the suite on two processes (pytest-xdist), its tests mostly wait on the processes
# and servers they start; then, alone, the tests marked `serial` (they change the whole system,
# or need their process or the worker user to themselves). pytest's 5 (no tests collected)
# counts as a failure in either part.
run_part() {
    set +e
    python -m pytest "$@"
    local rc=$?
    set -e
    if [ "$rc" = 5 ]; then
        echo "run-tests: pytest collected no tests ($*), which counts as a failure" >&2
        return 1
    fi
    return "$rc"
}
parallel=0
run_part -n 2 -m "not serial" "$@" || parallel=$?
serial=0
run_part -p no:xdist -m "serial and not single_threaded" "$@" || serial=$?
# The `single_threaded` tests fork this process for a child with one thread (Landlock covers
# no other). With the whole suite collected, a library's fork handler leaves the child a
# second (native) thread, so they run in a process of their own that collects only them.
single=0
if [ "$#" = 0 ]; then
    mapfile -t files < <(grep -rlE --include='test_*.py' 'mark\.single_threaded' tests)
    run_part -p no:xdist -m single_threaded "${files[@]}" || single=$?
fi
if [ "$parallel" != 0 ] || [ "$serial" != 0 ] || [ "$single" != 0 ]; then
    echo "run-tests: failed (parallel: exit $parallel, serial: $serial, single: $single)" >&2
    exit 1
fi
