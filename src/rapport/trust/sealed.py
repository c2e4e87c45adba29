"""Secrets kept at rest encrypted: Fernet with a key derived per purpose from the deployment's
``secret_key`` (HKDF-SHA256), so a leaked database alone does not reveal them.

Each kind of secret names its own purpose (``rapport/totp-secret/v1``,
``rapport/webhook-signing-secret/v1``), so one key never decrypts another kind's tokens.
Changing ``secret_key`` makes every sealed value unreadable (:class:`Unsealable`): the owner
sets it again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Unsealable(Exception):  # noqa: N818 - names the outcome, as InvalidToken does
    """The sealed value does not decrypt (the deployment's secret key changed)."""


def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, purpose: bytes, clear: str) -> str:
    """``clear`` encrypted and authenticated, as text safe to store in JSON."""
    return _fernet(secret_key, purpose).encrypt(clear.encode()).decode()


def unseal(secret_key: str, purpose: bytes, sealed: str) -> str:
    try:
        return _fernet(secret_key, purpose).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError, UnicodeError):
        raise Unsealable("the stored secret cannot be decrypted") from None
