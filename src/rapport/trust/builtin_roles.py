"""The built-in roles, as data. Admins may edit them (each edit is a new, audited version)."""

from __future__ import annotations

from typing import Any

ALL = ["create", "read", "update", "delete", "export"]
CRU = ["create", "read", "update"]
READ = ["read"]
# Reference data every working role reads.
REFERENCE = {name: {"rights": READ, "scope": "all"} for name in (
    "regions", "teams", "pipelines", "pipeline_stages", "products", "price_lists",
    "price_list_items", "custom_object_types", "users")}

BUILTIN_ROLES: dict[str, dict[str, Any]] = {
    "admin": {
        "label": "Administrator",
        "description": "Everything, including roles, users, schema, audit and privacy requests.",
        "permissions": {"admin": True, "reveal": True},
    },
    "sales_manager": {
        "label": "Sales manager",
        "description": "Runs a team: all of the team's records, exports, may reveal contact data.",
        "permissions": {
            "objects": {**REFERENCE, "*": {"rights": ALL, "scope": "team"}},
            "fields": {"*": "writable"},
            "reveal": True,
            "capabilities": ["consent.manage", "health.read"],
        },
    },
    "sales_rep": {
        "label": "Sales rep",
        "description": "Works their own accounts, contacts, leads and deals; contact data masked.",
        "permissions": {
            "objects": {
                **REFERENCE,
                **{name: {"rights": CRU, "scope": "own"} for name in (
                    "accounts", "contacts", "leads", "opportunities", "activities", "tasks",
                    "quotes", "quote_lines", "custom_records")},
                "tickets": {"rights": READ, "scope": "own"},
            },
            "fields": {"*": "writable"},
            "reveal": True,
        },
    },
    "service_agent": {
        "label": "Service agent",
        "description": "Handles tickets for the region; reads any customer, contact data masked.",
        "permissions": {
            "objects": {
                **REFERENCE,
                "tickets": {"rights": CRU, "scope": "region"},
                "activities": {"rights": CRU, "scope": "region"},
                "tasks": {"rights": CRU, "scope": "own"},
                "contacts": {"rights": ["read", "update"], "scope": "all"},
                "accounts": {"rights": READ, "scope": "all"},
            },
            "fields": {"*": "writable", "financial": "hidden"},
            "reveal": True,
        },
    },
    "marketer": {
        "label": "Marketer",
        "description": "Leads and campaign lists; phone numbers hidden, e-mails masked, no reveal.",
        "permissions": {
            "objects": {
                **REFERENCE,
                "leads": {"rights": ["create", "read", "update", "export"], "scope": "all"},
                "contacts": {"rights": ["read", "export"], "scope": "all"},
                "accounts": {"rights": READ, "scope": "all"},
            },
            "fields": {"*": "writable", "contact.phone": "hidden", "financial": "hidden"},
            "capabilities": ["analytics.private", "health.read"],
        },
    },
    "auditor": {
        "label": "Auditor",
        "description": "Reads everything and the audit log; never sees sensitive values.",
        "permissions": {
            "objects": {"*": {"rights": READ, "scope": "all"}},
            "fields": {"*": "clear", "contact.phone": "hidden", "contact.email": "hidden",
                       "identity": "hidden", "health": "hidden", "financial.account": "hidden",
                       "sensitive": "hidden"},
            "capabilities": ["audit.read", "health.read"],
        },
    },
    "privacy_officer": {
        "label": "Privacy officer",
        "description": "Handles data-subject requests and consent; reads the audit log.",
        "permissions": {
            "objects": {"*": {"rights": READ, "scope": "all"}},
            "fields": {"*": "clear"},
            "reveal": True,
            "capabilities": ["privacy.manage", "consent.manage", "audit.read", "budgets.manage"],
            "require_totp": False,
        },
    },
    "integration": {
        "label": "Integration",
        "description": "Machine access for sync jobs: all records, clear values, no UI pages.",
        "permissions": {
            "objects": {"*": {"rights": ALL, "scope": "all"}},
            "fields": {"*": "writable", "contact.phone": "writable", "contact.email": "writable",
                       "identity": "writable", "health": "writable", "financial": "writable",
                       "sensitive": "writable"},
        },
    },
}
