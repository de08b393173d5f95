"""Provider SDKs and the cipher stay in their one module, and ingest/ talks to Kafka only through its
producer (STYLE.md: thin adapters)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tiegraph"
ONLY_IN = {"imapclient": "ingest/imap.py", "cryptography": "ingest/secrets.py"}


def _imports(module: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_sdks_and_kafka_are_imported_only_where_they_belong() -> None:
    offenders = []
    for module in SRC.rglob("*.py"):
        where, imports = module.relative_to(SRC).as_posix(), _imports(module)
        offenders += [f"{where} imports {lib}" for lib, home in ONLY_IN.items() if lib in imports and where != home]
        if where.startswith("ingest/") and where != "ingest/producer.py" and "aiokafka" in imports:
            offenders.append(f"{where} imports aiokafka")
    assert offenders == []
