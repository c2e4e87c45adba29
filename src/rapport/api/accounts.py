"""Account security: two-factor sign-in, sessions and API tokens (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Accounts"])
