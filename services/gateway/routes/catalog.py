"""Admin REST routes of the catalog feature."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
