"""Who is acting, and with which access policy."""

from __future__ import annotations

from dataclasses import dataclass

from rapport.errors import Forbidden
from rapport.trust.permissions import FULL_ACCESS, NO_ACCESS, AccessPolicy


@dataclass(frozen=True)
class Actor:
    """A user (via UI, API token or CLI) or the system.

    ``policy`` is what the caller's roles allow (the service layer enforces it). An actor
    built without one gets full access only if ``is_admin``; anyone else gets none, so a
    code path that forgets to pass the policy fails closed.
    """

    user_id: int | None
    source: str = "api"
    is_admin: bool = False
    policy: AccessPolicy | None = None
    team_id: int | None = None
    region_id: int | None = None
    network: str = "trusted"  # trusted | untrusted (outside the configured CIDR list)

    @property
    def access(self) -> AccessPolicy:
        if self.policy is not None:
            return self.policy
        return FULL_ACCESS if self.is_admin else NO_ACCESS

    def can(self, capability: str) -> bool:
        return self.access.can(capability)

    def require(self, capability: str, what: str) -> None:
        if not self.can(capability):
            raise Forbidden(f"Your roles do not allow {what}")


SYSTEM = Actor(user_id=None, source="system", is_admin=True)
NOBODY = Actor(user_id=None, source="anonymous")  # no policy: no access
