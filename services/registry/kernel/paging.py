"""Pages as every registry list accepts and returns them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from services.common.errors import InvalidArgument
from services.registry.kernel.models import PageOf, PageRequest

T = TypeVar("T")

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


def offset_page(items: list[T], total: int, page: PageRequest) -> PageOf[T]:
    """A page of ``items`` (already cut to the page) out of ``total``."""
    next_offset = page.offset + len(items)
    return PageOf(
        items=items, total=total, next_offset=next_offset if next_offset < total else None
    )


def slice_page(items: Sequence[T], page: PageRequest) -> PageOf[T]:
    """A page cut from the complete, ordered ``items`` (the memory stores' paging)."""
    return offset_page(list(items[page.offset : page.offset + page.size]), len(items), page)
