"""Page requests as every registry list accepts them."""

from __future__ import annotations

from services.common.errors import InvalidArgument
from services.registry.domain.models import PageRequest

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


def page_request(size: int, offset: int) -> PageRequest:
    """``size`` 1..200 (0 = default 50); a negative offset reads as the first page."""
    if size < 0 or size > MAX_PAGE_SIZE:
        raise InvalidArgument(
            "PAGE_SIZE_INVALID",
            f"page_size must be between 1 and {MAX_PAGE_SIZE} (0 = default {DEFAULT_PAGE_SIZE}).",
        )
    return PageRequest(size=size or DEFAULT_PAGE_SIZE, offset=max(offset, 0))
