"""Security alerts: review locked users and unlock them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
