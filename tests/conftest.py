"""Suite-wide fixtures: keep the validation cache out of the developer's home directory.

Engines built with ``Engine.load`` refresh quota in the background by default; the suite turns
that off (a test that wants it passes ``quota_refresh=True``), so no test ever reaches a real
provider endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ["MP_POLICY_QUOTA_REFRESH"] = "0"


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("MP_POLICY_CACHE_DIR")
    os.environ["MP_POLICY_CACHE_DIR"] = str(tmp_path_factory.mktemp("mp-policy-cache"))
    yield
    if previous is None:
        os.environ.pop("MP_POLICY_CACHE_DIR", None)
    else:
        os.environ["MP_POLICY_CACHE_DIR"] = previous
