"""The package layout must never shadow the standard library (STYLE: services/token)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import token
import tokenize
from pathlib import Path


def test_import_token_is_the_standard_library_module() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(token.__file__).resolve().parent == stdlib
    assert hasattr(token, "NAME")
    # tokenize imports token internally: it breaks first when token is shadowed.
    assert tokenize.generate_tokens is not None


def test_token_service_is_only_importable_through_its_package() -> None:
    code = "import token, services.token.wiring; print(token.__file__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "services" not in out.stdout
