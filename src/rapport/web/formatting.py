"""Locale-aware display of dates, money, numbers and phone numbers (Babel, phonenumbers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal


def zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def as_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Formatter:
    """Formats values for one user: their locale, time zone and the instance defaults."""

    locale: str
    timezone: str = "UTC"
    default_currency: str = "CNY"
    phone_region: str = "CN"

    @property
    def tz(self) -> tzinfo:
        return zone(self.timezone)

    def money(self, value: Any, currency: str | None = None) -> str:
        amount = as_decimal(value)
        if amount is None:
            return ""
        return format_currency(amount, currency or self.default_currency, locale=self.locale)

    def number(self, value: Any) -> str:
        amount = as_decimal(value)
        if amount is None:
            return ""
        return format_decimal(amount, locale=self.locale)

    def count(self, count: int, capped: bool = False) -> str:
        """``1,000+`` when the count stopped at the cap."""
        text = format_decimal(count, locale=self.locale)
        return f"{text}+" if capped else text

    def date(self, value: Any) -> str:
        day = as_date(value)
        return format_date(day, "medium", locale=self.locale) if day else ""

    def datetime(self, value: Any) -> str:
        moment = as_datetime(value)
        if moment is None:
            return ""
        local = moment.astimezone(self.tz)
        day = format_date(local.date(), "medium", locale=self.locale)
        return f"{day} {format_time(local, 'short', tzinfo=self.tz, locale=self.locale)}"

    def short_datetime(self, value: Any) -> str:
        moment = as_datetime(value)
        if moment is None:
            return ""
        return format_datetime(moment, "short", tzinfo=self.tz, locale=self.locale)

    def local_input(self, value: Any) -> str:
        """A datetime as the user's wall-clock time for ``<input type=datetime-local>``."""
        moment = as_datetime(value)
        if moment is None:
            return ""
        return moment.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M")

    def phone(self, value: Any) -> str:
        """National format for numbers of the home region, international for the others."""
        if not value:
            return ""
        try:
            parsed = phonenumbers.parse(str(value), self.phone_region)
        except phonenumbers.NumberParseException:
            return str(value)
        region = phonenumbers.region_code_for_number(parsed)
        fmt = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if region == self.phone_region
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        return phonenumbers.format_number(parsed, fmt)

    def is_overdue(self, value: Any) -> bool:
        moment = as_datetime(value)
        return moment is not None and moment < datetime.now(UTC)
