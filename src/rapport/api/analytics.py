"""Differentially private aggregates with a per-analyst budget (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Private analytics"])
