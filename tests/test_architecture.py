"""The layers hold: the core's imports form no circle and never reach up to the facade.

The import graph is read from the source with :mod:`ast`, so it sees every import
statement: relative and absolute ones, those under ``if TYPE_CHECKING:`` and those
inside functions, which a run-time check would miss. An edge goes to the module an
import names (``from .records import Memory`` to ``records``, ``from .. import
_validation`` to ``_validation``), not to the packages around it that Python loads on
the way: those are ``__init__`` modules, which import downwards by design.

The rules:

- no import circle among the modules of ``multisession``;
- below the facade (everything but ``multisession/__init__.py``, ``engine.py``,
  ``sharding.py``, which spreads users over engines, ``cli/`` and ``server/``) no module
  imports ``multisession.engine``, nor the package root that re-exports it;
- no module of ``multisession`` imports LangChain or LlamaIndex;
- the layers import downwards only: ``cli/`` and ``server/`` above ``sharding.py``, above
  the facade (``engine.py``, the methods it mixes in, and ``metrics.py``, which reads
  it), the facade above ``context/``, which is above ``retrieval/`` and ``extraction/``
  (side by side), above ``storage/``, above ``embeddings/``, above the plain base modules
  (records, errors, clock and the private helpers).

Each rule is also run on a small package written to ``tmp_path`` that breaks it, so a
check that stopped seeing its problem would fail here too.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

import multisession

ROOT = Path(multisession.__file__).parent
FRAMEWORKS = ("langchain", "llama_index")

#: The core's layers from the top down, by the first name below ``multisession``. A
#: module may import its own layer and the layers below it; only the top layer may
#: import the package root.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "server"}),
    frozenset({"sharding"}),
    frozenset(
        {
            "engine",
            "_async_twins",
            "_conversation_methods",
            "_lifecycle_methods",
            "_maintenance_methods",
            "_privacy_methods",
            "metrics",
        }
    ),
    frozenset({"context"}),
    frozenset({"retrieval", "extraction", "lifecycle"}),
    frozenset({"storage"}),
    frozenset({"embeddings", "privacy"}),
    frozenset(
        {
            "records",
            "errors",
            "clock",
            "_ids",
            "_validation",
            "_files",
            "_lru",
            "_log_once",
            "_latency",
            "_threads",
            "_patterns",
        }
    ),
)

Graph = Mapping[str, set[str]]


# -- reading the graph -------------------------------------------------------------------


def modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name."""
    package = package_dir.name
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported_modules(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's modules that a module's import statements name, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # A package's own name is the base of its relative imports; a module's is
                # its package's.
                parts = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            # ``from package import module`` names the module; any other name lives in
            # the source itself, so the source is what is imported.
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return (found & known) - {name}


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports."""
    known = modules(package_dir)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[name] = _imported_modules(tree, name, path.name == "__init__.py", set(known))
    return graph


def external_imports(package_dir: Path) -> dict[str, set[str]]:
    """Each module -> the top-level names of the absolute imports it makes."""
    result: dict[str, set[str]] = {}
    for name, path in modules(package_dir).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        tops: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                tops.add(node.module.split(".")[0])
        result[name] = tops
    return result


# -- the rules ---------------------------------------------------------------------------


def cycles(graph: Graph) -> list[list[str]]:
    """One import circle per strongly connected group of modules, each closed on itself."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph is small
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in order:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], order[target])
        if low[node] == order[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return [_circle_in(graph, group) for group in groups]


def _circle_in(graph: Graph, group: set[str]) -> list[str]:
    """The shortest circle through the group's first module (by name)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ()) & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no circle in the group {sorted(group)}")  # pragma: no cover


def facade_breaches(graph: Graph, package: str) -> list[tuple[str, str]]:
    """``(module, facade)`` for each module below the facade that imports it."""
    facade = {package, f"{package}.engine"}
    above = {
        package,
        f"{package}.engine",
        f"{package}.sharding",
        f"{package}.cli",
        f"{package}.server",
    }
    breaches = []
    for module, targets in sorted(graph.items()):
        if module in above or module.startswith((f"{package}.cli.", f"{package}.server.")):
            continue
        breaches += [(module, target) for target in sorted(targets & facade)]
    return breaches


def layer_breaches(
    graph: Graph, package: str, layers: Sequence[frozenset[str]]
) -> list[tuple[str, str]]:
    """``(module, target)`` for each import that does not point down the layers.

    The package root re-exports the public API and stands above every layer: only the
    top layer may import it. A module whose first name below the package is in no layer
    is reported too, so a new module has to be given its place.
    """
    level = {name: rank for rank, names in enumerate(layers) for name in names}
    level[""] = -1  # the package root

    def first(module: str) -> str:
        return module[len(package) + 1 :].split(".")[0]

    breaches = []
    for module, targets in sorted(graph.items()):
        if module == package:
            continue
        here = first(module)
        for target in sorted(targets):
            there = first(target)
            unplaced = here not in level or there not in level
            if unplaced or (level[there] < level[here] and not (there == "" and level[here] == 0)):
                breaches.append((module, target))
    return breaches


def framework_imports(package_dir: Path) -> list[tuple[str, str]]:
    """``(module, framework)`` for each module importing LangChain or LlamaIndex."""
    return [
        (module, top)
        for module, tops in sorted(external_imports(package_dir).items())
        for top in sorted(tops)
        if top.startswith(FRAMEWORKS)
    ]


def problems(package_dir: Path, layers: Sequence[frozenset[str]] = ()) -> list[str]:
    """Every broken rule, one line each, naming the circle or the import.

    The layer rule applies when ``layers`` are given (top down).
    """
    graph = import_graph(package_dir)
    package = package_dir.name
    return [
        *(f"import circle: {' -> '.join(circle)}" for circle in cycles(graph)),
        *(
            f"{module} imports {target}: nothing below the facade may (pass what it needs in)"
            for module, target in facade_breaches(graph, package)
        ),
        *(
            f"{module} imports {top}: the core imports no framework"
            for module, top in framework_imports(package_dir)
        ),
        *(
            f"{module} imports {target}: layers import downwards only (see LAYERS)"
            for module, target in (layer_breaches(graph, package, layers) if layers else [])
        ),
    ]


# -- the core ------------------------------------------------------------------------------


def test_the_core_keeps_its_layers() -> None:
    found = problems(ROOT, LAYERS)
    assert not found, "\n".join(found)


def test_the_graph_sees_the_core_as_it_is() -> None:
    # A few edges known to exist, of each kind of import statement: if the reader
    # stopped seeing one kind, the rules above would pass on an empty graph.
    graph = import_graph(ROOT)
    assert "multisession.engine" in graph["multisession"]  # from .engine import ...
    assert "multisession.records" in graph["multisession.context.replay"]  # from ..records
    assert "multisession._validation" in graph["multisession.cli.importer"]  # from .. import x
    assert "multisession.engine" in graph["multisession.cli.importer"]  # under TYPE_CHECKING
    assert len(graph) > 30 and sum(map(len, graph.values())) > 80


# -- a package that breaks every rule ------------------------------------------------------

FAKE = {
    "__init__.py": "from .engine import Engine\n",
    "engine.py": "from .store import Store\n\nclass Engine: ...\n",
    "store.py": (
        "from typing import TYPE_CHECKING\nfrom fakepkg.rank import rank\n\nclass Store: ...\n"
    ),
    "rank.py": (
        "from typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n"
        "    from .store import Store\n\n"
        "def rank() -> None: ...\n"
    ),
    "cli/__init__.py": "from ..engine import Engine\n",
    "deep/__init__.py": "",
    "deep/reader.py": (
        "import fakepkg.store\n\n"
        "def read() -> None:\n"
        "    from ..engine import Engine\n"
        "    from .. import Engine as Again\n"
        "    import langchain_core.messages\n"
    ),
}


@pytest.fixture
def fake_package(tmp_path: Path) -> Path:
    package = tmp_path / "fakepkg"
    for name, source in FAKE.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return package


def test_the_graph_reads_every_kind_of_import(fake_package: Path) -> None:
    assert import_graph(fake_package) == {
        "fakepkg": {"fakepkg.engine"},
        "fakepkg.engine": {"fakepkg.store"},
        "fakepkg.store": {"fakepkg.rank"},
        "fakepkg.rank": {"fakepkg.store"},
        "fakepkg.cli": {"fakepkg.engine"},
        "fakepkg.deep": set(),
        "fakepkg.deep.reader": {"fakepkg", "fakepkg.engine", "fakepkg.store"},
    }


def test_each_broken_rule_is_named(fake_package: Path) -> None:
    assert problems(fake_package) == [
        "import circle: fakepkg.rank -> fakepkg.store -> fakepkg.rank",
        "fakepkg.deep.reader imports fakepkg: nothing below the facade may (pass what it needs in)",
        "fakepkg.deep.reader imports fakepkg.engine: nothing below the facade may "
        "(pass what it needs in)",
        "fakepkg.deep.reader imports langchain_core: the core imports no framework",
    ]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": set()}, []),
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"a"}}, [["a", "a"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
        ({"a": {"b", "c"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["c", "d", "c"], ["a", "b", "a"]]),
    ],
)
def test_cycles(graph: Graph, expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_layers_import_downwards_only() -> None:
    layers = (frozenset({"top"}), frozenset({"left", "right"}), frozenset({"base", "util"}))
    graph = {
        "pkg": {"pkg.top"},
        "pkg.top": {"pkg.left.a", "pkg.base", "pkg"},  # the top layer may use the root
        "pkg.left.a": {"pkg.left.b", "pkg.base", "pkg.right"},  # its own layer, lower ones
        "pkg.left.b": {"pkg.top"},  # upwards
        "pkg.right": {"pkg.util", "pkg"},  # the root is above every layer
        "pkg.base": {"pkg.util"},
        "pkg.util": set(),
        "pkg.stray": {"pkg.base"},  # in no layer
    }
    assert layer_breaches(graph, "pkg", layers) == [
        ("pkg.left.b", "pkg.top"),
        ("pkg.right", "pkg"),
        ("pkg.stray", "pkg.base"),
    ]
