"""Trust tables: users, roles, tokens, sessions, audit log, consent, data-subject requests,
suppression, access statistics and alerts, privacy budgets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import (
    Base,
    IdMixin,
    IdType,
    JsonType,
    RecordMixin,
    TimestampMixin,
    UtcDateTime,
    info,
    utcnow,
)


class User(RecordMixin, Base):
    __tablename__ = "users"
    email: Mapped[str] = mapped_column(String(254), unique=True, info=info("contact.email", format="email", search=True))
    name: Mapped[str] = mapped_column(String(200), info=info("contact.name", search=True))
    password_hash: Mapped[str | None] = mapped_column(String(200), info=info("credential.secret", writable=False))
    locale: Mapped[str] = mapped_column(String(10), default="en", info=info("user.preference", enum=["en", "zh_CN"]))
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai", info=info("user.preference"))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, info=info("user.role", writable=False))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, info=info("user.status", writable=False))
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("teams.id", ondelete="SET NULL"), info=info("system.reference"))
    region_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id", ondelete="SET NULL"), info=info("system.reference"))
    totp_secret: Mapped[str | None] = mapped_column(String(200), info=info("credential.secret", writable=False))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta", writable=False))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, info=info("credential.meta", writable=False))
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta", writable=False))
    lock_reason: Mapped[str | None] = mapped_column(String(40), info=info("user.status", writable=False))


class ApiToken(IdMixin, TimestampMixin, Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    name: Mapped[str] = mapped_column(String(100), info=info("credential.meta"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=info("credential.secret"))
    prefix: Mapped[str] = mapped_column(String(12), info=info("credential.meta"))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))
    roles: Mapped[list[str]] = mapped_column(JsonType, default=list, info=info("credential.meta"))


class UserSession(IdMixin, TimestampMixin, Base):
    """A browser session; the cookie carries a signed random id whose hash is stored here."""

    __tablename__ = "user_sessions"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True, info=info("credential.secret"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, info=info("credential.meta"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))
    user_agent: Mapped[str | None] = mapped_column(String(300), info=info("device.user_agent"))
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))


class Role(RecordMixin, Base):
    """A role as data: object rights, record scope, field access per data category.

    ``permissions`` shape (see ``rapport.trust.permissions``)::

        {"objects": {"contacts": {"rights": ["create", "read"], "scope": "own"}, "*": {...}},
         "fields": {"contact.phone": "masked", "contact": "clear", "*": "writable"},
         "reveal": false, "require_totp": false, "admin": false}
    """

    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(String(60), unique=True, info=info("schema.definition"))
    label: Mapped[str] = mapped_column(String(100), info=info("schema.definition"))
    description: Mapped[str | None] = mapped_column(Text, info=info("schema.definition"))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False, info=info("schema.definition", writable=False))
    permissions: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("schema.definition"))


class RoleVersion(IdMixin, Base):
    """Every saved version of a role's permissions (roles are versioned)."""

    __tablename__ = "role_versions"
    role_id: Mapped[int] = mapped_column(IdType, ForeignKey("roles.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    version: Mapped[int] = mapped_column(Integer, info=info("system.version"))
    permissions: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("schema.definition"))
    changed_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), info=info("system.reference"))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    __table_args__ = (UniqueConstraint("role_id", "version", name="uq_role_versions_role_version"),)


class UserRole(Base):
    """A user holds any number of roles."""

    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, info=info("system.reference"))
    role_id: Mapped[int] = mapped_column(IdType, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True, info=info("system.reference"))


class AuditEntry(Base):
    """One append-only, hash-chained audit entry; people appear only as pseudonyms."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, info=info("system.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True, info=info("system.time"))
    action: Mapped[str] = mapped_column(String(60), index=True, info=info("system.audit"))
    actor: Mapped[str] = mapped_column(String(40), index=True, info=info("system.audit"))
    target: Mapped[str | None] = mapped_column(String(100), index=True, info=info("system.audit"))
    network: Mapped[str | None] = mapped_column(String(20), info=info("system.audit"))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("system.audit"))
    prev_hash: Mapped[str] = mapped_column(String(64), info=info("system.audit"))
    hash: Mapped[str] = mapped_column(String(64), unique=True, info=info("system.audit"))
    __table_args__ = (Index("ix_audit_log_actor_action_at", "actor", "action", "at"),)


class AuditHead(Base):
    """The newest entry of the audit chain, signed: truncating the log's tail is detectable."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, info=info("system.id"))
    last_id: Mapped[int] = mapped_column(IdType, info=info("system.audit"))
    last_hash: Mapped[str] = mapped_column(String(64), info=info("system.audit"))
    signature: Mapped[str] = mapped_column(String(64), info=info("system.audit"))


class ConsentRecord(IdMixin, Base):
    """One consent decision; the newest row per subject and purpose is the one in force."""

    __tablename__ = "consents"
    subject: Mapped[str] = mapped_column(String(80), index=True, info=info("system.reference"))
    purpose: Mapped[str] = mapped_column(String(40), info=info("consent.purpose"))
    status: Mapped[str] = mapped_column(String(20), info=info("consent.status"))
    lawful_basis: Mapped[str] = mapped_column(String(40), info=info("consent.basis"))
    source: Mapped[str] = mapped_column(String(100), info=info("consent.source"))
    evidence: Mapped[str | None] = mapped_column(Text, info=info("consent.evidence"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("consent.expiry"))
    recorded_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), info=info("system.reference"))
    __table_args__ = (Index("ix_consents_subject_purpose", "subject", "purpose", "id"),)


class DataSubjectRequest(RecordMixin, Base):
    """An access or erasure request, tracked against its legal deadline."""

    __tablename__ = "dsr_requests"
    kind: Mapped[str] = mapped_column(String(20), info=info("privacy.request"))
    law: Mapped[str] = mapped_column(String(10), info=info("privacy.request"))
    subject: Mapped[str | None] = mapped_column(String(80), index=True, info=info("system.reference"))
    subject_pseudonym: Mapped[str] = mapped_column(String(40), index=True, info=info("system.audit"))
    status: Mapped[str] = mapped_column(String(20), default="received", info=info("privacy.request"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, info=info("system.time"))
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
    requested_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), info=info("system.reference"))
    report: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("privacy.report"))
    notes: Mapped[str | None] = mapped_column(Text, info=info("privacy.request"))


class Suppression(IdMixin, TimestampMixin, Base):
    """An erased person's identifier as a keyed hash: re-ingestion of it is refused."""

    __tablename__ = "suppressions"
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, info=info("privacy.suppression"))
    kind: Mapped[str] = mapped_column(String(20), info=info("privacy.suppression"))
    request_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("dsr_requests.id", ondelete="SET NULL"), info=info("system.reference"))


class AccessStat(IdMixin, Base):
    """Records one user read and exported in one hour: the anomaly detector's baseline."""

    __tablename__ = "access_stats"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), info=info("system.reference"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime, info=info("system.time"))
    reads: Mapped[int] = mapped_column(Integer, default=0, info=info("security.metric"))
    exports: Mapped[int] = mapped_column(Integer, default=0, info=info("security.metric"))
    high_value: Mapped[int] = mapped_column(Integer, default=0, info=info("security.metric"))
    objects: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("security.metric"))
    networks: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("security.metric"))
    __table_args__ = (UniqueConstraint("user_id", "hour", name="uq_access_stats_user_hour"),)


class SecurityAlert(IdMixin, TimestampMixin, Base):
    """An alert for admins (e.g. a user locked by the anomaly detector), reviewed and resolved."""

    __tablename__ = "security_alerts"
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    kind: Mapped[str] = mapped_column(String(40), info=info("security.alert"))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True, info=info("security.alert"))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("security.alert"))
    resolved_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), info=info("system.reference"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
    resolution: Mapped[str | None] = mapped_column(Text, info=info("security.alert"))


class PrivacyBudget(IdMixin, TimestampMixin, Base):
    """An analyst's differential-privacy budget (total and spent epsilon)."""

    __tablename__ = "privacy_budgets"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), unique=True, info=info("system.reference"))
    epsilon_total: Mapped[float] = mapped_column(Float, info=info("privacy.budget"))
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0, info=info("privacy.budget"))


class PrivateQuery(IdMixin, TimestampMixin, Base):
    """One differentially private query and the epsilon it spent."""

    __tablename__ = "private_queries"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    epsilon: Mapped[float] = mapped_column(Float, info=info("privacy.budget"))
    query: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("privacy.query"))


class LoginThrottle(Base):
    """Failed sign-ins from one network address (a keyed hash of it, never the address):
    past the limit within the window, every sign-in from there waits, whatever the account."""

    __tablename__ = "login_throttle"
    address_key: Mapped[str] = mapped_column(String(64), primary_key=True, info=info("security.metric"))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime, info=info("system.time"))
    failures: Mapped[int] = mapped_column(Integer, default=0, info=info("security.metric"))
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
