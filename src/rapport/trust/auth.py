"""Users, passwords (argon2), API tokens and browser sessions.

Tokens and session ids are random; only their SHA-256 is stored, so a leaked database does
not leak working credentials. Roles and fine-grained permissions come later and will be
enforced in the service layer through ``Actor``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rapport.crm.normalise import normalise_email
from rapport.db.base import utcnow
from rapport.errors import Conflict, Unauthenticated, ValidationFailed
from rapport.trust.models import ApiToken, User, UserSession
from rapport.trust.permissions import NO_ACCESS, AccessPolicy

_hasher = PasswordHasher()


def configure_password_hashing(time_cost: int, memory_cost_kib: int) -> None:
    """Change argon2 cost for new hashes (tests use a cheap profile; verify reads the hash)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)
TOKEN_PREFIX = "rpt_"  # noqa: S105 - a public prefix, not a secret
MIN_PASSWORD = 8


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request."""

    user_id: int
    email: str
    name: str
    is_admin: bool
    locale: str
    timezone: str
    team_id: int | None = None
    region_id: int | None = None
    policy: AccessPolicy = NO_ACCESS


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(session: Session, user: User, only_roles: list[str] | None = None) -> Principal:
    """The user with the merged policy of their roles (narrowed to a token's roles)."""
    from rapport.trust.roles import policy_for_user

    policy = policy_for_user(session, user.id, only_roles=only_roles, is_admin_flag=user.is_admin)
    return Principal(user.id, user.email, user.name, policy.admin, user.locale, user.timezone,
                     user.team_id, user.region_id, policy)


def create_user(
    session: Session,
    email: str,
    password: str,
    *,
    name: str | None = None,
    is_admin: bool = False,
    locale: str = "en",
) -> Principal:
    try:
        email = normalise_email(email)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"Passwords need at least {MIN_PASSWORD} characters")
    if session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"A user with email {email} already exists")
    user = User(
        email=email,
        name=name or email.split("@")[0],
        password_hash=_hasher.hash(password),
        is_admin=is_admin,
        locale=locale,
        custom={},
    )
    session.add(user)
    session.flush()
    return _principal(session, user)


def authenticate_password(session: Session, email: str, password: str) -> Principal:
    try:
        email = normalise_email(email)
    except ValueError:
        raise Unauthenticated("Wrong email or password") from None
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active or not user.password_hash:
        _hasher.hash(password)  # same cost whether or not the user exists
        raise Unauthenticated("Wrong email or password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("Wrong email or password") from None
    return _principal(session, user)


def create_api_token(
    session: Session, email: str, name: str = "cli", days: int | None = None
) -> str:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise ValidationFailed(f"No user with email {email}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days else None
    session.add(
        ApiToken(
            user_id=user.id, name=name, token_hash=_digest(token), prefix=token[:12],
            expires_at=expires,
        )
    )
    session.flush()
    return token


def principal_for_token(session: Session, token: str) -> Principal:
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _digest(token))
    ).first()
    now = utcnow()
    if row is None:
        raise Unauthenticated("The API token is not valid")
    api_token, user = row
    if api_token.revoked_at or (api_token.expires_at and api_token.expires_at < now):
        raise Unauthenticated("The API token has expired or was revoked")
    if not user.is_active:
        raise Unauthenticated("The user is deactivated")
    return _principal(session, user, only_roles=list(api_token.roles or []) or None)


def start_session(session: Session, user_id: int, hours: int, user_agent: str | None) -> str:
    raw = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            user_id=user_id,
            session_hash=_digest(raw),
            expires_at=utcnow() + timedelta(hours=hours),
            user_agent=(user_agent or "")[:300],
        )
    )
    session.flush()
    return raw


def principal_for_session(session: Session, raw: str) -> Principal:
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.session_hash == _digest(raw))
    ).first()
    if row is None:
        raise Unauthenticated("Please sign in")
    user_session, user = row
    expires: datetime = user_session.expires_at
    if user_session.revoked_at or expires < utcnow() or not user.is_active:
        raise Unauthenticated("Your session has ended; please sign in again")
    return _principal(session, user)


def end_session(session: Session, raw: str) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.session_hash == _digest(raw))
        .values(revoked_at=utcnow())
    )


def set_locale(session: Session, user_id: int, locale: str) -> None:
    if locale not in ("en", "zh_CN"):
        raise ValidationFailed("locale must be en or zh_CN")
    session.execute(update(User).where(User.id == user_id).values(locale=locale))
