"""Roles and who holds them; revealing masked values (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Roles"])
