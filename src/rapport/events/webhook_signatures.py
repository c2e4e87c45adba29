"""Vendor webhook signatures: the optional ``signature`` block of a webhook source's mapping
(docs/sources.md#signatures).

One scheme per class, registered in :data:`SCHEMES` by its ``name``, each with a pydantic
config model; a new vendor is a new class. The signing secret is stored sealed (Fernet, key
derived from ``settings.secret_key``; :mod:`rapport.trust.sealed`) as ``secret_encrypted``
and never shown again: :func:`public` replaces it by ``"secret_set": true``. Every
comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rapport.errors import FieldError, ValidationFailed
from rapport.trust.sealed import Unsealable, seal, unseal

PURPOSE = b"rapport/webhook-signing-secret/v1"
FIELD = "mapping.signature"
SEALED_KEY = "secret_encrypted"
MAX_SECRET = 500
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # an HTTP token


class SignatureRefused(Exception):  # noqa: N818 - an outcome for one request
    """The request's signature is missing, wrong or stale; ``code`` is the problem code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SecretUnreadable(Exception):
    """The stored signing secret does not decrypt (the deployment's secret key changed)."""


def _missing(header: str) -> SignatureRefused:
    return SignatureRefused("signature_missing", f"The request has no {header} header; this "
                            "source only accepts signed webhooks")


def _bad(reason: str) -> SignatureRefused:
    return SignatureRefused("signature_invalid", reason)


def _same(expected: bytes, candidates: list[bytes]) -> bool:
    """Constant-time match against each candidate (no early exit on the first hit)."""
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(expected, candidate)
    return found


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scheme(ABC):
    """How one vendor signs its webhooks."""

    name: ClassVar[str]
    config_model: ClassVar[type[_Config]]
    description: ClassVar[str]

    @abstractmethod
    def verify(self, config: Any, secret: bytes, headers: Mapping[str, str], body: bytes,
               now: float) -> None:
        """Return if the request is signed with ``secret``; else raise SignatureRefused.
        ``headers`` have lower-case names."""


class StripeConfig(_Config):
    tolerance_seconds: int = Field(300, ge=1, le=86_400, description="How far the signed "
                                   "timestamp may be from now, in seconds")


class Stripe(Scheme):
    """``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">[,v1=...]``."""

    name = "stripe"
    config_model = StripeConfig
    description = "Stripe-Signature header, HMAC-SHA256 over timestamp.body"
    header = "Stripe-Signature"

    def verify(self, config: Any, secret: bytes, headers: Mapping[str, str], body: bytes,
               now: float) -> None:
        value = headers.get(self.header.lower())
        if not value:
            raise _missing(self.header)
        stamps, signatures = [], []
        for item in value.split(","):
            key, _, part = item.strip().partition("=")
            if key == "t":
                stamps.append(part.strip())
            elif key == "v1":
                signatures.append(part.strip().lower().encode())
        if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit() \
                or len(stamps[0]) > 12:
            raise _bad(f"{self.header} has no readable t=<unix time>")
        if not signatures:
            raise _bad(f"{self.header} has no v1= signature")
        signed = stamps[0].encode() + b"." + body
        expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
        if not _same(expected, signatures):
            raise _bad(f"{self.header} does not match the body signed with this source's "
                       "secret (a wrong secret, or a body changed on the way)")
        age = now - int(stamps[0])
        tolerance = config.tolerance_seconds
        if abs(age) > tolerance:
            when = f"{int(age)} s old" if age > 0 else f"{int(-age)} s in the future"
            raise SignatureRefused("signature_expired", f"The {self.header} timestamp is "
                                   f"{when}, outside the tolerance of {tolerance} s (a replayed "
                                   "delivery, or a clock that is off)")


class ShopifyConfig(_Config):
    pass


class Shopify(Scheme):
    """``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the raw body>``."""

    name = "shopify"
    config_model = ShopifyConfig
    description = "X-Shopify-Hmac-Sha256 header, base64 HMAC-SHA256 of the body"
    header = "X-Shopify-Hmac-Sha256"

    def verify(self, config: Any, secret: bytes, headers: Mapping[str, str], body: bytes,
               now: float) -> None:
        value = headers.get(self.header.lower())
        if not value:
            raise _missing(self.header)
        try:
            received = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise _bad(f"{self.header} is not base64") from None
        expected = hmac.new(secret, body, hashlib.sha256).digest()
        if not _same(expected, [received]):
            raise _bad(f"{self.header} does not match the body signed with this source's "
                       "secret (a wrong secret, or a body changed on the way)")


class HmacConfig(_Config):
    header: str = Field(min_length=1, max_length=100, description="The header holding the "
                        "signature, e.g. X-Hub-Signature-256")
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field("", max_length=40, pattern=r"^[\x21-\x7e]*$",
                        description="Text before the signature, e.g. sha256= (GitHub)")

    @field_validator("header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError("an HTTP header name such as X-Signature")
        return value


class Hmac(Scheme):
    """Any vendor signing the raw body with one HMAC in one header (GitHub, Mailgun-like)."""

    name = "hmac"
    config_model = HmacConfig
    description = "HMAC of the body in a header of your choice (hex or base64, optional prefix)"

    def verify(self, config: Any, secret: bytes, headers: Mapping[str, str], body: bytes,
               now: float) -> None:
        value = (headers.get(config.header.lower()) or "").strip()
        if not value:
            raise _missing(config.header)
        if config.prefix:
            if not value.lower().startswith(config.prefix.lower()):
                raise _bad(f"{config.header} does not start with {config.prefix}")
            value = value[len(config.prefix):].strip()
        try:
            received = bytes.fromhex(value) if config.encoding == "hex" else base64.b64decode(
                value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(f"{config.header} is not {config.encoding}") from None
        expected = hmac.new(secret, body, config.algorithm).digest()
        if not _same(expected, [received]):
            raise _bad(f"{config.header} does not match the body signed with this source's "
                       "secret (a wrong secret, a body changed on the way, or another "
                       "algorithm or encoding)")


SCHEMES: dict[str, Scheme] = {s.name: s for s in (Stripe(), Shopify(), Hmac())}


def _usable_secret(secret: Any) -> bool:
    if not isinstance(secret, str) or not secret.strip() or len(secret) > MAX_SECRET \
            or "\x00" in secret:
        return False
    try:
        secret.encode()
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800
        return False
    return True


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors=[FieldError(field, message)])


def prepare(value: Any, previous: Mapping[str, Any] | None, secret_key: str) -> dict[str, Any]:
    """The ``signature`` block as stored: checked against its scheme's config model, the
    clear ``secret`` sealed. Without a ``secret`` the previous sealed one is kept (a mapping
    read back shows only ``secret_set``); raises ValidationFailed naming the field."""
    if not isinstance(value, dict):
        raise _refuse(FIELD, 'a JSON object such as {"scheme": "stripe", "secret": "whsec_..."}, '
                      "or null to remove it")
    scheme_name = value.get("scheme")
    scheme = SCHEMES.get(scheme_name) if isinstance(scheme_name, str) else None
    if scheme is None:
        raise _refuse(f"{FIELD}.scheme", "one of " + ", ".join(SCHEMES))
    if SEALED_KEY in value:
        raise _refuse(f"{FIELD}.{SEALED_KEY}", "set by Rapport; send the clear secret as secret")
    options = {k: v for k, v in value.items() if k not in ("scheme", "secret", "secret_set")}
    try:
        config = scheme.config_model.model_validate(options)
    except ValidationError as exc:
        errors = [FieldError(".".join([FIELD, *(str(p) for p in e["loc"])]),
                             str(e["msg"]).removeprefix("Value error, "), str(e["type"]))
                  for e in exc.errors()]
        raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in errors),
                               errors=errors) from None
    secret = value.get("secret")
    if secret is None:
        sealed = previous.get(SEALED_KEY) if previous else None
        if not isinstance(sealed, str):
            raise _refuse(f"{FIELD}.secret", "required: the signing secret the vendor shows "
                          "(stored encrypted, never shown again)")
    elif not _usable_secret(secret):
        raise _refuse(f"{FIELD}.secret", f"a non-empty text of at most {MAX_SECRET} characters")
    else:
        if not secret_key:
            raise ValueError("a secret_key is needed to store a signing secret")
        sealed = seal(secret_key, PURPOSE, secret.strip())
    return {"scheme": scheme.name, **config.model_dump(), SEALED_KEY: sealed}


def public(stored: Any) -> Any:
    """The block as the API and CLI show it: the sealed secret replaced by ``secret_set``."""
    if not isinstance(stored, dict):
        return stored
    shown = {k: v for k, v in stored.items() if k != SEALED_KEY}
    shown["secret_set"] = isinstance(stored.get(SEALED_KEY), str)
    return shown


def verify(stored: Mapping[str, Any], secret_key: str, headers: Mapping[str, str], body: bytes,
           now: float) -> None:
    """Check one request against the source's stored block; raises SignatureRefused, or
    SecretUnreadable when the sealed secret no longer decrypts (refused either way)."""
    scheme = SCHEMES.get(str(stored.get("scheme")))
    sealed = stored.get(SEALED_KEY)
    if scheme is None or not isinstance(sealed, str):
        raise SecretUnreadable("the source's signature settings are incomplete; set them again")
    options = {k: v for k, v in stored.items() if k not in ("scheme", SEALED_KEY)}
    try:
        config = scheme.config_model.model_validate(options)
        secret = unseal(secret_key, PURPOSE, sealed)
    except (ValidationError, Unsealable):
        raise SecretUnreadable("the source's signing secret cannot be decrypted (the "
                               "deployment's secret key changed?); set it again") from None
    lowered = {k.lower(): v for k, v in headers.items()}
    scheme.verify(config, secret.encode(), lowered, body, now)
