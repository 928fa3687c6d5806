"""Leave pytest without interpreter finalisation once Temporal's SDK has been loaded.

The Temporal SDK can abort with ``PyGILState_Release`` (exit 134) while the interpreter
finalises, after every test has passed (temporalio/sdk-python#300). Once pytest has
finished and reported, this plugin exits with pytest's own status instead.
"""

from __future__ import annotations

import os
import sys

import pytest

_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _status and "temporalio" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status[-1])
