"""Settings from the environment (prefix ``RAPPORT_``), in one place."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-insecure-change-me"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    """Every knob Rapport reads, with its default and meaning."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; production refuses placeholder secrets."
    )
    database_url: str = Field(
        "sqlite:///./rapport.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql://user@host/db.",
    )
    secret_key: str = Field(
        PLACEHOLDER_SECRET, description="Key that signs browser session cookies and CSRF tokens."
    )
    default_locale: Literal["en", "zh_CN"] = Field("en", description="UI locale for new users.")
    default_currency: str = Field("CNY", description="Currency used when a record names none.")
    default_phone_region: str = Field(
        "CN", description="ISO region used to parse phone numbers written without a country code."
    )
    session_hours: int = Field(12, description="Browser session lifetime in hours.", ge=1)
    session_idle_minutes: int = Field(
        120, description="Minutes without activity after which a browser session ends (0: never).",
        ge=0,
    )
    login_address_failures: int = Field(
        20, description="Failed sign-ins from one network address (IPv4 address or IPv6 /64) "
        "within login_address_minutes after which every sign-in from it waits that long "
        "(0: off).", ge=0,
    )
    login_address_minutes: int = Field(
        15, description="Window and wait of the per-address sign-in throttle, in minutes.",
        ge=1, le=1440,
    )
    token_days_max: int = Field(
        365, description="Longest API token lifetime in days (new tokens default to 90, or this "
        "if lower).", ge=1, le=3650,
    )
    max_body_bytes: int = Field(
        2_000_000, description="Largest accepted HTTP request body; larger answers 413.", ge=1024
    )
    bulk_limit: int = Field(1000, description="Most records one bulk call may carry.", ge=1)
    page_size_max: int = Field(200, description="Largest list page size.", ge=1)
    count_cap: int = Field(1000, description="List counts stop at this number (shown as N+).")
    idempotency_hours: int = Field(48, description="How long an Idempotency-Key answer is kept.")
    trusted_networks: list[str] = Field(
        [],
        description="CIDR list (JSON, e.g. [\"10.0.0.0/8\"]) where sensitive values may be seen "
        "in clear; elsewhere everyone gets the masked view. Empty: every network is trusted.",
    )
    reveal_per_hour: int = Field(
        30, description="Most masked values one user may reveal per hour (each reveal is audited).",
        ge=0,
    )
    anomaly_detection: bool = Field(
        True, description="Count what each user reads and exports per hour and lock accounts "
        "whose volume looks like data theft (see docs/anomaly.md).",
    )
    anomaly_read_ceiling: int = Field(
        5000, description="Records one user may be served in an hour; above it the account is "
        "locked whatever the user's history.", ge=1,
    )
    anomaly_high_value_ceiling: int = Field(
        2000, description="Tier-A records (accounts, and the contacts, deals and activities of "
        "tier-A accounts) one user may be served in an hour before the account is locked.", ge=1,
    )
    anomaly_export_ceiling: int = Field(
        5000, description="Records one user may export in an hour before the account is locked.",
        ge=1,
    )
    anomaly_factor: float = Field(
        2.0, description="How many times their own peak hour (last 14 days) a user's tier-A reads "
        "or exports must reach to lock the account.", ge=1.0, le=100.0,
    )
    anomaly_window_factor: float = Field(
        2.0, description="How many times their own busiest 24 hours a user's tier-A reads or "
        "exports over the last 24 hours must reach to lock the account.", ge=1.0, le=100.0,
    )
    anomaly_baseline_days: int = Field(
        14, description="Days of a user's own history that make up their baseline.", ge=7, le=90,
    )
    privacy_budget_default_epsilon: float = Field(
        10.0, description="Differential-privacy budget (total ε) an analyst starts with; "
        "privacy officers can change it per analyst.", ge=0, le=1000,
    )
    privacy_query_max_epsilon: float = Field(
        1.0, description="Largest ε one private analytics query may spend.", gt=0, le=1000,
    )

    bus_url: str = Field(
        "", description="Event bus: empty for the in-process log kept in the database, or "
        "nats://host:4222 for NATS JetStream.",
    )
    bus_name: str = Field(
        "rapport", description="NATS names: stream NAME_EVENTS, subjects NAME.events.N, lease "
        "bucket NAME_leases (one hub per name on a shared NATS).", pattern=r"^[a-z][a-z0-9_]{0,30}$",
    )
    hub_partitions: int = Field(
        16, description="Event partitions (customer key hash); fixed once events exist.", ge=1,
        le=1024,
    )
    event_max_bytes: int = Field(32_768, description="Largest accepted event (JSON bytes).", ge=1024)
    batch_max_bytes: int = Field(
        512_000, description="Largest accepted /v1/batch request body (JSON bytes).", ge=1024
    )
    session_gap_minutes: int = Field(
        30, description="Minutes of inactivity after which a derived session ends.", ge=1
    )
    identity_fingerprint_max_profiles: int = Field(
        3, description="A device fingerprint seen with more profiles than this stops being a "
        "merge key.", ge=1,
    )
    mqtt_url: str = Field(
        "", description="MQTT broker the IoT bridge subscribes to, e.g. mqtt://127.0.0.1:1883.",
    )

    @model_validator(mode="after")
    def _check_networks(self) -> Settings:
        from rapport.trust.network import validate_networks

        validate_networks(self.trusted_networks)
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == PLACEHOLDER_SECRET:
            raise ValueError("RAPPORT_SECRET_KEY must be set to a real secret in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """Settings read once from the environment (the composition root passes them on)."""
    return Settings()
