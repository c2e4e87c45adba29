"""Which partition an event belongs to: a stable hash of its customer key."""

from __future__ import annotations

import zlib

from rapport.identity.identifiers import is_junk


def customer_key(user_id: str | None, anonymous_id: str | None) -> str:
    """The key events of one customer share as far as the collector can tell (sessions)."""
    return f"u:{user_id}" if user_id else f"a:{anonymous_id or ''}"


def partition_key(user_id: str | None, anonymous_id: str | None) -> str:
    """The key that picks an event's partition: the device's ``anonymousId`` when it has a
    usable one, else the ``userId``.

    Segment-style clients send the same anonymous id before and after ``identify``, so one
    visitor's whole journey lands in one partition. Keyed on the user id once known, the
    identify and everything after it would move to another partition than the anonymous
    events before it, and two processors would race to write the same identities.
    """
    if anonymous_id and not is_junk(anonymous_id):
        return f"a:{anonymous_id}"
    return customer_key(user_id, anonymous_id)


def partition_of(key: str, partitions: int) -> int:
    """CRC-32 of the key modulo the partition count: the same on every process and machine."""
    return zlib.crc32(key.encode("utf-8")) % partitions
