"""Migrations are additive and released ones never change (deploy/ runs them on live data).

Each context lists the migrations it has released in ``migrations/released.sha256``
(``sha256sum`` format). A released file that changes, disappears or is not listed fails here:
add a new revision instead. Every revision after a context's first may only add (tables,
columns, indexes, constraints), so the previous release keeps running against the new schema
during a rolling deploy.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from services.common.settings import CONTEXTS

SERVICES = Path(__file__).resolve().parents[2] / "services"
ADDITIVE_OPERATIONS = frozenset(
    {
        "add_column",
        "create_table",
        "create_index",
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "batch_alter_table",
        "f",
    }
)


def _versions(context: str) -> Path:
    return SERVICES / context / "migrations" / "versions"


def _released(context: str) -> dict[str, str]:
    manifest = SERVICES / context / "migrations" / "released.sha256"
    entries = {}
    for line in manifest.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        entries[name.strip()] = digest
    return entries


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_migration_is_listed_and_unchanged_since_its_release(context: str) -> None:
    files = {p.name: _digest(p) for p in _versions(context).glob("*.py")}
    released = _released(context)
    assert set(files) == set(released), (
        f"{context}: list every migration in migrations/released.sha256 (sha256sum format) "
        "when you add it; released migrations are never removed"
    )
    changed = sorted(name for name, digest in files.items() if released[name] != digest)
    assert changed == [], (
        f"{context}: released migrations {changed} changed; they have run on live databases. "
        "Restore them and add a new revision for the change."
    )


def _operations(function: ast.FunctionDef) -> set[str]:
    """The ``op.<name>`` / ``batch_op.<name>`` calls in ``function``."""
    names = set()
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("op", "batch_op")
        ):
            names.add(node.func.attr)
    return names


@pytest.mark.parametrize("context", CONTEXTS)
def test_revisions_after_the_first_only_add(context: str) -> None:
    for path in sorted(_versions(context).glob("*.py")):
        tree = ast.parse(path.read_text())
        assigned = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        down = assigned.get("down_revision")
        if isinstance(down, ast.Constant) and down.value is None:
            continue  # the context's initial schema
        upgrade = next(
            n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"
        )
        destructive = _operations(upgrade) - ADDITIVE_OPERATIONS
        assert not destructive, (
            f"{path.name} upgrades with {sorted(destructive)}: migrations are additive only "
            "(add a nullable column or one with a server default, a table, an index)"
        )
        for node in ast.walk(upgrade):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_column":
                column = node.args[-1] if node.args else None
                if isinstance(column, ast.Call):
                    keywords = {k.arg: k.value for k in column.keywords}
                    nullable = keywords.get("nullable")
                    required = isinstance(nullable, ast.Constant) and nullable.value is False
                    assert not required or "server_default" in keywords, (
                        f"{path.name}: a NOT NULL column added to a live table needs a "
                        "server_default"
                    )
