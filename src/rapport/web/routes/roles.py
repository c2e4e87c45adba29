"""Role administration and the reveal action on masked values."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
