"""Layering: the pure plan imports no I/O library; only the adapters import mlflow and git."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "controller"
MLFLOW_ADAPTERS = {
    *("mlflow_registry.py", "mlflow_connection.py", "mlflow_sources.py"),
    *("mlflow_webhooks.py", "verify_worker.py"),
}
GIT_ADAPTERS = {"history.py"}
PURE = {
    *("plan.py", "policy.py", "state.py", "yamlsource.py", "errors.py"),
    *("spec.py", "spec_errors.py", "timespec.py", "windows.py", "soak.py"),
    *("signature.py", "evidence.py", "registry.py", "faults.py", "uris.py"),
    *("serve/signing.py", "serve/webhook_event.py", "serve/page.py", "serve/status.py"),
    "serve/page_style.py",
    *("webhook_install.py", "inventory.py", "stages.py"),
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_registry_adapter_imports_mlflow(path: Path) -> None:
    if str(path.relative_to(PACKAGE)) not in MLFLOW_ADAPTERS:
        assert "mlflow" not in imported_roots(path)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_history_imports_git(path: Path) -> None:
    if str(path.relative_to(PACKAGE)) not in GIT_ADAPTERS:
        assert "git" not in imported_roots(path)


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_modules_do_no_io_imports(name: str) -> None:
    banned = {"mlflow", "git", "subprocess", "click", "requests", "concurrent"}
    assert not imported_roots(PACKAGE / name) & banned
