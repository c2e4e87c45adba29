"""Lead conversion: one lead becomes contact + account + opportunity in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rapport.crm.service import Actor, RecordService
from rapport.db.base import utcnow
from rapport.db.uow import UnitOfWork
from rapport.errors import Conflict


@dataclass(frozen=True)
class ConversionResult:
    lead_id: int
    contact_id: int
    account_id: int
    opportunity_id: int | None


def convert_lead(
    uow: UnitOfWork,
    actor: Actor,
    records: RecordService,
    lead_id: int,
    *,
    account_id: int | None = None,
    create_opportunity: bool = True,
    opportunity_name: str | None = None,
    amount: Decimal | None = None,
    pipeline_id: int | None = None,
) -> ConversionResult:
    lead = records.load_for_write(uow.session, "leads", lead_id, actor).values
    if lead["status"] == "converted":
        raise Conflict(f"Lead {lead_id} was already converted")
    common = {k: lead[k] for k in ("owner_id", "region_id") if lead.get(k)}
    if account_id is None:
        account_values: dict[str, Any] = {"name": lead.get("company") or lead["last_name"], **common}
        if lead.get("business_line"):
            account_values["business_line"] = lead["business_line"]
        account_id = records.create(uow, actor, "accounts", account_values).id
    else:
        records.load_for_write(uow.session, "accounts", account_id, actor)
    contact_values = {
        k: lead[k] for k in ("first_name", "last_name", "email", "phone", "job_title") if lead.get(k)
    }
    contact_id = records.create(
        uow, actor, "contacts", {**contact_values, **common, "account_id": account_id}
    ).id
    from rapport.trust.consent import carry_over  # the person's consent travels with them

    carry_over(uow.session, records.settings.secret_key, actor.user_id, f"leads:{lead_id}",
               f"contacts:{contact_id}")
    opportunity_id = None
    if create_opportunity:
        values: dict[str, Any] = {
            "name": opportunity_name or f"{lead.get('company') or lead['last_name']} — new deal",
            "account_id": account_id,
            "contact_id": contact_id,
            **common,
        }
        if amount is not None:
            values["amount"] = amount
        if pipeline_id is not None:
            values["pipeline_id"] = pipeline_id
        if lead.get("business_line"):
            values["business_line"] = lead["business_line"]
        opportunity_id = records.create(uow, actor, "opportunities", values).id
    # Conversion fields are not client-writable; set them through the same change log.
    # Conversion fields are not client-writable; they still get a change record and an event.
    records.system_update(
        uow, actor, "leads", lead_id,
        {
            "status": "converted",
            "converted_at": utcnow(),
            "converted_contact_id": contact_id,
            "converted_account_id": account_id,
            "converted_opportunity_id": opportunity_id,
        },
    )
    return ConversionResult(lead_id, contact_id, account_id, opportunity_id)
