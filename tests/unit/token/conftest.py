from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.token.fakes import close_worlds


@pytest.fixture(autouse=True)
async def _close_token_worlds() -> AsyncIterator[None]:
    yield
    await close_worlds()
