"""Time-based one-time passwords (RFC 6238): secrets, codes and the secret's encryption at rest.

Pure helpers, no database: ``rapport.trust.auth`` stores the encrypted secret and the last
accepted time step on the user row. Codes are 6 digits over 30-second steps; one step of
clock drift either way is accepted, and a step at or before the last accepted one is refused
so a code cannot be replayed within its window.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import pyotp

from rapport.trust.sealed import Unsealable, seal, unseal

ISSUER = "Rapport"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
_HKDF_INFO = b"rapport/totp-secret/v1"


class SecretUnreadable(Exception):
    """The stored secret does not decrypt (the deployment's secret key changed)."""


class CodeCheck(Enum):
    OK = "ok"
    MALFORMED = "malformed"
    WRONG = "wrong"
    REUSED = "reused"


@dataclass(frozen=True)
class CodeResult:
    check: CodeCheck
    step: int | None = None

    @property
    def ok(self) -> bool:
        return self.check is CodeCheck.OK


def new_secret() -> str:
    """A fresh random base32 secret (160 bits), as authenticator apps expect."""
    return pyotp.random_base32(32)


def encrypt_secret(secret_key: str, secret: str) -> str:
    """The secret encrypted (Fernet, key derived from the deployment secret with HKDF-SHA256)."""
    return seal(secret_key, _HKDF_INFO, secret)


def decrypt_secret(secret_key: str, stored: str) -> str:
    try:
        return unseal(secret_key, _HKDF_INFO, stored)
    except Unsealable:
        raise SecretUnreadable("the two-factor secret cannot be decrypted") from None


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as text or from a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def normalise_code(code: str | None) -> str | None:
    """Digits only (spaces and dashes people type are dropped); None unless exactly 6."""
    cleaned = "".join(ch for ch in (code or "") if ch not in " -\t")
    if len(cleaned) != DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def current_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code of one time step (tests and the CLI use it; the app never shows codes)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def check_code(secret: str, code: str | None, now: datetime, last_step: int | None) -> CodeResult:
    """Match ``code`` against the steps around ``now``; a step already used is refused."""
    cleaned = normalise_code(code)
    if cleaned is None:
        return CodeResult(CodeCheck.MALFORMED)
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    centre = current_step(now)
    matched: int | None = None
    for step in range(centre - DRIFT_STEPS, centre + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), cleaned):
            matched = step
    if matched is None:
        return CodeResult(CodeCheck.WRONG)
    if last_step is not None and matched <= last_step:
        return CodeResult(CodeCheck.REUSED, matched)
    return CodeResult(CodeCheck.OK, matched)


def qr_svg(uri: str) -> str | None:
    """The URI as an inline SVG QR code (segno), or None if segno is not installed."""
    try:
        import segno
    except ImportError:  # pragma: no cover - segno is a declared dependency
        return None
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code" ', 1)


def display_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


__all__ = [
    "CodeCheck", "CodeResult", "SecretUnreadable", "check_code", "code_at", "current_step",
    "decrypt_secret", "display_secret", "encrypt_secret", "new_secret", "normalise_code",
    "provisioning_uri", "qr_svg",
]
