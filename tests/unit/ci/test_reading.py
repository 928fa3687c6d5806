"""Keeping only the tail of a huge log, from a line start, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterator

from vanguard.ci.reading import log_tail


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_short_logs_pass_through_whole() -> None:
    data = b"a\nb\nc\n"
    assert b"".join(log_tail(_chunks(data, 2), 100)) == data


def test_tail_starts_at_a_line_and_fits_the_budget() -> None:
    data = b"".join(f"line {n}\n".encode() for n in range(10_000))
    for size in (1, 7, 4096):
        tail = b"".join(log_tail(_chunks(data, size), 1000))
        assert len(tail) <= 1000
        assert data.endswith(tail)
        assert tail.startswith(b"line ")
        assert tail.endswith(b"line 9999\n")


def test_one_endless_line_keeps_nothing_partial() -> None:
    assert b"".join(log_tail(_chunks(b"x" * 10_000, 64), 100)) == b""


def test_empty_stream() -> None:
    assert list(log_tail(iter(()), 100)) == []
