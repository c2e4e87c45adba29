"""The per-person consent panel on contact and lead pages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
