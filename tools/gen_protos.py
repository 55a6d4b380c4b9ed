"""Generate Python stubs for every proto under protos/ into gen/ (reproducibly).

gen/ is gitignored; every entry point (make run, make test, .ci/run) calls this first.
Stubs are only regenerated when a .proto is newer than the newest generated file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"


def _up_to_date(sources: list[Path]) -> bool:
    outputs = list(GEN.rglob("*_pb2.py"))
    if len(outputs) < len(sources):
        return False
    newest_source = max(p.stat().st_mtime for p in sources)
    return min(p.stat().st_mtime for p in outputs) >= newest_source


def main() -> int:
    sources = sorted(PROTOS.rglob("*.proto"))
    if not sources:
        print("no .proto files under protos/", file=sys.stderr)
        return 1
    if "--force" not in sys.argv and _up_to_date(sources):
        return 0
    GEN.mkdir(exist_ok=True)
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={GEN}",
        f"--pyi_out={GEN}",
        f"--grpc_python_out={GEN}",
        *[str(s) for s in sources],
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    # Regular packages (not namespace packages) so mypy and importlib agree on the layout.
    for directory in {p.parent for p in GEN.rglob("*_pb2.py")}:
        while directory != GEN:
            (directory / "__init__.py").touch()
            directory = directory.parent
    return 0


if __name__ == "__main__":
    sys.exit(main())
