"""Users, passwords (argon2), two-factor codes, lockout, API tokens and browser sessions.

Tokens and session ids are random; only their SHA-256 is stored, so a leaked database does
not leak working credentials. Two-factor secrets are stored encrypted (``rapport.trust.totp``).

Sign-in is a small state machine (:func:`begin_login`, then :func:`finish_login_totp` or
:func:`finish_login_enrolment`): each step returns a :class:`LoginResult` instead of raising,
because a failed attempt changes the database (the failure counter, the audit log) and the
caller must commit that before answering. Five failures in a row lock the account for one
minute, doubling with each further failure up to an hour. A lock whose ``lock_reason`` is
anything but ``failed_logins`` (the anomaly detector writes ``anomaly``) holds until an
administrator calls :func:`unlock_user`; such a user's tokens and sessions stop working too.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rapport.crm.normalise import normalise_email
from rapport.db.base import utcnow
from rapport.errors import (
    Conflict,
    ErrorCollector,
    FieldError,
    Forbidden,
    NotFound,
    RapportError,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from rapport.trust import audit, totp
from rapport.trust.models import ApiToken, User, UserSession
from rapport.trust.permissions import NO_ACCESS, AccessPolicy

if TYPE_CHECKING:
    from rapport.config import Settings
    from rapport.trust.throttle import AddressThrottle

_hasher = PasswordHasher()


def configure_password_hashing(time_cost: int, memory_cost_kib: int) -> None:
    """Change argon2 cost for new hashes (tests use a cheap profile; verify reads the hash)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)


TOKEN_PREFIX = "rpt_"  # noqa: S105 - a public prefix, not a secret
MIN_PASSWORD = 8
FAILED_LOGIN_LIMIT = 5
LOCK_FIRST = timedelta(minutes=1)
LOCK_LONGEST = timedelta(hours=1)
TEMPORARY_LOCK = "failed_logins"
TOKEN_DAYS_DEFAULT = 90
TOKEN_DAYS_LIMIT = 365
TOUCH_EVERY = timedelta(minutes=1)
TOTP_LAST_STEP = "totp_last_step"  # key in users.custom: the last accepted time step
HELD_MESSAGE = ("This account is locked after unusual activity; an administrator must unlock it")


class AccountLocked(RateLimited):
    """Too many failed sign-ins: locked for a while (answered 429 with Retry-After)."""

    code = "account_locked"
    title = "Account temporarily locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__(locked_message(max(1, int(retry_after))), retry_after=retry_after)


class AccountHeld(RapportError):
    """Locked by the anomaly detector (or an administrator) until an administrator unlocks."""

    code = "account_held"
    status = 403
    title = "Account locked"

    def __init__(self) -> None:
        super().__init__(HELD_MESSAGE)


def locked_message(retry_after: int) -> str:
    minutes = max(1, math.ceil(retry_after / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins: this account is locked. Try again in {minutes} {unit}."


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


def _user_ref(user_id: int) -> str:
    return f"users:{user_id}"


def _load_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}")
    return user


# ---- users and passwords -----------------------------------------------------------------


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


def _find_user(session: Session, email: str) -> User | None:
    try:
        normalised = normalise_email(email)
    except ValueError:
        return None
    return session.scalar(select(User).where(User.email == normalised))


def _password_ok(user: User | None, password: str) -> bool:
    """Verify at the same cost whether or not the user exists (no timing oracle)."""
    if user is None or not user.is_active or not user.password_hash:
        _hasher.hash(password)
        return False
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def throttled_message(retry_after: int) -> str:
    minutes = max(1, math.ceil(retry_after / 60))
    return (f"Too many failed sign-ins from your network: try again in {minutes} min.")


def _throttled(session: Session, secret: str, throttle: AddressThrottle | None,
               network: str | None, now: datetime) -> LoginResult | None:
    """Refuse at once while the client's address waits (no password is checked)."""
    wait = throttle.wait_seconds(session, now) if throttle is not None else 0
    if not wait:
        return None
    audit.append(session, secret, "login_failed", actor="anonymous", network=network,
                 details={"reason": "address_throttled"})
    session.flush()
    return LoginResult("throttled", retry_after=wait)


def _count_for_address(session: Session, secret: str, throttle: AddressThrottle | None,
                       network: str | None, now: datetime, result: LoginResult) -> LoginResult:
    """Count a failed attempt against the client's address too; the one that reaches the
    limit is audited (``address_throttled``) and answered as throttled."""
    if throttle is None or result.status not in ("failed", "locked"):
        return result
    blocked = throttle.note_failure(session, now)
    if not blocked:
        return result
    audit.append(session, secret, "address_throttled", actor="system", network=network,
                 details={"failures": throttle.failures,
                          "minutes": int(throttle.period.total_seconds() // 60)})
    session.flush()
    return LoginResult("throttled", result.user_id, retry_after=blocked, reason=result.reason)


def lock_state(user: User, now: datetime | None = None) -> tuple[str, int] | None:
    """``("held", 0)``, ``("locked", seconds left)`` or None when the user may sign in."""
    if user.lock_reason and user.lock_reason != TEMPORARY_LOCK:
        return ("held", 0)
    now = now or utcnow()
    if user.locked_until is not None and user.locked_until > now:
        return ("locked", math.ceil((user.locked_until - now).total_seconds()))
    return None


def ensure_not_locked(user: User, now: datetime | None = None) -> None:
    """Raise :class:`AccountHeld` or :class:`AccountLocked` if the user may not sign in now."""
    state = lock_state(user, now)
    if state is None:
        return
    if state[0] == "held":
        raise AccountHeld()
    raise AccountLocked(state[1])


def _refuse_held(user: User) -> None:
    """Tokens and sessions of a user held by the anomaly detector stop working."""
    if user.lock_reason and user.lock_reason != TEMPORARY_LOCK:
        raise AccountHeld()


def authenticate_password(session: Session, email: str, password: str) -> Principal:
    """Check a password without recording attempts (scripts and tests; sign-in uses
    :func:`begin_login`, which counts failures). A locked account is refused."""
    user = _find_user(session, email)
    if not _password_ok(user, password):
        raise Unauthenticated("Wrong email or password")
    assert user is not None
    ensure_not_locked(user)
    return _principal(session, user)


# ---- sign-in -----------------------------------------------------------------------------

LoginStatus = Literal["ok", "totp", "enrol", "failed", "locked", "held", "throttled"]


@dataclass(frozen=True)
class LoginResult:
    """Where a sign-in attempt stands. Commit the session before acting on it."""

    status: LoginStatus
    user_id: int | None = None
    principal: Principal | None = None
    retry_after: int = 0
    reason: str = ""  # failed: password | totp | totp_reused | totp_malformed | unreadable

    @property
    def message(self) -> str:
        """An English message for the person signing in (the UI translates its own)."""
        if self.status == "locked":
            return locked_message(self.retry_after)
        if self.status == "throttled":
            return throttled_message(self.retry_after)
        if self.status == "held":
            return HELD_MESSAGE
        if self.reason == "totp_reused":
            return "This code was already used; wait for the next one"
        if self.reason in ("totp", "totp_malformed"):
            return "Wrong code; enter the 6-digit code your authenticator app shows now"
        if self.reason == "unreadable":
            return ("Two-factor sign-in cannot be checked for this account; ask an administrator "
                    "to reset it")
        return "Wrong email or password"


def _actor_for(user: User | None) -> str:
    return audit.actor_ref(user.id) if user is not None else "anonymous"


def _record_failure(session: Session, secret: str, user: User, reason: str,
                    network: str | None, now: datetime) -> LoginResult:
    """Count one failed attempt; the fifth in a row (and each later one) locks the account."""
    count = session.execute(
        update(User).where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(user, "failed_logins", count)
    audit.append(session, secret, "login_failed", actor=_actor_for(user), target=_user_ref(user.id),
                 network=network, details={"reason": reason, "failures": count})
    if count < FAILED_LOGIN_LIMIT:
        session.flush()
        return LoginResult("failed", user.id, reason=reason)
    length = min(LOCK_FIRST * (2 ** (count - FAILED_LOGIN_LIMIT)), LOCK_LONGEST)
    user.locked_until = now + length
    if not user.lock_reason:
        user.lock_reason = TEMPORARY_LOCK
    audit.append(session, secret, "lockout", actor="system", target=_user_ref(user.id),
                 network=network, details={"failures": count,
                                           "minutes": int(length.total_seconds() // 60)})
    session.flush()
    return LoginResult("locked", user.id, retry_after=int(length.total_seconds()), reason=reason)


def _succeed(session: Session, secret: str, user: User, method: str,
             network: str | None) -> LoginResult:
    user.failed_logins = 0
    user.locked_until = None
    if user.lock_reason == TEMPORARY_LOCK:
        user.lock_reason = None
    audit.append(session, secret, "login", actor=audit.actor_ref(user.id),
                 target=_user_ref(user.id), network=network, details={"method": method})
    session.flush()
    return LoginResult("ok", user.id, principal=_principal(session, user))


def _refusal(session: Session, secret: str, user: User, network: str | None,
             now: datetime) -> LoginResult | None:
    state = lock_state(user, now)
    if state is None:
        return None
    audit.append(session, secret, "login_failed", actor=audit.actor_ref(user.id),
                 target=_user_ref(user.id), network=network, details={"reason": state[0]})
    session.flush()
    return LoginResult("held" if state[0] == "held" else "locked", user.id, retry_after=state[1])


def begin_login(session: Session, secret: str, email: str, password: str, *,
                network: str | None = None, now: datetime | None = None,
                throttle: AddressThrottle | None = None) -> LoginResult:
    """The password step: ``ok`` (signed in), ``totp`` (ask for a code), ``enrol`` (the
    user's role requires two-factor and they have none yet), ``failed``, ``locked``, ``held``.

    A locked account, or an address past its failure limit (``throttle``,
    ``rapport.trust.throttle``), is refused before the password is checked. The audit log
    never holds the typed email or password: a failure names the user's id, or nobody.
    """
    now = now or utcnow()
    throttled = _throttled(session, secret, throttle, network, now)
    if throttled is not None:
        return throttled
    return _count_for_address(session, secret, throttle, network, now,
                              _password_step(session, secret, email, password, network, now))


def _password_step(session: Session, secret: str, email: str, password: str,
                   network: str | None, now: datetime) -> LoginResult:
    user = _find_user(session, email)
    if user is not None and user.is_active and user.password_hash:
        refused = _refusal(session, secret, user, network, now)
        if refused is not None:
            return refused
    if not _password_ok(user, password):
        if user is None or not user.is_active or not user.password_hash:
            audit.append(session, secret, "login_failed", actor="anonymous",
                         target=_user_ref(user.id) if user is not None else None,
                         network=network, details={"reason": "password"})
            session.flush()
            return LoginResult("failed", reason="password")
        return _record_failure(session, secret, user, "password", network, now)
    assert user is not None
    if user.totp_enabled_at is not None:
        return LoginResult("totp", user.id)
    if _requires_totp(session, user):
        return LoginResult("enrol", user.id)
    return _succeed(session, secret, user, "password", network)


def _requires_totp(session: Session, user: User) -> bool:
    from rapport.trust.roles import policy_for_user

    return policy_for_user(session, user.id, is_admin_flag=user.is_admin).require_totp


def _check_user_code(session: Session, secret: str, user: User, code: str | None,
                     now: datetime) -> totp.CodeResult | None:
    """Check a code against the user's stored secret; on success the step is remembered.

    None: the stored secret cannot be decrypted (the deployment's secret key changed).
    """
    if not user.totp_secret:
        return totp.CodeResult(totp.CodeCheck.WRONG)
    try:
        plain = totp.decrypt_secret(secret, user.totp_secret)
    except totp.SecretUnreadable:
        return None
    last = (user.custom or {}).get(TOTP_LAST_STEP)
    result = totp.check_code(plain, code, now, last if isinstance(last, int) else None)
    if result.ok:
        user.custom = {**(user.custom or {}), TOTP_LAST_STEP: result.step}
        session.flush()
    return result


_REASONS = {totp.CodeCheck.WRONG: "totp", totp.CodeCheck.REUSED: "totp_reused",
            totp.CodeCheck.MALFORMED: "totp_malformed"}


def _login_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return user


def finish_login_totp(session: Session, secret: str, user_id: int, code: str | None, *,
                      network: str | None = None, now: datetime | None = None,
                      throttle: AddressThrottle | None = None) -> LoginResult:
    """The code step, after :func:`begin_login` answered ``totp``. Wrong codes count as
    failed sign-ins (for the account and for the address); a code already used is refused."""
    now = now or utcnow()
    throttled = _throttled(session, secret, throttle, network, now)
    if throttled is not None:
        return throttled
    return _count_for_address(session, secret, throttle, network, now,
                              _code_step(session, secret, user_id, code, network, now))


def _code_step(session: Session, secret: str, user_id: int, code: str | None,
               network: str | None, now: datetime) -> LoginResult:
    user = _login_user(session, user_id)
    if user is None or user.totp_enabled_at is None:
        return LoginResult("failed", reason="password")
    refused = _refusal(session, secret, user, network, now)
    if refused is not None:
        return refused
    result = _check_user_code(session, secret, user, code, now)
    if result is None:
        return LoginResult("failed", user.id, reason="unreadable")
    if not result.ok:
        return _record_failure(session, secret, user, _REASONS[result.check], network, now)
    return _succeed(session, secret, user, "password+totp", network)


def finish_login_enrolment(session: Session, secret: str, user_id: int, code: str | None, *,
                           network: str | None = None,
                           now: datetime | None = None) -> LoginResult:
    """Confirm the enrolment started during sign-in (role requires two-factor), then sign in."""
    now = now or utcnow()
    user = _login_user(session, user_id)
    if user is None or user.totp_enabled_at is not None or not user.totp_secret:
        return LoginResult("failed", reason="password")
    refused = _refusal(session, secret, user, network, now)
    if refused is not None:
        return refused
    result = _check_user_code(session, secret, user, code, now)
    if result is None:
        return LoginResult("failed", user.id, reason="unreadable")
    if not result.ok:
        return _record_failure(session, secret, user, _REASONS[result.check], network, now)
    _enable_totp(session, secret, user, now)
    return _succeed(session, secret, user, "password+totp", network)


# ---- two-factor enrolment ----------------------------------------------------------------


@dataclass(frozen=True)
class TotpEnrolment:
    """A started enrolment: show the secret and URI, then confirm with a code."""

    secret: str
    uri: str

    @property
    def grouped_secret(self) -> str:
        return totp.display_secret(self.secret)

    @property
    def qr_svg(self) -> str | None:
        return totp.qr_svg(self.uri)


@dataclass(frozen=True)
class TotpStatus:
    enabled: bool
    pending: bool
    required: bool
    enabled_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "pending": self.pending, "required": self.required,
                "enabled_at": self.enabled_at}


def totp_status(session: Session, user_id: int) -> TotpStatus:
    user = _load_user(session, user_id)
    return TotpStatus(enabled=user.totp_enabled_at is not None,
                      pending=user.totp_enabled_at is None and bool(user.totp_secret),
                      required=_requires_totp(session, user), enabled_at=user.totp_enabled_at)


def start_totp_enrolment(session: Session, secret: str, user_id: int) -> TotpEnrolment:
    """A new secret, stored encrypted but not enabled until a code confirms it."""
    user = _load_user(session, user_id)
    if user.totp_enabled_at is not None:
        raise Conflict("Two-factor sign-in is already on; turn it off first to set up a new app")
    plain = totp.new_secret()
    user.totp_secret = totp.encrypt_secret(secret, plain)
    session.flush()
    return TotpEnrolment(plain, totp.provisioning_uri(plain, user.email))


def pending_enrolment(session: Session, secret: str, user_id: int) -> TotpEnrolment | None:
    """The enrolment started but not confirmed yet (to show its secret again), if any."""
    user = _load_user(session, user_id)
    if user.totp_enabled_at is not None or not user.totp_secret:
        return None
    try:
        plain = totp.decrypt_secret(secret, user.totp_secret)
    except totp.SecretUnreadable:
        return None
    return TotpEnrolment(plain, totp.provisioning_uri(plain, user.email))


def _code_error(check: totp.CodeCheck | None) -> ValidationFailed:
    if check is None:
        message = "the two-factor secret cannot be read; ask an administrator to reset it"
    elif check is totp.CodeCheck.REUSED:
        message = "this code was already used; wait for the next one"
    else:
        message = "enter the 6-digit code your authenticator app shows now"
    return ValidationFailed("The code is not valid", errors=[FieldError("code", message)])


def _enable_totp(session: Session, secret: str, user: User, now: datetime) -> None:
    user.totp_enabled_at = now
    audit.append(session, secret, "totp_enabled", actor=audit.actor_ref(user.id),
                 target=_user_ref(user.id))
    session.flush()


def confirm_totp(session: Session, secret: str, user_id: int, code: str | None, *,
                 now: datetime | None = None) -> None:
    """Turn two-factor on once a code from the new secret matches (ValidationFailed if not)."""
    now = now or utcnow()
    user = _load_user(session, user_id)
    if user.totp_enabled_at is not None:
        raise Conflict("Two-factor sign-in is already on")
    if not user.totp_secret:
        raise Conflict("Start the set-up first (POST /api/v1/me/totp)")
    result = _check_user_code(session, secret, user, code, now)
    if result is None or not result.ok:
        raise _code_error(result.check if result else None)
    _enable_totp(session, secret, user, now)


@dataclass(frozen=True)
class Outcome:
    """The result of a step that may have recorded a failure: commit first, then raise."""

    error: RapportError | None = None

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error


def disable_totp(session: Session, secret: str, user_id: int, code: str | None, *,
                 network: str | None = None, now: datetime | None = None) -> Outcome:
    """Turn two-factor off with a current code. Wrong codes count as failed sign-ins (they
    could otherwise be guessed through a stolen session); roles that require two-factor
    refuse."""
    now = now or utcnow()
    user = _load_user(session, user_id)
    if user.totp_enabled_at is None:
        return Outcome(Conflict("Two-factor sign-in is not on"))
    if _requires_totp(session, user):
        return Outcome(Forbidden("Your role requires two-factor sign-in; it cannot be turned off"))
    state = lock_state(user, now)
    if state is not None:
        return Outcome(AccountHeld() if state[0] == "held" else AccountLocked(state[1]))
    result = _check_user_code(session, secret, user, code, now)
    if result is None or not result.ok:
        if result is None:
            return Outcome(_code_error(None))
        failed = _record_failure(session, secret, user, _REASONS[result.check], network, now)
        if failed.status == "locked":
            return Outcome(AccountLocked(failed.retry_after))
        return Outcome(_code_error(result.check))
    _clear_totp(user)
    audit.append(session, secret, "totp_disabled", actor=audit.actor_ref(user.id),
                 target=_user_ref(user.id), network=network, details={"by": "self"})
    session.flush()
    return Outcome()


def _clear_totp(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.custom = {k: v for k, v in (user.custom or {}).items() if k != TOTP_LAST_STEP}


def reset_totp(session: Session, secret: str, actor_user_id: int | None, user_id: int) -> None:
    """An administrator turns a user's two-factor off (lost phone); they enrol again next."""
    user = _load_user(session, user_id)
    had = user.totp_enabled_at is not None or bool(user.totp_secret)
    _clear_totp(user)
    if had:
        audit.append(session, secret, "totp_disabled", actor=audit.actor_ref(actor_user_id),
                     target=_user_ref(user.id), details={"by": "admin"})
    session.flush()


# ---- locks -------------------------------------------------------------------------------


def unlock_user(session: Session, secret: str, actor_user_id: int | None, user_id: int) -> None:
    """Clear any lock (failed sign-ins or an anomaly hold) and the failure counter."""
    user = _load_user(session, user_id)
    previous = user.lock_reason
    user.failed_logins = 0
    user.locked_until = None
    user.lock_reason = None
    audit.append(session, secret, "unlock", actor=audit.actor_ref(actor_user_id),
                 target=_user_ref(user.id), details={"previous_reason": previous})
    session.flush()


def unlock_with_review(session: Session, settings: Settings, actor_user_id: int | None,
                       user_id: int) -> None:
    """What the unlock endpoint and CLI call: a user held by the anomaly detector goes through
    its unlock (resolves the open alerts and accepts the activity so far, so the next request
    does not lock them again); any other lock is cleared by :func:`unlock_user`."""
    user = _load_user(session, user_id)
    if user.lock_reason == "anomaly":
        from rapport.trust import anomaly

        anomaly.unlock_user(session, settings, actor_user_id, user_id)
        return
    unlock_user(session, settings.secret_key, actor_user_id, user_id)


# ---- API tokens --------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token (never the token itself)."""

    id: int
    name: str
    prefix: str
    roles: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at < utcnow()

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "roles": self.roles,
                "created_at": self.created_at, "expires_at": self.expires_at,
                "last_used_at": self.last_used_at, "revoked_at": self.revoked_at,
                "expired": self.expired}


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    info: TokenInfo


def _token_info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.prefix, list(row.roles or []), row.created_at,
                     row.expires_at, row.last_used_at, row.revoked_at)


def user_role_names(session: Session, user: User) -> list[str]:
    """The roles a user holds (the legacy admin flag counts as the admin role)."""
    from rapport.trust.roles import role_names_of

    names = role_names_of(session, user.id)
    if user.is_admin and "admin" not in names:
        names.append("admin")
    return sorted(names)


def default_token_days(max_days: int) -> int:
    return min(TOKEN_DAYS_DEFAULT, max_days)


def issue_token(
    session: Session,
    secret: str | None,
    user_id: int,
    *,
    name: str,
    days: int | None = None,
    roles: Sequence[str] | None = None,
    max_days: int = TOKEN_DAYS_LIMIT,
    allowed_roles: Sequence[str] | None = None,
    actor_user_id: int | None = None,
    not_after: datetime | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """A new token for the user, expiring after ``days`` (default 90, at most ``max_days``).

    ``roles`` narrows it to some of the user's roles (empty: all of them). ``allowed_roles``
    is what the caller itself acts with: a token narrowed to some roles cannot mint a broader
    one, nor (``not_after``, the calling token's own expiry) one that outlives it. Users whose
    role requires two-factor must enrol first. ``secret`` None skips the audit entry (test
    fixtures only).
    """
    now = now or utcnow()
    user = _load_user(session, user_id)
    if not user.is_active:
        raise Forbidden("The user is deactivated")
    _refuse_held(user)
    errors = ErrorCollector()
    clean_name = (name or "").strip()
    if not clean_name or len(clean_name) > 100 or "\x00" in clean_name:
        errors.add("name", "give the token a name of 1 to 100 characters")
    chosen_days = default_token_days(max_days) if days is None else days
    if not isinstance(chosen_days, int) or isinstance(chosen_days, bool) or not (
        1 <= chosen_days <= max_days
    ):
        errors.add("days", f"choose 1 to {max_days} days", "out_of_range")
    elif days is not None and not_after is not None and now + timedelta(days=days) > not_after:
        left = max(0, (not_after - now).days)
        errors.add("days", "a token cannot outlive the token that creates it "
                   f"(at most {left} days here)", "out_of_range")
    held = user_role_names(session, user)
    wanted = sorted({str(r) for r in roles or []})
    for role in wanted:
        if role not in held:
            errors.add("roles", f"you do not hold the role {role!r} (yours: "
                       f"{', '.join(held) or 'none'})", "not_held")
        elif allowed_roles is not None and role not in allowed_roles:
            errors.add("roles", f"this credential is limited to: {', '.join(allowed_roles)}",
                       "not_allowed")
    errors.raise_if_any("The token cannot be created as asked")
    if allowed_roles is not None and not wanted and set(allowed_roles) != set(held):
        wanted = sorted(allowed_roles)  # a narrowed caller passes its narrowing on
    if user.totp_enabled_at is None and _requires_totp(session, user):
        raise Forbidden("Your role requires two-factor sign-in: set it up (Account security) "
                        "before creating API tokens")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + timedelta(days=chosen_days)
    if not_after is not None and not_after < expires:
        expires = not_after
    row = ApiToken(user_id=user.id, name=clean_name, token_hash=_digest(raw), prefix=raw[:12],
                   expires_at=expires, roles=wanted)
    session.add(row)
    session.flush()
    if secret is not None:
        audit.append(session, secret, "token_created", actor=audit.actor_ref(actor_user_id),
                     target=f"api_tokens:{row.id}",
                     details={"user": user.id, "days": chosen_days, "roles": wanted})
        session.flush()
    return IssuedToken(raw, _token_info(row))


def create_api_token(
    session: Session, email: str, name: str = "cli", days: int | None = None, *,
    roles: Sequence[str] | None = None, secret: str | None = None,
    max_days: int = TOKEN_DAYS_LIMIT,
) -> str:
    """A token for the user with this email (the CLI); see :func:`issue_token`."""
    user = _find_user(session, email)
    if user is None:
        raise ValidationFailed(f"No user with email {email}",
                               errors=[FieldError("user", "no user with this email")])
    return issue_token(session, secret, user.id, name=name, days=days, roles=roles,
                       max_days=max_days).token


def token_expiry(session: Session, raw: str) -> datetime | None:
    """When a (presented) token expires, None if it never does or is unknown."""
    return session.scalar(select(ApiToken.expires_at).where(ApiToken.token_hash == _digest(raw)))


def list_tokens(session: Session, user_id: int) -> list[TokenInfo]:
    """The user's tokens that are not revoked (expired ones included, marked), newest first."""
    rows = session.scalars(select(ApiToken).where(
        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id.desc()))
    return [_token_info(r) for r in rows]


def revoke_token(session: Session, secret: str, user_id: int, token_id: int, *,
                 actor_user_id: int | None = None) -> None:
    """Revoke one of the user's tokens (another user's id answers 404)."""
    _revoke_own(session, secret, ApiToken, token_id, user_id, actor_user_id,
                "token", "token_revoked")


def _revoke_own(session: Session, secret: str, model: type[ApiToken] | type[UserSession],
                row_id: int, user_id: int, actor_user_id: int | None, noun: str,
                action: str) -> None:
    """Set ``revoked_at`` on one of the user's live tokens or sessions, audited; 404 else."""
    row = cast(ApiToken | UserSession | None, session.get(model, row_id))
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        raise NotFound(f"No {noun} {row_id}")
    row.revoked_at = utcnow()
    audit.append(session, secret, action,
                 actor=audit.actor_ref(actor_user_id if actor_user_id is not None else user_id),
                 target=f"{model.__tablename__}:{row.id}", details={"user": user_id})
    session.flush()


def _touch(session: Session, statement: Any) -> None:
    """Best effort: record last use at most once a minute; never fail a request over it."""
    try:
        session.execute(statement)
        session.commit()
    except SQLAlchemyError:
        session.rollback()


def principal_for_token(session: Session, token: str, *, touch: bool = True) -> Principal:
    """The token's user, narrowed to the token's roles. With ``touch`` a stale ``last_used_at``
    is updated and committed (callers pass a session of their own)."""
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
    _refuse_held(user)
    principal = _principal(session, user, only_roles=list(api_token.roles or []) or None)
    if touch and (api_token.last_used_at is None or api_token.last_used_at < now - TOUCH_EVERY):
        _touch(session, update(ApiToken).where(ApiToken.id == api_token.id)
               .values(last_used_at=now))
    return principal


# ---- browser sessions --------------------------------------------------------------------


def start_session(session: Session, user_id: int, hours: int, user_agent: str | None) -> str:
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            user_id=user_id,
            session_hash=_digest(raw),
            expires_at=now + timedelta(hours=hours),
            user_agent=(user_agent or "")[:300],
            last_seen_at=now,
        )
    )
    session.flush()
    return raw


def principal_for_session(session: Session, raw: str, *, touch: bool = True,
                          idle_minutes: int = 0) -> Principal:
    """The session's user. Held users, and users whose role now requires two-factor but who
    have not enrolled, must sign in again, as must a session idle for more than
    ``idle_minutes`` (0: no idle limit). With ``touch`` a stale ``last_seen_at`` is updated
    and committed (callers pass a session of their own)."""
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.session_hash == _digest(raw))
    ).first()
    if row is None:
        raise Unauthenticated("Please sign in")
    user_session, user = row
    now = utcnow()
    expires: datetime = user_session.expires_at
    if user_session.revoked_at or expires < now or not user.is_active:
        raise Unauthenticated("Your session has ended; please sign in again")
    idle_since = user_session.last_seen_at or user_session.created_at
    if idle_minutes and idle_since < now - timedelta(minutes=idle_minutes):
        _touch(session, update(UserSession).where(UserSession.id == user_session.id)
               .values(revoked_at=now))
        raise Unauthenticated("You were signed out after a while without activity; "
                              "please sign in again")
    _refuse_held(user)
    principal = _principal(session, user)
    if principal.policy.require_totp and user.totp_enabled_at is None:
        raise Unauthenticated("Your role requires two-factor sign-in; sign in again to set it up")
    last_seen = user_session.last_seen_at
    if touch and (last_seen is None or last_seen < now - TOUCH_EVERY):
        _touch(session, update(UserSession).where(UserSession.id == user_session.id)
               .values(last_seen_at=now))
    return principal


def end_session(session: Session, raw: str) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.session_hash == _digest(raw))
        .values(revoked_at=utcnow())
    )


@dataclass(frozen=True)
class SessionInfo:
    id: int
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime | None
    user_agent: str | None
    current: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "expires_at": self.expires_at,
                "last_seen_at": self.last_seen_at, "user_agent": self.user_agent,
                "current": self.current}


def list_sessions(session: Session, user_id: int, current_raw: str | None = None
                  ) -> list[SessionInfo]:
    """The user's live sessions (not ended, not expired), the most recently used first."""
    current_hash = _digest(current_raw) if current_raw else None
    rows = session.scalars(select(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
        UserSession.expires_at > utcnow()).order_by(UserSession.id.desc()))
    items = [SessionInfo(r.id, r.created_at, r.expires_at, r.last_seen_at, r.user_agent,
                         r.session_hash == current_hash) for r in rows]
    return sorted(items, key=lambda s: (s.current, s.last_seen_at or s.created_at), reverse=True)


def revoke_session(session: Session, secret: str, user_id: int, session_id: int, *,
                   actor_user_id: int | None = None) -> None:
    """End one of the user's sessions (another user's id, or an ended one, answers 404)."""
    _revoke_own(session, secret, UserSession, session_id, user_id, actor_user_id,
                "session", "session_revoked")


def revoke_user_sessions(session: Session, user_id: int, *, keep_raw: str | None = None) -> int:
    """End every live session of the user (but ``keep_raw``'s): call it when a user is locked
    or deactivated. Returns how many ended; the caller writes any audit entry."""
    statement = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep_raw:
        statement = statement.where(UserSession.session_hash != _digest(keep_raw))
    result = session.execute(statement.values(revoked_at=utcnow())
                             .execution_options(synchronize_session=False))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_other_sessions(session: Session, secret: str, user_id: int,
                          keep_raw: str | None) -> int:
    """Sign out everywhere else: end every session of the user except the current one."""
    count = revoke_user_sessions(session, user_id, keep_raw=keep_raw)
    if count:
        audit.append(session, secret, "session_revoked", actor=audit.actor_ref(user_id),
                     target=_user_ref(user_id), details={"scope": "others", "count": count})
        session.flush()
    return count


def set_locale(session: Session, user_id: int, locale: str) -> None:
    if locale not in ("en", "zh_CN"):
        raise ValidationFailed("locale must be en or zh_CN")
    session.execute(update(User).where(User.id == user_id).values(locale=locale))


__all__ = [
    "AccountHeld", "AccountLocked", "IssuedToken", "LoginResult", "Outcome", "Principal",
    "SessionInfo", "TokenInfo", "TotpEnrolment", "TotpStatus", "authenticate_password",
    "begin_login", "confirm_totp", "create_api_token", "create_user", "disable_totp",
    "end_session", "finish_login_enrolment", "finish_login_totp", "issue_token",
    "list_sessions", "list_tokens", "pending_enrolment", "principal_for_session",
    "principal_for_token", "reset_totp", "revoke_other_sessions", "revoke_session",
    "revoke_token", "revoke_user_sessions", "start_session", "start_totp_enrolment",
    "token_expiry", "totp_status", "unlock_user", "unlock_with_review",
]
