"""What every feature's gRPC servicer starts from: the caller's verified identity."""

from __future__ import annotations

from services.common.auth import Authenticator, Principal
from services.registry.kernel.convert import ServicerContext


class Servicer:
    """Servicers only translate: request → one use case → response (STYLE habit 1)."""

    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth

    async def principal(self, context: ServicerContext) -> Principal:
        return await self._auth.principal(context)
