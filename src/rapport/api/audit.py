"""The audit log: viewer, verification and SIEM export (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["Audit"])
