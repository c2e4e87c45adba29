"""Fixtures shared by the suite, registered as plugins (no star imports)."""

import os

from hypothesis import settings

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.api", "tests.fixtures.services"]

# CI replays the same examples on every run (a clean clone has no example database, so a
# random find would make one run red and the next green); locally examples vary per run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("RAPPORT_TEST_REQUIRE_SERVICES") == "1":
    settings.load_profile("ci")
