"""Provider SDKs stay in their connector modules: the rest of tiegraph never imports them."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tiegraph"
SDK_HOMES = {
    "googleapiclient": {"ingest/google_api.py", "ingest/gmail.py", "ingest/gcal.py"},
    "google": {"ingest/google_api.py"},
    "google_auth_httplib2": {"ingest/google_api.py"},
    "httplib2": {"ingest/google_api.py"},
}


def test_google_client_libraries_are_imported_only_by_the_google_connectors() -> None:
    offenders = []
    for module in SRC.rglob("*.py"):
        where = module.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                homes = SDK_HOMES.get(name.split(".")[0])
                if homes is not None and where not in homes:
                    offenders.append(f"{where}: {name}")
    assert offenders == []
