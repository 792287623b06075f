"""The time prcast acts on. PRCAST_NOW (ISO 8601 with a zone) fixes it, for dry rehearsals
of scheduled runs and for tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def now() -> datetime:
    fixed = os.environ.get("PRCAST_NOW")
    if fixed:
        moment = datetime.fromisoformat(fixed)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)
