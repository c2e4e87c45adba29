"""Access policy: what a set of roles may do, read from the roles' ``permissions`` data.

A role grants, per object, rights (create/read/update/delete/export) and a record scope
(own/team/region/all); per data category a field access (hidden/masked/clear/writable);
whether masked values may be revealed; whether two-factor sign-in is required; and named
capabilities for the trust pages (audit, privacy requests, roles...). A user holding several
roles gets the most open of each. The policy is computed once per request and carried by the
``Actor``; ``rapport.crm.service`` enforces it for every read and write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

RIGHTS = ("create", "read", "update", "delete", "export")
SCOPES = ("own", "team", "region", "all")  # narrow to wide
FIELD_ACCESS = ("hidden", "masked", "clear", "writable")  # closed to open
CAPABILITIES = (
    "roles.manage",  # edit roles and who holds them
    "users.manage",  # create, lock and unlock users
    "schema.manage",  # custom fields and custom objects
    "audit.read",  # audit log viewer and SIEM export
    "privacy.manage",  # data-subject requests
    "consent.manage",  # record consent on behalf of people
    "security.manage",  # anomaly alerts, unlocking
    "analytics.private",  # differentially private aggregates
    "budgets.manage",  # grant privacy budgets
    "sources.manage",  # event sources, write keys, dead letters and their replay
    "health.read",  # the data-health dashboard
    "profiles.merge",  # review, merge and unmerge customer profiles
)

# Categories masked unless a role says otherwise ("masking by default"). A category matches
# itself or any category below it: "identity" covers "identity.national_id".
SENSITIVE_CATEGORIES = (
    "contact.phone", "contact.email", "identity", "health", "financial.account",
    "financial.detail", "sensitive",
)


def is_sensitive(category: str) -> bool:
    return any(category == c or category.startswith(c + ".") for c in SENSITIVE_CATEGORIES)


@dataclass(frozen=True)
class ObjectGrant:
    rights: frozenset[str] = frozenset()
    scope: str = "own"

    def allows(self, right: str) -> bool:
        return right in self.rights


NO_GRANT = ObjectGrant()


@dataclass(frozen=True)
class AccessPolicy:
    """The merged permissions of the roles a caller acts with."""

    roles: tuple[str, ...] = ()
    objects: Mapping[str, ObjectGrant] = field(default_factory=dict)
    field_maps: tuple[Mapping[str, str], ...] = ()  # one per role, each resolved on its own
    capabilities: frozenset[str] = frozenset()
    can_reveal: bool = False
    require_totp: bool = False
    admin: bool = False
    trusted_network: bool = True
    _views: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # a fresh cache per instance (``replace`` builds a new one for the outside view)
        object.__setattr__(self, "_views", {})

    def grant(self, object_name: str) -> ObjectGrant:
        return self.objects.get(object_name) or self.objects.get("*") or NO_GRANT

    def allows(self, object_name: str, right: str) -> bool:
        return self.grant(object_name).allows(right)

    def scope(self, object_name: str) -> str:
        return self.grant(object_name).scope

    def field_view(self, category: str) -> str:
        """hidden, masked or clear: how values of one data category are shown, network considered.

        Sensitive categories are masked unless a role names the category (or its parent)
        as clear or writable: ``"*": "writable"`` alone does not unmask them.
        """
        cached = self._views.get(category)
        if cached is not None:
            return cached
        view = max((_view(m, category) for m in self.field_maps), key=VIEWS.index, default="hidden")
        if view == "clear" and is_sensitive(category) and not self.trusted_network:
            view = "masked"
        self._views[category] = view
        return view

    def field_writable(self, category: str) -> bool:
        return any(_lookup(m, category)[0] == "writable" for m in self.field_maps)

    def field_access(self, category: str) -> str:
        """One word for both: hidden, masked, clear or writable (writable may be shown masked)."""
        if self.field_writable(category) and self.field_view(category) != "hidden":
            return "writable"
        return self.field_view(category)

    def may_reveal(self) -> bool:
        return self.can_reveal and self.trusted_network

    def can(self, capability: str) -> bool:
        return self.admin or capability in self.capabilities

    def outside_network(self) -> AccessPolicy:
        return replace(self, trusted_network=False)


VIEWS = ("hidden", "masked", "clear")


def _lookup(fields: Mapping[str, str], category: str) -> tuple[str, bool]:
    """The most specific entry (``contact.phone``, ``contact``, ``*``) and whether it named
    the category or its parent explicitly."""
    if category in fields:
        return fields[category], True
    head = category.split(".", 1)[0]
    if head in fields:
        return fields[head], True
    return fields.get("*", "hidden"), False


def _view(fields: Mapping[str, str], category: str) -> str:
    access, explicit = _lookup(fields, category)
    if access in ("hidden", "masked"):
        return access
    if is_sensitive(category) and not explicit:
        return "masked"  # masking by default: only an explicit entry shows sensitive data
    return "clear"


FULL_ACCESS = AccessPolicy(
    roles=("system",),
    objects={"*": ObjectGrant(frozenset(RIGHTS), "all")},
    field_maps=({"*": "writable", **dict.fromkeys(SENSITIVE_CATEGORIES, "writable")},),
    capabilities=frozenset(CAPABILITIES),
    can_reveal=True,
    admin=True,
)
NO_ACCESS = AccessPolicy()


class PermissionsInvalid(ValueError):
    """A role's permissions document is malformed; the message says where."""


def validate_permissions(doc: Any) -> dict[str, Any]:
    """Check a permissions document and return it normalised (sorted rights, known keys)."""
    if not isinstance(doc, dict):
        raise PermissionsInvalid("permissions must be an object")
    known = {"objects", "fields", "capabilities", "reveal", "require_totp", "admin"}
    unknown = set(doc) - known
    if unknown:
        raise PermissionsInvalid(f"unknown keys {sorted(unknown)}; use {sorted(known)}")
    objects = doc.get("objects", {})
    if not isinstance(objects, dict):
        raise PermissionsInvalid("objects must map an object name (or *) to rights and scope")
    out_objects: dict[str, Any] = {}
    for name, grant in objects.items():
        if not isinstance(grant, dict):
            raise PermissionsInvalid(f"objects.{name} must be an object with rights and scope")
        rights = grant.get("rights", [])
        if not isinstance(rights, list) or any(r not in RIGHTS for r in rights):
            raise PermissionsInvalid(f"objects.{name}.rights must be a list of {list(RIGHTS)}")
        scope = grant.get("scope", "own")
        if scope not in SCOPES:
            raise PermissionsInvalid(f"objects.{name}.scope must be one of {list(SCOPES)}")
        out_objects[str(name)] = {"rights": sorted(set(rights), key=RIGHTS.index), "scope": scope}
    fields = doc.get("fields", {})
    if not isinstance(fields, dict) or any(v not in FIELD_ACCESS for v in fields.values()):
        raise PermissionsInvalid(f"fields must map a data category (or *) to one of {list(FIELD_ACCESS)}")
    capabilities = doc.get("capabilities", [])
    if not isinstance(capabilities, list) or any(c not in CAPABILITIES for c in capabilities):
        raise PermissionsInvalid(f"capabilities must be a list of {list(CAPABILITIES)}")
    flags = {}
    for flag in ("reveal", "require_totp", "admin"):
        value = doc.get(flag, False)
        if not isinstance(value, bool):
            raise PermissionsInvalid(f"{flag} must be true or false")
        flags[flag] = value
    return {"objects": out_objects, "fields": dict(fields), "capabilities": sorted(set(capabilities)),
            **flags}


def policy_from(roles: Iterable[tuple[str, Mapping[str, Any]]]) -> AccessPolicy:
    """Merge named permission documents: the most open grant of each kind wins.

    Each role is resolved on its own first (its ``*`` entries fill in what it does not
    name), so one role's narrow entry for an object never hides another role's ``*``.
    """
    docs = [(name, doc) for name, doc in roles]
    if any(doc.get("admin") for _, doc in docs):
        # admins may do everything, but see sensitive values masked like everyone else
        # (they may reveal them); the system itself (FULL_ACCESS) sees them in clear
        other_maps = tuple(dict(d.get("fields") or {}) for _, d in docs if not d.get("admin"))
        return replace(FULL_ACCESS, roles=tuple(n for n, _ in docs),
                       field_maps=({"*": "writable"}, *other_maps),
                       require_totp=any(bool(d.get("require_totp")) for _, d in docs))
    keys = {"*"} | {k for _, doc in docs for k in (doc.get("objects") or {})}
    objects: dict[str, ObjectGrant] = {}
    for key in keys:
        grants = []
        for _, doc in docs:
            role_objects = doc.get("objects") or {}
            raw = role_objects.get(key) or role_objects.get("*")
            if raw:
                grants.append(ObjectGrant(frozenset(raw.get("rights", [])), raw.get("scope", "own")))
        if grants:
            objects[key] = ObjectGrant(
                frozenset().union(*(g.rights for g in grants)),
                max((g.scope for g in grants), key=SCOPES.index))
    return AccessPolicy(
        roles=tuple(n for n, _ in docs),
        objects=objects,
        field_maps=tuple(dict(doc.get("fields") or {}) for _, doc in docs),
        capabilities=frozenset(c for _, doc in docs for c in doc.get("capabilities") or []),
        can_reveal=any(bool(doc.get("reveal")) for _, doc in docs),
        require_totp=any(bool(doc.get("require_totp")) for _, doc in docs),
    )
