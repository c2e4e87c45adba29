"""Which partition an event belongs to: a stable hash of its customer key."""

from __future__ import annotations

import zlib


def customer_key(user_id: str | None, anonymous_id: str | None) -> str:
    """The key events of one customer share as far as the collector can tell."""
    return f"u:{user_id}" if user_id else f"a:{anonymous_id or ''}"


def partition_of(key: str, partitions: int) -> int:
    """CRC-32 of the key modulo the partition count: the same on every process and machine."""
    return zlib.crc32(key.encode("utf-8")) % partitions
