"""The loader's short-cuts store exactly what SQLAlchemy would have stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import sqlite

from rapport.crm.models import Activity
from rapport.demo.load import _json, _sqlite_datetime


def test_timestamps_are_stored_as_sqlalchemy_stores_them_on_sqlite() -> None:
    bind = Activity.__table__.c.occurred_at.type._cached_bind_processor(sqlite.dialect())
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for step in range(0, 400 * 86400, 86400 * 7 + 3601):
        for microseconds in (0, 1, 999_999):
            value = start + timedelta(seconds=step, microseconds=microseconds)
            assert _sqlite_datetime(value) == bind(value)


def test_json_values_are_stored_as_json_dumps_writes_them() -> None:
    for value in ({}, [], ["wei.wang@huaxing.example.cn", "demo@example.com"], ["amount"],
                  ['say "hi"'], ["back\\slash"], ["王伟"], [1, 2], {"segment": "OEM"},
                  {"stage_id": [1, 2], "status": ["open", "won"]}, {"wechat_id": "王"}):
        assert _json(value) == json.dumps(value)
