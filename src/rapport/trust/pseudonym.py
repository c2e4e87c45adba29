"""Keyed hashes that name a person without holding their personal data.

Audit entries name data subjects by pseudonym; suppression entries keep an erased person's
identifiers as keyed hashes. Both are HMAC-SHA256 under the deployment's secret key, so a
copy of the database alone cannot be reversed by hashing guesses.
"""

from __future__ import annotations

import hashlib
import hmac

PERSON_OBJECTS = frozenset({"contacts", "leads", "users"})


def keyed_hash(secret: str, domain: str, value: str) -> str:
    mac = hmac.new(secret.encode(), f"{domain}\x00{value}".encode(), hashlib.sha256)
    return mac.hexdigest()


def pseudonym(secret: str, object_name: str, record_id: int | str) -> str:
    """A stable, non-reversible name for one person record, e.g. ``p_3fa94c…``."""
    return "p_" + keyed_hash(secret, "pseudonym", f"{object_name}:{record_id}")[:24]


def target_ref(secret: str, object_name: str, record_id: int | str) -> str:
    """How an audit entry names a record: a pseudonym for people, ``object:id`` otherwise."""
    if object_name in PERSON_OBJECTS and object_name != "users":
        return pseudonym(secret, object_name, record_id)
    return f"{object_name}:{record_id}"
