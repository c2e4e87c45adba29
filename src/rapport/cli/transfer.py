"""``rapport import`` and ``rapport export`` (filled in by the import/export work)."""

from __future__ import annotations
