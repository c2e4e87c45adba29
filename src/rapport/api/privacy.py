"""Data-subject requests: access bundles and erasure (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Privacy requests"])
