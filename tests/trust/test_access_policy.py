"""Access policies: merging roles, field access per data category, masking formats."""

from __future__ import annotations

import pytest

from rapport.crm.access import mask_value
from rapport.trust.builtin_roles import BUILTIN_ROLES
from rapport.trust.permissions import (
    PermissionsInvalid,
    is_sensitive,
    policy_from,
    validate_permissions,
)


def builtin(*names: str):  # type: ignore[no-untyped-def]
    return policy_from([(n, validate_permissions(BUILTIN_ROLES[n]["permissions"])) for n in names])


def test_every_builtin_role_is_a_valid_permissions_document() -> None:
    for name, spec in BUILTIN_ROLES.items():
        assert validate_permissions(spec["permissions"]), name


@pytest.mark.parametrize(("doc", "complaint"), [
    ([], "must be an object"),
    ({"objects": {"contacts": {"rights": ["read", "steal"]}}}, "objects.contacts.rights"),
    ({"objects": {"contacts": {"rights": ["read"], "scope": "galaxy"}}}, "objects.contacts.scope"),
    ({"fields": {"contact.phone": "blurred"}}, "fields must map"),
    ({"capabilities": ["root"]}, "capabilities must be"),
    ({"reveal": "yes"}, "reveal must be true or false"),
    ({"superpowers": True}, "unknown keys"),
])
def test_malformed_permissions_are_refused_with_the_place_to_fix(doc: object, complaint: str) -> None:
    with pytest.raises(PermissionsInvalid, match=complaint.replace(".", r"\.")):
        validate_permissions(doc)


def test_a_rep_reads_own_records_and_sees_contact_data_masked() -> None:
    rep = builtin("sales_rep")
    assert rep.allows("contacts", "read")
    assert rep.scope("contacts") == "own"
    assert not rep.allows("contacts", "delete")
    assert not rep.allows("contacts", "export")
    assert rep.field_view("contact.phone") == "masked"
    assert rep.field_view("contact.email") == "masked"
    assert rep.field_view("contact.name") == "clear"
    # masked for display, yet a rep may correct a phone number
    assert rep.field_writable("contact.phone")
    assert rep.can_reveal


def test_sensitive_categories_stay_masked_under_a_wildcard_and_clear_when_named() -> None:
    wildcard = policy_from([("r", {"fields": {"*": "writable"}})])
    named = policy_from([("r", {"fields": {"*": "writable", "identity": "clear"}})])
    assert wildcard.field_view("identity.national_id") == "masked"
    assert named.field_view("identity.national_id") == "clear"
    assert not named.field_writable("identity.national_id")


def test_holding_two_roles_gives_the_most_open_of_each() -> None:
    both = builtin("sales_rep", "marketer")
    assert both.scope("leads") == "all"  # marketer
    assert both.allows("leads", "export")  # marketer
    assert both.allows("opportunities", "update")  # rep
    assert both.field_view("contact.phone") == "masked"  # rep masked beats marketer hidden
    assert both.can_reveal


def test_one_roles_narrow_entry_does_not_hide_another_roles_wildcard() -> None:
    merged = policy_from([
        ("narrow", {"objects": {"contacts": {"rights": ["read"], "scope": "own"}}}),
        ("wide", {"objects": {"*": {"rights": ["read", "update"], "scope": "all"}}}),
    ])
    assert merged.scope("contacts") == "all"
    assert merged.allows("contacts", "update")


def test_a_roles_own_named_object_narrows_its_own_wildcard() -> None:
    policy = policy_from([("r", {"objects": {"*": {"rights": ["read"], "scope": "all"},
                                             "contacts": {"rights": ["read"], "scope": "own"}}})])
    assert policy.scope("contacts") == "own"
    assert policy.scope("accounts") == "all"


def test_outside_the_trusted_networks_clear_sensitive_values_become_masked() -> None:
    integration = builtin("integration")
    assert integration.field_view("contact.phone") == "clear"
    outside = integration.outside_network()
    assert outside.field_view("contact.phone") == "masked"
    assert outside.field_view("organization.name") == "clear"
    assert not builtin("admin").outside_network().may_reveal()


def test_admins_may_do_everything_but_see_sensitive_values_masked() -> None:
    admin = builtin("admin")
    assert admin.admin
    assert admin.can("audit.read")
    assert admin.allows("tickets", "delete")
    assert admin.field_view("contact.email") == "masked"
    assert admin.field_writable("contact.email")
    assert builtin("admin", "integration").field_view("contact.email") == "clear"


def test_auditors_never_see_sensitive_values_and_cannot_write() -> None:
    auditor = builtin("auditor")
    assert auditor.field_view("contact.phone") == "hidden"
    assert auditor.field_view("health.condition") == "hidden"
    assert not auditor.field_writable("contact.name")
    assert not auditor.allows("contacts", "update")


@pytest.mark.parametrize(("category", "value", "shown"), [
    ("contact.phone", "+8613812345678", "138****5678"),
    ("contact.phone", "+14155550123", "+1 415****0123"),
    ("contact.phone", "+865921236035", "592****6035"),
    ("contact.phone", "+442079460958", "+44 207****0958"),
    ("contact.email", "jane.doe@example.com", "j***@example.com"),
    ("identity.national_id", "110101199003077777", "**************7777"),
    ("financial.account", "6222020200112233", "************2233"),
    ("health.condition", "asthma", "••••"),
    ("contact.phone", "", ""),
    ("contact.phone", None, None),
])
def test_masking_formats(category: str, value: str | None, shown: str | None) -> None:
    assert mask_value(category, value) == shown


def test_which_categories_are_sensitive() -> None:
    assert is_sensitive("contact.phone")
    assert is_sensitive("identity")
    assert is_sensitive("health.x")
    assert not is_sensitive("contact.name")
    assert not is_sensitive("financial.amount")
