"""Redaction: no secret survives, whatever its depth or disguise, and the rest stays readable."""

from __future__ import annotations

import json

import pytest
from pydantic import JsonValue

from vanguard.redact import REDACTED, is_secret_key, redact, redact_text

SECRET = "Zq9-not-for-logs-7Kp"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWORD",
        "passwd",
        "token",
        "github_token",
        "GITHUB-TOKEN",
        "accessToken",
        "secret",
        "client_secret",
        "Authorization",
        "Proxy-Authorization",
        "api_key",
        "X-Api-Key",
        "apiKey",
        "cookie",
        "Set-Cookie",
        "private_key",
        "privateKey",
        "ssh-private-key",
        "aws_secret_access_key",
        "credentials",
    ],
)
def test_secret_keys_are_recognised_in_any_spelling(key: str) -> None:
    assert is_secret_key(key)
    assert redact({key: SECRET}) == {key: REDACTED}


@pytest.mark.parametrize("key", ["service_name", "pid", "uptime_s", "target", "action", "url"])
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)
    assert redact({key: "value"}) == {key: "value"}


def test_secret_keys_are_found_at_any_depth_and_replace_whole_subtrees() -> None:
    payload: JsonValue = {
        "a": [{"b": {"c": [{"password": SECRET}]}}],
        "private_key": {"pem": SECRET, "bits": 4096},
        "headers": [["ok", 1], {"Cookie": [SECRET, SECRET]}],
    }
    clean = redact(payload)
    assert SECRET not in json.dumps(clean)
    assert clean == {
        "a": [{"b": {"c": [{"password": REDACTED}]}}],
        "private_key": REDACTED,
        "headers": [["ok", 1], {"Cookie": REDACTED}],
    }


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("auth header 'basic dXNlcjpwYXNz'", "dXNlcjpwYXNz"),
        ("token ghp_0123456789abcdefghijABCDEFGHIJklmnop used", "ghp_0123456789abcdefghij"),
        ("fine-grained github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG"),
        ("slack xoxb-1234567890-abcdefghij leaked", "xoxb-1234567890"),
        ("aws AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln here", "eyJhbGciOiJIUzI1NiJ9"),
        ("postgresql://app:hunter2@db:5432/x", "hunter2"),
        ("see https://user:p%40ss@example.com/path", "p%40ss"),
        ("password=hunter2&user=x", "hunter2"),
        ("GET http://h/metrics?module=x&auth_token=QSECRET77 failed", "QSECRET77"),
        ("https://b.s3/k?X-Amz-Credential=AKID%2F1&X-Amz-Signature=f00dfeed", "f00dfeed"),
        ("https://b.s3/k?X-Amz-Credential=AKID%2F1&X-Amz-Signature=f00dfeed", "AKID%2F1"),
        ("http://h/x?access%5Ftoken=QSECRET77#top", "QSECRET77"),
        ('{alertname="Down", db_password="hunter22", api_token="s3cr3t"}', "hunter22"),
        ('{alertname="Down", db_password="hunter22", api_token="s3cr3t"}', "s3cr3t"),
        ("Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", "9944b09199c62bcf"),
        ('{"api_key": "k-123456"}', "k-123456"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n"
            "-----END OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXk",
        ),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEtruncated", "MIIEtruncated"),
        (
            "+ curl -H 'Authorization: token 0123456789abcdef0123456789abcdef01234567' https://x",
            "0123456789abcdef",
        ),
        ("> Authorization: ApiKey c2VjcmV0LWtleS12YWx1ZQ", "c2VjcmV0LWtleS12YWx1ZQ"),
        ("Authorization: SSWS 00QCjAl4MlV-WPXM-ABCDEF", "00QCjAl4MlV"),
        ('{"authorization": "s3cr3tvalue"}', "s3cr3tvalue"),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240501/s3, Signature=fe5f80f7",
            "fe5f80f7",
        ),
        ("< Proxy-Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        ("> Cookie: session=8f2a9c1b7e3d; csrftoken=Zq9x", "8f2a9c1b7e3d"),
        ("> Cookie: session=8f2a9c1b7e3d; csrftoken=Zq9x", "Zq9x"),
        ("publish failed with token npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_abcdefghij"),
        ("fatal: could not push with glpat-abcdefghij1234567890", "glpat-abcdefghij"),
        ("docker login -p dckr_pat_2b3e36beeb386dfdaacb9b46004ccb7c", "dckr_pat_2b3e36"),
        ("Error: invalid key sk_live_51H8abcdefghijklmnopqrstuv", "sk_live_51H8"),
        (
            "POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "XXXXXXXXXXXX",
        ),
    ],
)
def test_credentials_inside_text_are_masked(text: str, secret: str) -> None:
    clean = redact_text(text)
    assert secret not in clean
    assert REDACTED in clean
    assert redact({"message": text, "list": [text]}) == {"message": clean, "list": [clean]}


def test_ordinary_text_and_values_are_untouched() -> None:
    payload: JsonValue = {
        "message": "restarted worker (pid 41 -> 97) at https://example.com/runs/5?attempt=2",
        "query": "http://h/metrics?module=http_2xx&target=db&name[]=a;debug=1",
        "n": 3,
        "ratio": 0.5,
        "ok": True,
        "none": None,
        "list": ["Bearer", "token"],
        "summary": "Token refresh failing for 3 clients",
        "header": "the Authorization header is missing",
        "env": "npm_config_cache=/home/runner/.npm npm_lifecycle_event=test",
        "slack": "posted to https://hooks.slack.com/services",
    }
    assert redact(payload) == payload


def test_redaction_is_idempotent() -> None:
    payload: JsonValue = {
        "h": "Bearer abcdefgh",
        "u": "redis://:pw@host/0",
        "token": SECRET,
        "t": "api_key=abc",
        "a": "curl -H 'Authorization: token abcdef0123' -H 'Cookie: s=1' https://x",
        "b": "Authorization: Bearer abcdefgh",
    }
    once = redact(payload)
    assert redact(once) == once
    assert SECRET not in json.dumps(once)
    assert "pw@" not in json.dumps(once)


@pytest.mark.parametrize(
    "text",
    [
        "#2 ERROR: failed to fetch anonymous token: unexpected status: 429 Too Many Requests",
        "Token: expired. Log in again",
        "refresh token: UNAUTHORIZED",
    ],
)
def test_an_ordinary_word_after_token_colon_in_prose_is_kept(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token: ghp_0123456789abcdefghijABCDEFGHIJklmnop", "ghp_0123456789"),
        ("token: gho_16C7e42F292c6912E7710c838347Ae178B4a", "gho_16C7e42F"),
        ("token: github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11"),
        ("token: xoxb-1234567890-abcdefghij", "xoxb-1234567890"),
        ("secret: AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("token: s3cr3t", "s3cr3t"),
        ("token: abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
        ("token: aBcDeFgHiJ", "aBcDeFgHiJ"),
        ("token: dGVzdA==", "dGVzdA"),
        ("token=unexpected", "unexpected"),
        ("token:unexpected", "unexpected"),
        ('token: "unexpected"', "unexpected"),
        ('{"token": "unexpected"}', "unexpected"),
        ("token: 'hunter'", "hunter"),
        ("token: hunterxyz", "hunterxyz"),
        ("deploy token: Hunterxyz\nnext line", "Hunterxyz"),
        ("GITHUB_TOKEN: hunter", "hunter"),
        ("X-Auth-Token: hunter", "hunter"),
        ("github.token: hunter", "hunter"),
        ("password: sunshine", "sunshine"),
        ("secret: sunshine", "sunshine"),
        ("db_secret: sunshine", "sunshine"),
        ("api_key: sunshine", "sunshine"),
    ],
)
def test_a_secret_after_token_colon_is_still_masked(text: str, secret: str) -> None:
    clean = redact_text(text)
    assert secret not in clean
    assert REDACTED in clean
