"""The core stays pure: it imports the standard library, itself and the PSL package, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "tiegraph" / "core"
ALLOWED = {"tldextract"}


def test_core_imports_no_adapter_or_io_library() -> None:
    offenders = []
    for module in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                adapter = name.startswith("tiegraph.") and not name.startswith("tiegraph.core")
                third_party = top != "tiegraph" and top not in sys.stdlib_module_names and top not in ALLOWED
                if adapter or third_party:
                    offenders.append(f"{module.name}: {name}")
    assert offenders == []
