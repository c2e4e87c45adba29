"""Sign-in throttling per network address, on top of the per-account lockout.

The account lockout (five failures, then minutes to an hour) stops guessing one account's
password; it does not stop one address trying a common password on every account (password
spraying). Here failed sign-ins are also counted per address: an IPv4 address, or the /64 an
IPv6 client sits in (one host usually holds a whole /64). Past ``login_address_failures``
failures within ``login_address_minutes``, every sign-in from that address is refused for the
same number of minutes (429 with Retry-After), before any password is checked and whatever
the account. The table holds a keyed hash of the network, never the address.

Behind a reverse proxy every client has the proxy's address unless the server is told to
trust its ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS`` for ``rapport serve``); docs/accounts.md.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rapport.trust.models import LoginThrottle
from rapport.trust.pseudonym import keyed_hash


def address_key(secret: str, client_ip: str | None) -> str | None:
    """The keyed hash of the client's network (IPv4 /32, IPv6 /64); None when unknown."""
    if not client_ip:
        return None
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return None
    prefix = 32 if address.version == 4 else 64
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return keyed_hash(secret, "login-address", str(network))


@dataclass(frozen=True)
class AddressThrottle:
    """The throttle of one client address, for one sign-in attempt."""

    key: str
    failures: int
    period: timedelta

    def wait_seconds(self, session: Session, now: datetime) -> int:
        """Seconds until this address may try again (0: it may now)."""
        row = session.get(LoginThrottle, self.key)
        if row is None or row.blocked_until is None or row.blocked_until <= now:
            return 0
        return max(1, math.ceil((row.blocked_until - now).total_seconds()))

    def note_failure(self, session: Session, now: datetime) -> int:
        """Count a failed sign-in; returns the block in seconds when this one reaches the
        limit, else 0."""
        dialect = session.get_bind().dialect.name
        module: Any = postgresql if dialect == "postgresql" else sqlite
        session.execute(module.insert(LoginThrottle).values(
            address_key=self.key, window_start=now, failures=0).on_conflict_do_nothing())
        row = session.get(LoginThrottle, self.key, with_for_update=dialect == "postgresql",
                          populate_existing=True)
        assert row is not None
        if now - row.window_start > self.period:
            row.window_start, row.failures = now, 0
        row.failures += 1
        if row.failures < self.failures:
            session.flush()
            return 0
        row.blocked_until = now + self.period
        row.window_start, row.failures = now, 0
        session.flush()
        return int(self.period.total_seconds())


def for_client(secret: str, client_ip: str | None, failures: int,
               minutes: int) -> AddressThrottle | None:
    """The throttle for a request's client, or None when it is off (``failures`` 0) or the
    address is unknown."""
    key = address_key(secret, client_ip)
    if key is None or failures <= 0:
        return None
    return AddressThrottle(key, failures, timedelta(minutes=minutes))
