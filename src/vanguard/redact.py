"""Secret redaction for everything that leaves the process: audit trail, messages, URLs.

A secret is removed before it is hashed or stored, so no later export, backup or chain check
can leak it. Two rules apply at any depth: a value under a key that names a secret
(``password``, ``token``, ``authorization``, ...) is replaced whole; in every other string,
credentials that look like bearer tokens, the value of an ``Authorization`` or ``Cookie``
header (any scheme), well-known token formats (GitHub, GitLab, npm, Docker Hub, Slack,
Stripe, AWS, ...), private key blocks, URL passwords, URL query parameters named like
secrets and the value after a key named like one (``password=…``, ``"token": "…"``) are
masked where they occur. Only an ordinary word after ``token: `` in a sentence is kept
(``anonymous token: unexpected status``): see ``_key_value``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote, unquote_plus, urlsplit

from pydantic import JsonValue

__all__ = [
    "PLACEHOLDER_SECRETS",
    "REDACTED",
    "SECRET_KEY_PARTS",
    "is_placeholder",
    "is_secret_key",
    "looks_like_secret",
    "redact",
    "redact_mapping",
    "redact_text",
]

REDACTED = "[REDACTED]"

PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "changethis", "secret", "password", "xxx", "todo"}
)
"""Values people leave in place of a real secret; refused wherever a secret is read."""

SECRET_KEY_PARTS: tuple[str, ...] = (
    "password",
    "passwd",
    "passphrase",
    "token",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "private_key",
    "privatekey",
    "credential",
    "session_key",
    "access_key",
    "signature",
    "dsn",
    "session_id",
)

_KEY_NORMALISE = re.compile(r"[^a-z0-9]+")

_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    (
        re.compile(r"\b(Bearer|Basic|Digest)(\s+)[A-Za-z0-9\-._~+/=:]{4,}", re.I),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"\b(Token)(\s+)[A-Za-z0-9\-._~+/=:]{16,}"), rf"\1\2{REDACTED}"),
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:[a-z][\w-]*\s+(?=[^\s\"']))?+)"
            r"(?!\[REDACTED\])[^\s\"'](?:[^\"'\r\n]*[^\s\"'])?"
        ),
        rf"\1{REDACTED}",
    ),
    (
        re.compile(
            r"(?i)\b((?:set-)?cookie\s*:\s*)(?!\[REDACTED\])[^\s\"'](?:[^\"'\r\n]*[^\s\"'])?"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?<=://)([^/\s:@]*):([^/\s@]+)@"), rf"\1:{REDACTED}@"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\bnpm_[A-Za-z0-9]{30,}"), REDACTED),
    (re.compile(r"\bgl(?:pat|dt|rt|ptt|soat)-[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\bdckr_pat_[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"), REDACTED),
    (
        re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), REDACTED),
)

_KEY_VALUE = re.compile(
    r"(?i)\b(\w*?(?:password|passwd|token|secret|api[_-]?key|access[_-]?key)\w*)"
    r"([\"']?\s*[=:]\s*[\"']?)([^\s\"'&,;}]+)"
)
"""A value after a key named like a secret: ``password=…``, ``"api_key": "…"``, ``token: …``."""

_PROSE_SEPARATOR = re.compile(r":[ \t]+")
_WORD = re.compile(r"(?:[a-z]{1,19}|[A-Z][a-z]{0,18}|[A-Z]{1,19})[.:!?)]?")
"""An ordinary word: letters only, in one case (or capitalised), shorter than 20 letters."""
_SENTENCE_GOES_ON = re.compile(r"[ \t]+[A-Za-z0-9]")


def _key_value(match: re.Match[str]) -> str:
    """Mask the value after a secret's key, except an ordinary word in prose.

    ``failed to fetch anonymous token: unexpected status: 429`` (BuildKit) is a sentence, not
    a credential: after the bare word ``token``, a colon and a space, a value made of letters
    only (``unexpected``, ``Expired``) is kept. A value with a digit or a symbol, mixed case
    or 20 letters and more, a quoted value, ``=``, a longer key (``GITHUB_TOKEN: …``,
    ``X-Auth-Token: …``), a secret's or a password's value (people choose words) are masked.
    So is a lowercase word that ends the line (``token: hunter``): a sentence goes on after
    it, ends it with a stop, or shouts an error's name (``UNAUTHORIZED``).
    """
    start, value = match.start(), match[3]
    prose = (
        match[1].lower() == "token"
        and (start == 0 or match.string[start - 1].isspace())
        and _PROSE_SEPARATOR.fullmatch(match[2]) is not None
        and _WORD.fullmatch(value) is not None
        and (
            not value[-1].isalpha()
            or value.isupper()
            or _SENTENCE_GOES_ON.match(match.string, match.end()) is not None
        )
    )
    return match[0] if prose else f"{match[1]}{match[2]}{REDACTED}"


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (``DB_PASSWORD``, ``X-Api-Key``, ``Set-Cookie``)."""
    normal = _KEY_NORMALISE.sub("_", key.lower())
    squashed = normal.replace("_", "")
    return any(part in normal or part.replace("_", "") in squashed for part in SECRET_KEY_PARTS)


_QUERY_PARAMETER = re.compile(r"([?&;])([^=&;#\s?]+)=([^&;#\s\"'<>]*)")
"""One ``name=value`` of a URL's query; its value is masked when the name names a secret."""


def _query_parameter(match: re.Match[str]) -> str:
    if not is_secret_key(unquote_plus(match[2])):
        return match[0]
    return f"{match[1]}{match[2]}={REDACTED}"


def redact_text(text: str) -> str:
    """Mask credentials inside free text, leaving the rest readable.

    A URL's query parameter loses its value when its name names a secret
    (``&access_token=``, ``?X-Amz-Signature=``: ``is_secret_key``), whatever the spelling.
    """
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    text = _KEY_VALUE.sub(_key_value, text)
    return _QUERY_PARAMETER.sub(_query_parameter, text)


_RANDOM_RUN = re.compile(
    r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])"
    r"[A-Za-z0-9]{20,}(?![A-Za-z0-9])"
)
_HEX_RUN = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32,}(?![A-Za-z0-9])")


def looks_like_secret(text: str) -> bool:
    """True when ``text`` holds a credential: one ``redact_text`` masks, or a random run.

    A run is random-looking when 20 or more letters and digits mix lower case, upper case
    and digits, or 32 or more are hex digits; the words of a variable's name
    (``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``) are neither.
    """
    return (
        redact_text(text) != text
        or _RANDOM_RUN.search(text) is not None
        or _HEX_RUN.search(text) is not None
    )


def url_holds_secret(url: str) -> bool:
    """True when a path segment or the query of ``url`` looks like a secret.

    A token in a path segment (Slack's, Jenkins') is no ``key=value`` pair, so once a URL
    is stored nothing recognises it: a URL given inline is checked with this first.
    """
    parts = urlsplit(url)
    pieces = [unquote(segment) for segment in parts.path.split("/")]
    if parts.query:
        pieces += [f"?{parts.query}", f"?{unquote(parts.query)}"]
    return any(looks_like_secret(piece) for piece in pieces if piece)


def redact(value: JsonValue) -> JsonValue:
    """Return a copy of a JSON value with every secret replaced by ``[REDACTED]``."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def redact_mapping(value: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """``redact`` for a mapping of parameters, typed as one (an action's ``before``, ``after``)."""
    return {str(k): (REDACTED if is_secret_key(str(k)) else redact(v)) for k, v in value.items()}


def is_placeholder(secret: str) -> bool:
    """True for an empty secret or one of the usual stand-ins (``changeme``, ``xxx``, ...)."""
    value = secret.strip().lower()
    return not value or value in PLACEHOLDER_SECRETS
