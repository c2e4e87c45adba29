"""Security alerts from the anomaly detector; review and unlock (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Security"])
