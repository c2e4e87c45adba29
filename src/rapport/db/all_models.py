"""Imports every table module so ``Base.metadata`` is complete (migrations, contract tests)."""

from rapport.crm import changes as _changes  # noqa: F401
from rapport.crm import models as _crm  # noqa: F401
from rapport.db import idempotency as _idempotency  # noqa: F401
from rapport.db.base import Base
from rapport.events import hub_models as _hub  # noqa: F401
from rapport.events import models as _events  # noqa: F401
from rapport.identity import models as _identity  # noqa: F401
from rapport.profiles import models as _profiles  # noqa: F401
from rapport.trust import models as _trust  # noqa: F401

metadata = Base.metadata
