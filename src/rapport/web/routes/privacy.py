"""Privacy officer pages: data-subject requests and their deadlines."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
