"""The layers hold: no import cycles, every package is in the import graph, and the contracts bite.

The contracts themselves are ``[tool.importlinter]`` in pyproject.toml, checked by
``lint-imports`` in packaging/run-tests.sh. These tests add what import-linter does not check
(cycles between modules, folders it cannot see) and show on a scratch copy of the tree that a
forbidden import does fail the check, so that a contract cannot silently stop matching.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("supervisor", "sandbox", "thermal", "uplink", "tui")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of `graph` with more than one node, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d"], "f": ["a"]}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["d", "e"]]
    assert strongly_connected({"a": ["b"], "b": []}) == []


def test_no_module_is_part_of_an_import_cycle() -> None:
    # Imports under TYPE_CHECKING count: a cycle that only the annotations close still ties
    # the modules together (neither can be understood, tested or moved alone).
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert strongly_connected(edges) == []


def test_every_folder_of_python_code_is_a_package() -> None:
    # A folder without __init__.py is a namespace package: the import graph (and so every
    # contract) does not see its modules at all.
    missing = sorted(
        str(folder.relative_to(ROOT))
        for name in PACKAGES
        for folder in [ROOT / name, *(ROOT / name).rglob("*")]
        if folder.is_dir()
        and folder.name != "__pycache__"
        and any(folder.glob("*.py"))
        and not (folder / "__init__.py").exists()
    )
    assert missing == []


def _scratch_tree(tmp_path: Path) -> Path:
    """A copy of the five packages and of pyproject.toml under `tmp_path`."""
    tree = tmp_path / "tree"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.parametrize(
    ("contract", "module", "line", "reported"),
    [
        (
            "libraries",
            "thermal/planted.py",
            "from supervisor.cli.output import print_json\n",
            "thermal.planted -> supervisor.cli.output",
        ),
        ("textual", "uplink/planted.py", "import textual\n", "uplink.planted -> textual"),
        ("tui-client", "tui/planted.py", "import supervisor.api.client\n", "tui.planted -> "),
    ],
)
def test_a_forbidden_import_fails_the_contracts(
    tmp_path: Path, contract: str, module: str, line: str, reported: str
) -> None:
    tree = _scratch_tree(tmp_path)
    (tree / module).write_text(f'"""A deliberately wrong import."""\n\n{line}')
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert reported in result.stdout
