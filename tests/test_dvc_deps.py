"""dvc.yaml's code dependencies cannot go stale: each stage's deps cover every qraptor module its
command can import (statically, top-level and function-level imports, transitively, with the
packages' __init__ files that importing them runs). A change anywhere in that closure then
reruns the stage; a module added to the closure but not to dvc.yaml fails here, naming it."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# stage -> (module, function) its command runs: the CLI dispatcher's handler, then the stage
DISPATCH = ("qraptor.cli.main", None)
STAGES = {
    "raw": [DISPATCH, ("qraptor.cli.data_stages", "run_raw")],
    "ingest": [DISPATCH, ("qraptor.cli.data_stages", "run_ingest")],
    "clean": [DISPATCH, ("qraptor.cli.data_stages", "run_clean")],
    "reduce": [DISPATCH, ("qraptor.cli.data_stages", "run_reduce")],
    "features": [DISPATCH, ("qraptor.cli.data_stages", "run_features")],
    "split": [DISPATCH, ("qraptor.cli.data_stages", "run_split")],
    "panel_raw": [DISPATCH, ("qraptor.cli.data_stages", "run_panel_raw")],
    "panel_dataset": [DISPATCH, ("qraptor.cli.data_stages", "run_panel_dataset")],
    "train": [("qraptor.train.__main__", None)],
    "evaluate": [DISPATCH, ("qraptor.evaluation.report", None)],
    "plots_template": [DISPATCH, ("qraptor.core.vega_offline", None)],
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("qraptor", cache_dir=None)


def _file(module: str) -> Path:
    base = SRC / module.replace(".", "/")
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imports_of_function(module: str, function: str) -> set[str]:
    """qraptor modules imported inside `function` of `module` (lazy imports)."""
    tree = ast.parse(_file(module).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    found = set()
    for item in ast.walk(node):
        if isinstance(item, ast.ImportFrom) and item.module and item.module.startswith("qraptor"):
            found.add(item.module)
            found |= {f"{item.module}.{a.name}" for a in item.names}
        elif isinstance(item, ast.Import):
            found |= {a.name for a in item.names if a.name.startswith("qraptor")}
    return found


def _module_level_imports(graph: grimp.ImportGraph, module: str) -> set[str]:
    """What `module` imports outside its functions (grimp counts every import in the file,
    so a dispatcher's lazy imports of other commands are left out here)."""
    tree = ast.parse(_file(module).read_text())
    found = set()
    for item in tree.body:
        if isinstance(item, ast.ImportFrom) and item.module and item.module.startswith("qraptor"):
            found.add(item.module)
            found |= {f"{item.module}.{a.name}" for a in item.names}
        elif isinstance(item, ast.Import):
            found |= {a.name for a in item.names if a.name.startswith("qraptor")}
    return {m for m in found if m in graph.modules}


def closure(graph: grimp.ImportGraph, entries: list[tuple[str, str | None]]) -> set[Path]:
    """Files of every module a stage can import, its packages' __init__ files included."""
    roots: set[str] = set()
    for module, function in entries:
        roots.add(module)
        if function is None and module == DISPATCH[0]:
            roots |= _module_level_imports(graph, module)
        elif function is None:
            roots |= graph.find_upstream_modules(module)
        else:
            direct = _imports_of_function(module, function) | _module_level_imports(graph, module)
            roots |= {m for m in direct if m in graph.modules}
    modules = set(roots)
    for module in roots:
        if module != DISPATCH[0]:
            modules |= graph.find_upstream_modules(module)
    with_parents = set(modules)
    for module in modules:
        parts = module.split(".")
        with_parents |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return {_file(m).relative_to(ROOT) for m in with_parents}


def _covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stages_code_deps_cover_its_import_closure(graph, stage: str) -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    deps = [d for d in stages[stage]["deps"] if d.startswith("src/")]
    needed = closure(graph, STAGES[stage])
    assert needed, stage
    missing = sorted(str(p) for p in needed if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r} misses code deps: {missing}"
    for dep in deps:
        assert (ROOT / dep).exists(), f"dvc.yaml stage {stage!r}: no such dep {dep}"


def test_every_stage_of_dvc_yaml_is_checked() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(STAGES)


def test_the_closure_follows_lazy_imports(graph) -> None:
    """Non-vacuous: the reduce stage's closure reaches the reducers through the stage's own
    function, and the clean stage's does not reach them."""
    reduce = closure(graph, STAGES["reduce"])
    assert Path("src/qraptor/data/reduce/reducers.py") in reduce
    assert Path("src/qraptor/data/__init__.py") in reduce
    assert Path("src/qraptor/core/errors.py") in reduce
    assert Path("src/qraptor/store/store.py") not in reduce
