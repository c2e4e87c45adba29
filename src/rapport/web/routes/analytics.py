"""Private analytics: query with differential privacy, see the budget."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
