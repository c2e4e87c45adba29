"""Consent records per person and purpose (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Consent"])
