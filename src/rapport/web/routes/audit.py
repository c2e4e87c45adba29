"""The audit log viewer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
