"""One gRPC service answered by several servicers, each defining some of its RPCs (a service's
features live in their own modules; the generated registration wants one object)."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any


def compose(descriptor: Any, parts: Sequence[object]) -> SimpleNamespace:
    """One object answering every RPC of the service ``descriptor`` names, each by the one
    part that defines it. Raises at start-up when an RPC has no part or two, rather than
    answering UNIMPLEMENTED (or the wrong feature) at run time."""
    handlers: dict[str, Any] = {}
    for method in descriptor.methods:
        owners = [part for part in parts if hasattr(part, method.name)]
        if len(owners) != 1:
            names = ", ".join(type(o).__name__ for o in owners) or "none"
            raise RuntimeError(f"{descriptor.full_name}.{method.name} is served by {names}")
        handlers[method.name] = getattr(owners[0], method.name)
    return SimpleNamespace(**handlers)
