"""Network context: is a request coming from one of the configured trusted networks?"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _parse(networks: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip())


def is_trusted(client_ip: str | None, networks: Sequence[str]) -> bool:
    """With no networks configured every client is trusted; an unknown address never is."""
    if not networks:
        return True
    if not client_ip:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in net for net in _parse(tuple(networks)))


def validate_networks(networks: Sequence[str]) -> None:
    """Raise ValueError naming the first entry that is not a CIDR network."""
    for entry in networks:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not a network in CIDR form, e.g. 10.0.0.0/8") from None
