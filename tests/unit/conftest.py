"""The platform oracles (tests/oracles), one Node process for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.oracles import Oracle
from tests.pg import database, pg_url, postgres  # noqa: F401  (fixtures: the store runs on both)


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    o = Oracle()
    yield o
    o.close()
