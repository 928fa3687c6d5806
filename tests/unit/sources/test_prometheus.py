"""Exposition parsing, the backoff schedule and the query-API client, without a network."""

from __future__ import annotations

import itertools
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from vanguard.errors import ScrapeError
from vanguard.model import EvidencePoint
from vanguard.sources.prometheus import (
    MetadataCache,
    PrometheusClient,
    ScrapeSchedule,
    Series,
    TargetState,
    became_stale,
    declared_kind,
    on_failure,
    on_success,
    parse_exposition,
    poll_targets,
    promql_selector,
    read_declared,
    read_exposition,
    recovered,
    scrape,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)

TEXT = """\
# HELP app_memory_bytes Resident memory.
# TYPE app_memory_bytes gauge
app_memory_bytes{instance="a"} 1.5e+08
app_memory_bytes{instance="b"} 2e+08
# HELP app_requests_total Requests.
# TYPE app_requests_total counter
app_requests_total{code="200"} 42 1767268800000
# TYPE app_latency_seconds summary
app_latency_seconds{quantile="0.5"} NaN
app_latency_seconds_count 0
app_latency_seconds_sum 0
"""


def _parse(metrics: set[str] | None = None) -> list[tuple[str, dict[str, str], float]]:
    signals = parse_exposition(TEXT, source="t", service_name="svc", now=T0, metrics=metrics)
    return [(s.metric_type, s.labels, s.value) for s in signals]


def test_parse_keeps_names_labels_values_and_drops_nan() -> None:
    assert _parse() == [
        ("app_memory_bytes", {"instance": "a"}, 1.5e8),
        ("app_memory_bytes", {"instance": "b"}, 2e8),
        ("app_requests_total", {"code": "200"}, 42.0),
        ("app_latency_seconds_count", {}, 0.0),
        ("app_latency_seconds_sum", {}, 0.0),
    ]


def test_parse_filters_by_sample_or_family_name() -> None:
    assert [m for m, _, _ in _parse(metrics={"app_requests"})] == ["app_requests_total"]
    assert [m for m, _, _ in _parse(metrics={"app_memory_bytes"})] == ["app_memory_bytes"] * 2
    assert _parse(metrics=set()) == []


def test_parse_stamps_now_unless_the_sample_has_a_timestamp() -> None:
    signals = parse_exposition(TEXT, source="t", service_name="svc", now=T0)
    stamps = {s.metric_type: s.timestamp for s in signals}
    assert stamps["app_memory_bytes"] == T0
    assert stamps["app_requests_total"] == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert {s.service_name for s in signals} == {"svc"}


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ScrapeError, match="not Prometheus exposition text"):
        parse_exposition("this is { not metrics", source="t", service_name="s", now=T0)


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler)


def test_scrape_reads_the_endpoint() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, text=TEXT)

    with _client(httpx.MockTransport(handler)) as client:
        signals = scrape("http://x/metrics", service_name="svc", now=T0, client=client).signals
    assert seen == ["http://x/metrics"]
    assert len(signals) == 5
    assert signals[0].source == "http://x/metrics"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(503, text="down"), "HTTP 503"),
        (httpx.Response(200, text="{{{"), "not Prometheus exposition text"),
    ],
)
def test_scrape_errors_are_scrape_errors(response: httpx.Response, message: str) -> None:
    with (
        _client(httpx.MockTransport(lambda r: response)) as client,
        pytest.raises(ScrapeError, match=message),
    ):
        scrape("http://x/metrics", service_name="svc", now=T0, client=client)


def test_scrape_connection_error_is_a_scrape_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        _client(httpx.MockTransport(refuse)) as client,
        pytest.raises(ScrapeError, match="ConnectError"),
    ):
        scrape("http://x/metrics", service_name="svc", now=T0, client=client)


SECRET_URL = "http://admin:hunter2pass@x/metrics?token=QSECRET77"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="down"),
        httpx.Response(200, text="{{{"),
        httpx.ConnectError("connection refused to http://admin:hunter2pass@x?token=QSECRET77"),
    ],
)
def test_a_scrape_error_and_its_log_mask_credentials_in_the_url(
    answer: httpx.Response | httpx.ConnectError, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    state = TargetState(url=SECRET_URL, service_name="s")
    with _client(httpx.MockTransport(handler)) as client:
        with pytest.raises(ScrapeError) as info:
            scrape(SECRET_URL, service_name="s", now=T0, client=client)
        _, states = poll_targets({"x": state}, now=T0, client=client, schedule=SCHEDULE)
    shown = [str(info.value), states["x"].reason, *(r.getMessage() for r in caplog.records)]
    assert "http://admin:[REDACTED]@x/metrics?token=[REDACTED]" in str(info.value)
    assert not [line for line in shown if "hunter2pass" in line or "QSECRET77" in line]


def test_a_scraped_signal_names_its_source_without_credentials() -> None:
    with _client(httpx.MockTransport(lambda r: httpx.Response(200, text=TEXT))) as client:
        exposition = scrape(SECRET_URL, service_name="s", now=T0, client=client)
    sources = {s.source for s in exposition.signals} | {
        d.source for d in exposition.declared.values()
    }
    assert sources == {"http://admin:[REDACTED]@x/metrics?token=[REDACTED]"}


SCHEDULE = ScrapeSchedule(interval_s=10, backoff_factor=2, max_backoff_s=60, stale_after=3)


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    delays = [SCHEDULE.delay_s(n) for n in range(7)]
    assert delays == [10, 20, 40, 60, 60, 60, 60]
    assert ScrapeSchedule(interval_s=5, backoff_factor=1).delay_s(9) == 5


@pytest.mark.parametrize(
    "bad",
    [{"interval_s": 0}, {"stale_after": 0}, {"stale_after": 1000}, {"max_backoff_s": 1e6}],
)
def test_schedule_knobs_are_bounded(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Input should be"):
        ScrapeSchedule.model_validate(bad)


def test_failures_back_off_then_mark_stale_once_then_recover() -> None:
    state = TargetState(url="http://x/metrics", service_name="svc")
    assert state.is_due(T0)
    now = T0
    history = [state]
    for _ in range(4):
        state = on_failure(state, now, "refused", SCHEDULE)
        history.append(state)
        assert not state.is_due(now)
        assert state.next_due is not None
        now = state.next_due
        assert state.is_due(now)
    assert [s.consecutive_failures for s in history] == [0, 1, 2, 3, 4]
    assert [s.stale for s in history] == [False, False, False, True, True]
    dues = [s.next_due for s in history[1:] if s.next_due is not None]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(dues)]
    assert gaps == [40, 60, 60]
    transitions = [became_stale(a, b) for a, b in itertools.pairwise(history)]
    assert transitions == [False, False, True, False]
    assert "series stale" in state.reason
    back = on_success(state, now, SCHEDULE)
    assert recovered(state, back)
    assert not back.stale
    assert back.next_due == now + timedelta(seconds=10)
    assert back.reason == "scraped again after 4 failure(s)"
    assert TargetState.model_validate_json(back.model_dump_json()) == back


def test_poll_scrapes_due_targets_and_logs_a_dead_one_sparingly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "dead":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, text=TEXT)

    states = {
        "ok": TargetState(url="http://ok/metrics", service_name="a"),
        "dead": TargetState(url="http://dead/metrics", service_name="b"),
    }
    schedule = ScrapeSchedule(interval_s=1, backoff_factor=1, stale_after=3)
    caplog.set_level(logging.DEBUG, logger="vanguard.sources.prometheus")
    counts = []
    with _client(httpx.MockTransport(handler)) as client:
        for step in range(6):
            signals, states = poll_targets(
                states,
                now=T0 + timedelta(seconds=step),
                client=client,
                schedule=schedule,
                metrics={"app_memory_bytes"},
            )
            counts.append(len(signals))
    assert counts == [2] * 6
    assert states["dead"].consecutive_failures == 6
    assert states["dead"].stale
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "1 in a row" in warnings[0]
    assert "series stale" in warnings[1]


def test_poll_skips_targets_not_yet_due() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, text=TEXT)

    later = TargetState(url="http://x/metrics", service_name="s", next_due=T0 + timedelta(1))
    with _client(httpx.MockTransport(handler)) as client:
        signals, states = poll_targets({"x": later}, now=T0, client=client, schedule=SCHEDULE)
    assert (signals, calls) == ([], [])
    assert states == {"x": later}


def _api(
    body: object, status: int = 200, seen: list[httpx.Request] | None = None
) -> PrometheusClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, text=json.dumps(body))

    return PrometheusClient("http://prom:9090/", transport=httpx.MockTransport(handler))


def test_query_range_parses_a_matrix_and_sends_the_window() -> None:
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "up", "job": "app"},
                    "values": [[1767268800, "1"], [1767268802, "0"]],
                }
            ],
        },
    }
    seen: list[httpx.Request] = []
    with _api(body, seen=seen) as api:
        series = api.query_range("up", T0, T0 + timedelta(seconds=2), timedelta(seconds=2))
    (request,) = seen
    assert request.url.path == "/api/v1/query_range"
    assert request.url.params["query"] == "up"
    assert request.url.params["step"] == "2"
    assert float(request.url.params["start"]) == T0.timestamp()
    assert len(series) == 1
    assert series[0].name == "up"
    assert series[0].labels == {"job": "app"}
    assert [(p.timestamp, p.value) for p in series[0].points] == [
        (T0, 1.0),
        (T0 + timedelta(seconds=2), 0.0),
    ]


def test_series_become_signals_without_nan() -> None:
    series = Series(
        metric={"__name__": "mem", "job": "a"},
        points=(
            EvidencePoint(timestamp=T0, value=1.0),
            EvidencePoint(timestamp=T0 + timedelta(seconds=1), value=float("nan")),
            EvidencePoint(timestamp=T0 + timedelta(seconds=2), value=3.0),
        ),
    )
    signals = series.signals(service_name="svc", source="http://prom")
    assert [(s.metric_type, s.labels, s.value) for s in signals] == [
        ("mem", {"job": "a"}, 1.0),
        ("mem", {"job": "a"}, 3.0),
    ]
    assert [s.timestamp for s in signals] == [T0, T0 + timedelta(seconds=2)]
    renamed = series.signals(service_name="svc", source="p", metric_type="memory_bytes")
    assert {s.metric_type for s in renamed} == {"memory_bytes"}


def test_query_parses_vectors_and_scalars() -> None:
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"job": "a"}, "value": [1767268800, "3.5"]}],
        },
    }
    with _api(vector) as api:
        (series,) = api.query("sum by (job) (x)", T0)
    assert series.points[0].value == 3.5
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1767268800, "7"]}}
    with _api(scalar) as api:
        (series,) = api.query("7", T0)
    assert (series.metric, series.points[0].value) == ({}, 7.0)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"},
            400,
            "HTTP 400: parse error at char 4",
        ),
        ({"status": "success", "data": {"resultType": "vector"}}, 200, "malformed query result"),
        (
            {"status": "success", "data": {"resultType": "string", "result": [1, "x"]}},
            200,
            "expected a vector, got a string",
        ),
        ("<html>", 502, "HTTP 502"),
    ],
)
def test_query_errors_are_scrape_errors(body: object, status: int, message: str) -> None:
    with _api(body, status) as api, pytest.raises(ScrapeError, match=message):
        api.query("x", T0)


def test_query_unreachable_is_a_scrape_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with (
        PrometheusClient("http://prom", transport=httpx.MockTransport(refuse)) as api,
        pytest.raises(ScrapeError, match="http://prom/api/v1/query: ConnectError"),
    ):
        api.query("up", T0)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, json={"status": "error", "error": "bad ?api_key=QSECRET77"}),
        httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix"}}),
        httpx.ConnectError("refused"),
    ],
)
def test_a_server_error_masks_credentials_in_the_url(
    answer: httpx.Response | httpx.ConnectError,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    url = "http://admin:hunter2pass@prom:9090"
    with (
        PrometheusClient(url, transport=httpx.MockTransport(handler)) as api,
        pytest.raises(ScrapeError) as info,
    ):
        api.query("up", T0)
    assert str(info.value).startswith("http://admin:[REDACTED]@prom:9090")
    assert "hunter2pass" not in str(info.value)
    assert "QSECRET77" not in str(info.value)
    assert api.source == "http://admin:[REDACTED]@prom:9090"


def test_requests_in_a_budget_share_its_deadline() -> None:
    """Each query answers within the client's 1 s, four of them do not within a budget of
    1 s; a budget inside it cannot lengthen it."""
    vector = {"status": "success", "data": {"resultType": "vector", "result": []}}

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.3)
        return httpx.Response(200, json=vector)

    answered: list[int] = []

    def read(api: PrometheusClient) -> None:
        with api.budget():
            for n in range(4):
                with api.budget(60):
                    api.query("up", T0)
                answered.append(n)

    with PrometheusClient("http://prom", timeout_s=1, transport=httpx.MockTransport(slow)) as api:
        for _ in range(4):
            assert api.query("up", T0) == []
        with pytest.raises(ScrapeError, match="no whole answer within 1 s"):
            read(api)
    assert answered == [0, 1, 2]


def test_a_timestamp_in_microseconds_is_a_scrape_error_naming_the_sample() -> None:
    text = "# TYPE mem gauge\nmem 100 1764979200000000000\n"
    with pytest.raises(ScrapeError, match="mem has an impossible timestamp"):
        parse_exposition(text, source="t", service_name="s", now=datetime(2026, 1, 1, tzinfo=UTC))


def test_a_selector_quotes_label_values_so_they_cannot_change_the_query() -> None:
    assert promql_selector("mem") == "mem{}"
    sneaky = {"job": 'web"} or vector(1) or mem{a="', "pod": "a\\b\nc"}
    assert promql_selector("mem", sneaky) == (
        'mem{job="web\\"} or vector(1) or mem{a=\\"",pod="a\\\\b\\nc"}'
    )
    with pytest.raises(ScrapeError, match="not a Prometheus metric name"):
        promql_selector("mem) or vector(1")
    with pytest.raises(ScrapeError, match="not a Prometheus label name"):
        promql_selector("mem", {"a-b": "x"})


DECLARING = """\
# TYPE jobs_total counter
jobs_total 7
# TYPE restarts counter
restarts 2
# TYPE pool_count gauge
pool_count 4
# TYPE wait_seconds histogram
wait_seconds_bucket{le="1"} 3
wait_seconds_bucket{le="+Inf"} 5
wait_seconds_count 5
wait_seconds_sum 2.5
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.9"} 0.2
rpc_seconds_count 9
rpc_seconds_sum 1.1
# TYPE legacy untyped
legacy 1
undeclared 2
"""


def _declared(metrics: set[str] | None = None) -> dict[str, tuple[str, str, str]]:
    exposition = read_exposition(DECLARING, source="t", service_name="s", now=T0, metrics=metrics)
    return {name: (d.kind, d.family, d.type) for name, d in exposition.declared.items()}


def test_type_lines_declare_the_kind_of_each_sample_as_watched() -> None:
    """A histogram's series and a summary's count and sum are counters, its quantiles
    gauges; the parser files a counter under ``jobs`` and its sample as ``jobs_total``."""
    assert _declared() == {
        "jobs_total": ("counter", "jobs", "counter"),
        "restarts_total": ("counter", "restarts", "counter"),
        "pool_count": ("gauge", "pool_count", "gauge"),
        "wait_seconds_bucket": ("counter", "wait_seconds", "histogram"),
        "wait_seconds_count": ("counter", "wait_seconds", "histogram"),
        "wait_seconds_sum": ("counter", "wait_seconds", "histogram"),
        "rpc_seconds": ("gauge", "rpc_seconds", "summary"),
        "rpc_seconds_count": ("counter", "rpc_seconds", "summary"),
        "rpc_seconds_sum": ("counter", "rpc_seconds", "summary"),
    }


def test_untyped_samples_declare_nothing_and_only_kept_ones_are_declared() -> None:
    assert "legacy" not in _declared()
    assert "undeclared" not in _declared()
    assert _declared({"pool_count", "wait_seconds"}) == {
        "pool_count": ("gauge", "pool_count", "gauge"),
        "wait_seconds_bucket": ("counter", "wait_seconds", "histogram"),
        "wait_seconds_count": ("counter", "wait_seconds", "histogram"),
        "wait_seconds_sum": ("counter", "wait_seconds", "histogram"),
    }


@pytest.mark.parametrize(
    ("family_type", "family", "sample", "kind"),
    [
        ("counter", "req_total", "req_total", "counter"),
        ("counter", "req", "req_total", "counter"),
        ("counter", "req", "req_created", None),
        ("gauge", "pool", "pool", "gauge"),
        ("gauge", "pool", "pool_count", None),
        ("histogram", "lat", "lat_bucket", "counter"),
        ("histogram", "lat", "lat", None),
        ("summary", "lat", "lat", "gauge"),
        ("summary", "lat", "lat_sum", "counter"),
        ("untyped", "x", "x", None),
        ("unknown", "x", "x", None),
        ("counter", "other", "req_total", None),
    ],
)
def test_declared_kind_by_family_type_and_ending(
    family_type: str, family: str, sample: str, kind: str | None
) -> None:
    assert declared_kind(family_type, family, sample) == kind


def _metadata_server(answers: dict[str, list[str]], asked: list[str]) -> PrometheusClient:
    def handler(request: httpx.Request) -> httpx.Response:
        family = request.url.params["metric"]
        asked.append(family)
        types = answers.get(family, [])
        data = {family: [{"type": t, "help": "", "unit": ""} for t in types]} if types else {}
        return httpx.Response(200, json={"status": "success", "data": data})

    return PrometheusClient("http://prom:9090", transport=httpx.MockTransport(handler))


def test_a_server_declares_a_sample_under_its_family_with_or_without_the_ending() -> None:
    asked: list[str] = []
    answers = {"req": ["counter"], "lat": ["histogram"], "pool_count": ["gauge"]}
    with _metadata_server(answers, asked) as server:
        found = {
            metric: read_declared(server, metric)
            for metric in ("req_total", "lat_bucket", "pool_count", "nothing_total")
        }
    assert {m: d and (d.kind, d.family, d.type) for m, d in found.items()} == {
        "req_total": ("counter", "req", "counter"),
        "lat_bucket": ("counter", "lat", "histogram"),
        "pool_count": ("gauge", "pool_count", "gauge"),
        "nothing_total": None,
    }
    assert asked == [
        "req_total",
        "req",
        "lat_bucket",
        "lat",
        "pool_count",
        "nothing_total",
        "nothing",
    ]


def test_targets_declaring_different_kinds_declare_nothing() -> None:
    with _metadata_server({"x": ["counter", "gauge"]}, []) as server:
        assert read_declared(server, "x") is None


def test_metadata_is_asked_once_per_refresh_and_a_failure_is_remembered_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asked: list[str] = []
    cache = MetadataCache(refresh_s=600)
    with _metadata_server({"pool": ["gauge"]}, asked) as server:
        assert cache.read(server, ["pool"], T0)["pool"].kind == "gauge"
        assert cache.read(server, ["pool"], T0 + timedelta(seconds=599))["pool"].kind == "gauge"
        assert asked == ["pool"]
        cache.read(server, ["pool"], T0 + timedelta(seconds=600))
        assert asked == ["pool", "pool"]

    def fail(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["metric"])
        return httpx.Response(404, text="no such API")

    failing = MetadataCache(refresh_s=600)
    caplog.set_level(logging.INFO, logger="vanguard")
    asked.clear()
    with PrometheusClient("http://old:9090", transport=httpx.MockTransport(fail)) as server:
        assert failing.read(server, ["a", "b"], T0) == {}
        assert failing.read(server, ["a", "b"], T0 + timedelta(seconds=60)) == {}
    assert asked == ["a"], "one failure stops the others and is remembered"
    (told,) = [r.getMessage() for r in caplog.records]
    assert told.startswith("http://old:9090: the declared kinds of its metrics are unknown")
    assert told.endswith("asked again in 600 s")
