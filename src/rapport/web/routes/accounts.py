"""Account security pages: two-factor sign-in, sessions, API tokens."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
