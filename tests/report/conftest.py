from __future__ import annotations

import pytest

from tests.processed import Processed, build


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Processed:
    return build(tmp_path_factory.mktemp("report-store"))
