"""One exception root with stable error codes; HTTP and HTML rendering happen elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field (dotted path, e.g. ``custom.budget``)."""

    field: str
    message: str
    code: str = "invalid"


class RapportError(Exception):
    """Root of every domain error. ``code`` is stable and documented in docs/api.md."""

    code = "error"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(RapportError):
    code = "validation_failed"
    status = 422
    title = "Input failed validation"


class NotFound(RapportError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(RapportError):
    code = "conflict"
    status = 409
    title = "Conflict"


class VersionConflict(Conflict):
    code = "version_conflict"
    title = "The record changed since you read it"


class PrivacyBudgetExhausted(Conflict):
    """A private query would spend more ε than the analyst has left (nothing was spent)."""

    code = "privacy_budget_exhausted"
    title = "Privacy budget exhausted"


class Unauthenticated(RapportError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class Forbidden(RapportError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class ConsentRequired(Forbidden):
    """The person has no valid consent (or other lawful basis) for this purpose."""

    code = "consent_required"
    title = "No valid consent for this purpose"


class RateLimited(RapportError):
    """Too many attempts; ``retry_after`` seconds until the next one may succeed (429)."""

    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int = 60,
                 errors: list[FieldError] | None = None) -> None:
        super().__init__(detail, errors=errors)
        self.retry_after = max(1, int(retry_after))


class PayloadTooLarge(RapportError):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


@dataclass
class ErrorCollector:
    """Gathers field errors so a caller sees every problem at once, not the first only."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, field_name: str, message: str, code: str = "invalid") -> None:
        self.errors.append(FieldError(field_name, message, code))

    def raise_if_any(self, detail: str = "Some fields are invalid") -> None:
        if self.errors:
            raise ValidationFailed(detail, errors=self.errors)
