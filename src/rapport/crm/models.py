"""CRM record tables (SQLAlchemy 2 typed models).

Column ``info`` keys: ``category`` (data category, required), ``writable`` (accepted from
clients, default True), ``search`` (feeds full-text search), ``enum`` (allowed values).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import Base, IdType, JsonType, RecordMixin, UtcDateTime, info

TIERS = ["A", "B", "C"]
SIZES = ["1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+"]
BUSINESS_LINES = ["industrial_automation", "medical_devices"]
CONTACT_ROLES = ["decision_maker", "economic_buyer", "technical_evaluator", "influencer", "user",
                 "procurement", "champion", "other"]
LEAD_STATUSES = ["new", "working", "nurturing", "qualified", "unqualified", "converted"]
LEAD_SOURCES = ["web", "trade_show", "referral", "partner", "cold_call", "email_campaign",
                "social", "tender", "other"]
OPPORTUNITY_STATUSES = ["open", "won", "lost"]
ACTIVITY_TYPES = ["email", "call", "meeting", "chat", "note"]
DIRECTIONS = ["inbound", "outbound", "internal"]
PRIORITIES = ["low", "normal", "high", "urgent"]
TASK_STATUSES = ["open", "in_progress", "done", "cancelled"]
TICKET_STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"]
TICKET_CHANNELS = ["email", "phone", "web", "chat", "wechat", "in_person"]
PIPELINE_OBJECTS = ["opportunity", "lead", "ticket"]
QUOTE_STATUSES = ["draft", "sent", "accepted", "rejected", "expired"]


def _fk(target: str, *, nullable: bool = True, ondelete: str = "SET NULL") -> Any:
    return ForeignKey(target, ondelete=ondelete)


class Region(RecordMixin, Base):
    __tablename__ = "regions"
    name: Mapped[str] = mapped_column(String(100), unique=True, info=info("organization.name", search=True))
    code: Mapped[str] = mapped_column(String(20), unique=True, info=info("organization.detail"))


class Team(RecordMixin, Base):
    __tablename__ = "teams"
    name: Mapped[str] = mapped_column(String(100), info=info("organization.name", search=True))
    region_id: Mapped[int | None] = mapped_column(IdType, _fk("regions.id"), index=True, info=info("system.reference"))


class Account(RecordMixin, Base):
    __tablename__ = "accounts"
    name: Mapped[str] = mapped_column(String(200), index=True, info=info("organization.name", search=True))
    legal_name: Mapped[str | None] = mapped_column(String(300), info=info("organization.name", search=True))
    industry: Mapped[str | None] = mapped_column(String(100), info=info("organization.detail"))
    size: Mapped[str | None] = mapped_column(String(20), info=info("organization.detail", enum=SIZES))
    tier: Mapped[str | None] = mapped_column(String(1), index=True, info=info("organization.detail", enum=TIERS))
    business_line: Mapped[str | None] = mapped_column(String(40), info=info("organization.detail", enum=BUSINESS_LINES))
    region_id: Mapped[int | None] = mapped_column(IdType, _fk("regions.id"), index=True, info=info("system.reference"))
    owner_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))
    parent_account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), index=True, info=info("system.reference"))
    website: Mapped[str | None] = mapped_column(String(300), info=info("organization.website", format="url"))
    phone: Mapped[str | None] = mapped_column(String(40), info=info("organization.phone", format="phone", search=True))
    email: Mapped[str | None] = mapped_column(String(254), info=info("organization.email", format="email", search=True))
    street: Mapped[str | None] = mapped_column(String(300), info=info("organization.address"))
    city: Mapped[str | None] = mapped_column(String(100), index=True, info=info("organization.address", search=True))
    state: Mapped[str | None] = mapped_column(String(100), info=info("organization.address"))
    postal_code: Mapped[str | None] = mapped_column(String(20), info=info("organization.address"))
    country: Mapped[str | None] = mapped_column(String(2), info=info("organization.address"))
    annual_revenue: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), info=info("financial.amount"))
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, info=info("system.external_id"))
    description: Mapped[str | None] = mapped_column(Text, info=info("organization.detail", search=True))


class Contact(RecordMixin, Base):
    __tablename__ = "contacts"
    first_name: Mapped[str | None] = mapped_column(String(100), info=info("contact.name", search=True))
    last_name: Mapped[str] = mapped_column(String(100), index=True, info=info("contact.name", search=True))
    email: Mapped[str | None] = mapped_column(String(254), index=True, info=info("contact.email", format="email", search=True))
    phone: Mapped[str | None] = mapped_column(String(40), index=True, info=info("contact.phone", format="phone", search=True))
    mobile: Mapped[str | None] = mapped_column(String(40), info=info("contact.phone", format="phone", search=True))
    job_title: Mapped[str | None] = mapped_column(String(200), info=info("contact.job", search=True))
    role: Mapped[str | None] = mapped_column(String(40), info=info("contact.job", enum=CONTACT_ROLES))
    department: Mapped[str | None] = mapped_column(String(100), info=info("contact.job"))
    account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), index=True, info=info("system.reference"))
    owner_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))
    region_id: Mapped[int | None] = mapped_column(IdType, _fk("regions.id"), index=True, info=info("system.reference"))
    city: Mapped[str | None] = mapped_column(String(100), info=info("contact.address"))
    country: Mapped[str | None] = mapped_column(String(2), info=info("contact.address"))
    preferred_language: Mapped[str | None] = mapped_column(String(10), info=info("contact.preference"))
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, info=info("system.external_id"))
    notes: Mapped[str | None] = mapped_column(Text, info=info("contact.note", search=True))
    # Never reuse the id of a deleted (erased) person: audit pseudonyms are derived from it.
    __table_args__ = (Index("ix_contacts_owner_updated", "owner_id", "updated_at"),
                      {"sqlite_autoincrement": True})


class Lead(RecordMixin, Base):
    __tablename__ = "leads"
    first_name: Mapped[str | None] = mapped_column(String(100), info=info("contact.name", search=True))
    last_name: Mapped[str] = mapped_column(String(100), info=info("contact.name", search=True))
    email: Mapped[str | None] = mapped_column(String(254), index=True, info=info("contact.email", format="email", search=True))
    phone: Mapped[str | None] = mapped_column(String(40), info=info("contact.phone", format="phone", search=True))
    company: Mapped[str | None] = mapped_column(String(200), info=info("organization.name", search=True))
    job_title: Mapped[str | None] = mapped_column(String(200), info=info("contact.job"))
    source: Mapped[str | None] = mapped_column(String(40), info=info("sales.source", enum=LEAD_SOURCES))
    status: Mapped[str] = mapped_column(String(20), default="new", index=True, info=info("sales.status", enum=LEAD_STATUSES))
    rating: Mapped[str | None] = mapped_column(String(10), info=info("sales.detail", enum=["hot", "warm", "cold"]))
    business_line: Mapped[str | None] = mapped_column(String(40), info=info("organization.detail", enum=BUSINESS_LINES))
    owner_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))
    region_id: Mapped[int | None] = mapped_column(IdType, _fk("regions.id"), index=True, info=info("system.reference"))
    converted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time", writable=False))
    converted_contact_id: Mapped[int | None] = mapped_column(IdType, _fk("contacts.id"), info=info("system.reference", writable=False))
    converted_account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), info=info("system.reference", writable=False))
    converted_opportunity_id: Mapped[int | None] = mapped_column(IdType, _fk("opportunities.id"), info=info("system.reference", writable=False))
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, info=info("system.external_id"))
    notes: Mapped[str | None] = mapped_column(Text, info=info("contact.note", search=True))
    __table_args__ = {"sqlite_autoincrement": True}  # ids of erased people are never reused


class Pipeline(RecordMixin, Base):
    __tablename__ = "pipelines"
    name: Mapped[str] = mapped_column(String(100), info=info("sales.pipeline", search=True))
    object_type: Mapped[str] = mapped_column(String(20), default="opportunity", info=info("sales.pipeline", enum=PIPELINE_OBJECTS))
    baseline_pipeline_id: Mapped[int | None] = mapped_column(IdType, _fk("pipelines.id"), info=info("system.reference"))
    region_id: Mapped[int | None] = mapped_column(IdType, _fk("regions.id"), info=info("system.reference"))
    business_line: Mapped[str | None] = mapped_column(String(40), info=info("organization.detail", enum=BUSINESS_LINES))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, info=info("sales.pipeline"))


class PipelineStage(RecordMixin, Base):
    __tablename__ = "pipeline_stages"
    pipeline_id: Mapped[int] = mapped_column(IdType, _fk("pipelines.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    name: Mapped[str] = mapped_column(String(100), info=info("sales.pipeline", search=True))
    position: Mapped[int] = mapped_column(Integer, info=info("sales.pipeline"))
    probability: Mapped[int] = mapped_column(Integer, default=0, info=info("sales.pipeline", minimum=0, maximum=100))
    required_fields: Mapped[list[str]] = mapped_column(JsonType, default=list, info=info("sales.pipeline"))
    baseline_stage_id: Mapped[int | None] = mapped_column(IdType, _fk("pipeline_stages.id"), info=info("system.reference"))
    is_won: Mapped[bool] = mapped_column(Boolean, default=False, info=info("sales.pipeline"))
    is_lost: Mapped[bool] = mapped_column(Boolean, default=False, info=info("sales.pipeline"))


class Opportunity(RecordMixin, Base):
    __tablename__ = "opportunities"
    name: Mapped[str] = mapped_column(String(200), info=info("sales.detail", search=True))
    account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), index=True, info=info("system.reference"))
    contact_id: Mapped[int | None] = mapped_column(IdType, _fk("contacts.id"), index=True, info=info("system.reference"))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), index=True, info=info("financial.amount", minimum=0))
    currency: Mapped[str] = mapped_column(String(3), default="CNY", info=info("financial.currency", format="currency"))
    close_date: Mapped[date | None] = mapped_column(Date, index=True, info=info("sales.detail"))
    owner_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))
    pipeline_id: Mapped[int] = mapped_column(IdType, _fk("pipelines.id", ondelete="RESTRICT"), info=info("system.reference", auto=True))
    stage_id: Mapped[int] = mapped_column(IdType, _fk("pipeline_stages.id", ondelete="RESTRICT"), index=True, info=info("system.reference", auto=True))
    probability: Mapped[int | None] = mapped_column(Integer, info=info("sales.detail", minimum=0, maximum=100))
    status: Mapped[str] = mapped_column(String(10), default="open", index=True, info=info("sales.status", enum=OPPORTUNITY_STATUSES, writable=False))
    lost_reason: Mapped[str | None] = mapped_column(String(300), info=info("sales.detail"))
    region_id: Mapped[int | None] = mapped_column(IdType, _fk("regions.id"), index=True, info=info("system.reference"))
    business_line: Mapped[str | None] = mapped_column(String(40), info=info("organization.detail", enum=BUSINESS_LINES))
    next_step: Mapped[str | None] = mapped_column(String(300), info=info("sales.detail"))
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, info=info("system.external_id"))
    description: Mapped[str | None] = mapped_column(Text, info=info("sales.detail", search=True))
    __table_args__ = (
        Index("ix_opportunities_pipeline_stage", "pipeline_id", "stage_id"),
        # A stage's deals by amount: the pipeline board and the usual opportunity list.
        Index("ix_opportunities_stage_amount", "stage_id", "amount"),
    )


class Activity(RecordMixin, Base):
    __tablename__ = "activities"
    type: Mapped[str] = mapped_column(String(10), info=info("communication.meta", enum=ACTIVITY_TYPES))
    direction: Mapped[str | None] = mapped_column(String(10), info=info("communication.meta", enum=DIRECTIONS))
    subject: Mapped[str | None] = mapped_column(String(300), info=info("communication.subject", search=True))
    body: Mapped[str | None] = mapped_column(Text, info=info("communication.content", search=True))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, info=info("communication.meta"))
    duration_seconds: Mapped[int | None] = mapped_column(Integer, info=info("communication.meta", minimum=0))
    participants: Mapped[list[str]] = mapped_column(JsonType, default=list, info=info("communication.participants"))
    account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), info=info("system.reference"))
    contact_id: Mapped[int | None] = mapped_column(IdType, _fk("contacts.id"), info=info("system.reference"))
    lead_id: Mapped[int | None] = mapped_column(IdType, _fk("leads.id"), info=info("system.reference"))
    opportunity_id: Mapped[int | None] = mapped_column(IdType, _fk("opportunities.id"), info=info("system.reference"))
    ticket_id: Mapped[int | None] = mapped_column(IdType, _fk("tickets.id"), info=info("system.reference"))
    owner_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))
    __table_args__ = (
        Index("ix_activities_contact_occurred", "contact_id", "occurred_at"),
        Index("ix_activities_account_occurred", "account_id", "occurred_at"),
        Index("ix_activities_opportunity_occurred", "opportunity_id", "occurred_at"),
        Index("ix_activities_lead_occurred", "lead_id", "occurred_at"),
        Index("ix_activities_ticket_occurred", "ticket_id", "occurred_at"),
    )


class Task(RecordMixin, Base):
    __tablename__ = "tasks"
    title: Mapped[str] = mapped_column(String(300), info=info("work.detail", search=True))
    description: Mapped[str | None] = mapped_column(Text, info=info("work.detail", search=True))
    assignee_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True, info=info("work.detail"))
    priority: Mapped[str] = mapped_column(String(10), default="normal", info=info("work.detail", enum=PRIORITIES))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True, info=info("work.status", enum=TASK_STATUSES))
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time", writable=False))
    account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), index=True, info=info("system.reference"))
    contact_id: Mapped[int | None] = mapped_column(IdType, _fk("contacts.id"), index=True, info=info("system.reference"))
    lead_id: Mapped[int | None] = mapped_column(IdType, _fk("leads.id"), index=True, info=info("system.reference"))
    opportunity_id: Mapped[int | None] = mapped_column(IdType, _fk("opportunities.id"), index=True, info=info("system.reference"))
    ticket_id: Mapped[int | None] = mapped_column(IdType, _fk("tickets.id"), index=True, info=info("system.reference"))


class Ticket(RecordMixin, Base):
    __tablename__ = "tickets"
    subject: Mapped[str] = mapped_column(String(300), info=info("communication.subject", search=True))
    description: Mapped[str | None] = mapped_column(Text, info=info("communication.content", search=True))
    priority: Mapped[str] = mapped_column(String(10), default="normal", index=True, info=info("service.detail", enum=PRIORITIES))
    status: Mapped[str] = mapped_column(String(20), default="new", index=True, info=info("service.status", enum=TICKET_STATUSES))
    channel: Mapped[str | None] = mapped_column(String(20), info=info("service.detail", enum=TICKET_CHANNELS))
    sla_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True, info=info("service.detail"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time", writable=False))
    account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), index=True, info=info("system.reference"))
    contact_id: Mapped[int | None] = mapped_column(IdType, _fk("contacts.id"), index=True, info=info("system.reference"))
    assignee_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))
    product_id: Mapped[int | None] = mapped_column(IdType, _fk("products.id"), info=info("system.reference"))
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, info=info("system.external_id"))


class Product(RecordMixin, Base):
    __tablename__ = "products"
    sku: Mapped[str] = mapped_column(String(60), unique=True, info=info("product.detail", search=True))
    name: Mapped[str] = mapped_column(String(200), info=info("product.detail", search=True))
    description: Mapped[str | None] = mapped_column(Text, info=info("product.detail"))
    unit: Mapped[str] = mapped_column(String(20), default="unit", info=info("product.detail"))
    business_line: Mapped[str | None] = mapped_column(String(40), info=info("organization.detail", enum=BUSINESS_LINES))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=info("product.detail"))


class PriceList(RecordMixin, Base):
    __tablename__ = "price_lists"
    name: Mapped[str] = mapped_column(String(100), info=info("product.detail", search=True))
    currency: Mapped[str] = mapped_column(String(3), default="CNY", info=info("financial.currency", format="currency"))
    region_id: Mapped[int | None] = mapped_column(IdType, _fk("regions.id"), info=info("system.reference"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=info("product.detail"))


class PriceListItem(RecordMixin, Base):
    __tablename__ = "price_list_items"
    price_list_id: Mapped[int] = mapped_column(IdType, _fk("price_lists.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    product_id: Mapped[int] = mapped_column(IdType, _fk("products.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 2), info=info("financial.amount", minimum=0))
    __table_args__ = (UniqueConstraint("price_list_id", "product_id", name="uq_price_list_items_list_product"),)


class Quote(RecordMixin, Base):
    __tablename__ = "quotes"
    number: Mapped[str] = mapped_column(String(40), unique=True, info=info("sales.detail", search=True))
    opportunity_id: Mapped[int | None] = mapped_column(IdType, _fk("opportunities.id"), index=True, info=info("system.reference"))
    account_id: Mapped[int | None] = mapped_column(IdType, _fk("accounts.id"), index=True, info=info("system.reference"))
    contact_id: Mapped[int | None] = mapped_column(IdType, _fk("contacts.id"), info=info("system.reference"))
    price_list_id: Mapped[int | None] = mapped_column(IdType, _fk("price_lists.id"), info=info("system.reference"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY", info=info("financial.currency", format="currency"))
    status: Mapped[str] = mapped_column(String(20), default="draft", info=info("sales.status", enum=QUOTE_STATUSES))
    valid_until: Mapped[date | None] = mapped_column(Date, info=info("sales.detail"))
    total: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"), info=info("financial.amount", writable=False))


class QuoteLine(RecordMixin, Base):
    __tablename__ = "quote_lines"
    quote_id: Mapped[int] = mapped_column(IdType, _fk("quotes.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    product_id: Mapped[int | None] = mapped_column(IdType, _fk("products.id"), info=info("system.reference"))
    description: Mapped[str | None] = mapped_column(String(300), info=info("sales.detail"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3), default=Decimal("1"), info=info("sales.detail", minimum=0))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 2), info=info("financial.amount", minimum=0))
    discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"), info=info("financial.amount", minimum=0, maximum=100))
    line_total: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"), info=info("financial.amount", writable=False))


class CustomObjectType(RecordMixin, Base):
    """A custom object declared at run time; its records live in ``custom_records``."""

    __tablename__ = "custom_object_types"
    name: Mapped[str] = mapped_column(String(60), unique=True, info=info("schema.definition"))
    label: Mapped[str] = mapped_column(String(100), info=info("schema.definition"))
    label_plural: Mapped[str | None] = mapped_column(String(100), info=info("schema.definition"))
    description: Mapped[str | None] = mapped_column(Text, info=info("schema.definition"))


class CustomRecord(RecordMixin, Base):
    __tablename__ = "custom_records"
    object_type_id: Mapped[int] = mapped_column(IdType, _fk("custom_object_types.id", ondelete="CASCADE"), index=True, info=info("system.reference", writable=False))
    name: Mapped[str] = mapped_column(String(200), info=info("custom.name", search=True))
    owner_id: Mapped[int | None] = mapped_column(IdType, _fk("users.id"), index=True, info=info("system.reference"))


class CustomFieldDefinition(RecordMixin, Base):
    """A custom field on a built-in object or a custom object, declared at run time."""

    __tablename__ = "custom_field_definitions"
    object_type: Mapped[str] = mapped_column(String(60), index=True, info=info("schema.definition"))
    name: Mapped[str] = mapped_column(String(60), info=info("schema.definition"))
    label: Mapped[str] = mapped_column(String(100), info=info("schema.definition"))
    field_type: Mapped[str] = mapped_column(String(20), info=info("schema.definition"))
    category: Mapped[str] = mapped_column(String(60), info=info("schema.definition"))
    required: Mapped[bool] = mapped_column(Boolean, default=False, info=info("schema.definition"))
    options: Mapped[list[str]] = mapped_column(JsonType, default=list, info=info("schema.definition"))
    reference_object: Mapped[str | None] = mapped_column(String(60), info=info("schema.definition"))
    max_length: Mapped[int | None] = mapped_column(Integer, info=info("schema.definition"))
    currency: Mapped[str | None] = mapped_column(String(3), info=info("schema.definition"))
    position: Mapped[int] = mapped_column(Integer, default=0, info=info("schema.definition"))
    __table_args__ = (UniqueConstraint("object_type", "name", name="uq_custom_field_definitions_object_name"),)


class SavedView(RecordMixin, Base):
    """A user's saved list view: filters, sort and visible columns."""

    __tablename__ = "saved_views"
    user_id: Mapped[int] = mapped_column(IdType, _fk("users.id", ondelete="CASCADE"), index=True, info=info("system.reference", writable=False))
    object_type: Mapped[str] = mapped_column(String(60), info=info("ui.preference"))
    name: Mapped[str] = mapped_column(String(100), info=info("ui.preference"))
    query: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("ui.preference"))
    columns: Mapped[list[str]] = mapped_column(JsonType, default=list, info=info("ui.preference"))
