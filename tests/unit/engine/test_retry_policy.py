"""Which errors Temporal must not retry: names that exist, and the ones no retry can help."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from vanguard import errors
from vanguard.act.base import validate_params
from vanguard.engine.workflows import NON_RETRYABLE


def test_every_non_retryable_name_is_an_error_class() -> None:
    for name in NON_RETRYABLE:
        found = getattr(errors, name, None)
        assert isinstance(found, type), name
        assert issubclass(found, errors.VanguardError), name


def test_malformed_action_params_are_not_retried() -> None:
    class Params(BaseModel):
        url: str

    with pytest.raises(errors.InvalidParams) as info:
        validate_params(Params, "demo.kind", {})
    assert type(info.value).__name__ in NON_RETRYABLE
    assert "url" in str(info.value)
    assert "AdapterError" not in NON_RETRYABLE, "transient adapter errors must stay retryable"
