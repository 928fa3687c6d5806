"""Find the lines of a failed CI log that explain the failure, zero-shot, in one bounded pass.

Build tools report failures in a few recurring shapes: a line that names an error, a test
runner's failure block, a compiler diagnostic with a location, and finally the CI system's
own "command exited with N". ``explain`` scores each line by those shapes, locates the step
that failed from the CI system's markers (Travis, GitHub Actions, GitLab, Jenkins), and
returns the best block of lines, ranked, with a category and a stable fingerprint. It reads
the log once and keeps only a bounded tail plus the strongest earlier lines, so huge logs
cost bounded memory; it never reads files or clocks itself.
"""

from __future__ import annotations

import codecs
import hashlib
import heapq
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from vanguard.diagnose.classify import Classification, classify
from vanguard.diagnose.linemodel import LineModel, builtin_model, hashed_tokens
from vanguard.diagnose.taxonomy import Heal, Taxonomy, builtin_taxonomy
from vanguard.redact import REDACTED, redact_text

__all__ = [
    "CandidateTable",
    "ExplainedLine",
    "Explanation",
    "LogContext",
    "ModelChoice",
    "candidate_table",
    "clean_line",
    "context_of",
    "explain",
    "extent_table",
    "extent_words",
    "fingerprint_of",
    "first_block",
    "is_consequence",
    "iter_log_lines",
    "line_evidence",
    "normalize_line",
    "read_chunks",
]

MAX_LINE_CHARS = 2000
"""Longer lines are cut: no build tool explains a failure past this point."""
SHOWN_CHARS = 500
"""A listed line's text is cut here (masked first when it is longer)."""
TAIL_LINES = 60_000
"""Lines kept verbatim; earlier ones survive only as the strongest candidates."""
EARLY_CANDIDATES = 256
BASELINE_LIMIT = 1_000_000
KNOWN_SHARE = 0.25
"""What a line the passing baseline also printed keeps of its score (rules) or probability
(model): old news sinks below what is new, yet still explains when nothing new does."""
MAX_SEEDS = 5
"""Distinct candidate reports listed before the supporting lines of the best one."""
MAX_BLOCK_AFTER = 100
MAX_BLOCK_BEFORE = 8
PARAGRAPH_TAIL = 2
"""Lines of no known shape a report may still take while no blank line has ended it: tools
close a report with a plain hint (``See config.log``, ``Run with RUST_BACKTRACE=1``)."""
MAX_HEADER_BEFORE = 60
"""How far above an indented report (or a pytest ``E`` line) its header is looked for."""
DETAIL_SEARCH = 3000
"""How far after a one-line status report its detailed report is looked for."""
READ_CHUNK = 1 << 16
EVIDENCE_CAP = 3.5
"""Beyond this, more error words do not make a line likelier; being first does."""
REGION_BONUS = 2.0
"""Lines inside the step that failed first gain this much evidence."""
PRIMACY = 1.5
"""Up to this much more for the first lines of that step: the first report is the cause."""
FAR_PENALTY = 1.0
FAR_LINES = 256
"""Lines further than FAR_LINES from the step's end lose FAR_PENALTY per doubling."""
NEAR_CONSEQUENCE = 1.0
"""A tool prints its summary right after the report it sums up."""
BEFORE_PENALTY = 2.0
AFTER_PENALTY = 4.0
"""Lines before the failed step (it passed) and after it (cleanup, caches) lose this much."""
WARNING_CAP = 1.0
"""A warning alone rarely fails a build; it only counts where nothing else is wrong."""
WEAK_BEST = 0.3
"""Below this best score the CI system's own failure line is listed too: the reason may be
in a file the log does not show, and that line at least says which command failed."""
GAP_SHARE = 0.88
"""A line filling a gap in the best report scores this share of the weakest listed seed:
below the report's own lines (0.9 or 0.99 of it) and the joined ones (0.99 of those)."""
QUIET_SHARE = 0.995
"""A line of the best report with no failure evidence of its own (a test runner's progress,
a blank, a source line) ranks at this share of the report's other lines: after them, and
before the lines joined to the report (0.99 of them)."""
FURTHER_REPORT_SHARE = 0.8
"""A further candidate at least this share of the best one's probability (learned ranking)
lists its whole report, as the extent model widens it, not only its own line: the model
cannot tell the two apart, and labelled reasons often hold both (two failed tests, a
failure printed twice)."""
FURTHER_REPORT_APART = 16
"""How far (in lines) a further candidate's widened block must lie from the best report to
be listed whole; nearer, it is most likely the best report's own edge, which the extent
model has already judged."""
_MAX_PENDING = 1 << 20


class ExplainedLine(BaseModel):
    """One line of the failed log: 1-based number, text without colour codes, score in [0, 1].

    A text longer than ``SHOWN_CHARS`` is masked, then cut (see ``_shown``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=1)
    text: str
    score: float = Field(ge=0.0, le=1.0)


class Explanation(BaseModel):
    """Why a CI job failed: the explaining lines (best first) and what kind of failure it is.

    ``fingerprint`` is stable across runs of the same failure, so it can key one issue per
    failure; ``retryable`` and ``heal`` come from the taxonomy entry named by ``category``.
    ``answer`` numbers the lines of the best report in log order, one stretch of the log (its
    block, widened, with the blocks joined to it and every line between); ``lines`` ranks
    them together with the further candidates, which come right after the best line, since
    the best report is not always right.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lines: tuple[ExplainedLine, ...]
    category: str
    fingerprint: str
    retryable: bool
    heal: Heal
    confidence: float = Field(ge=0.0, le=1.0)
    line_count: int = Field(ge=0)
    failed_step: str | None = None
    new_lines_only: bool = False
    indications: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    answer: tuple[int, ...] = ()

    def answer_lines(self) -> tuple[ExplainedLine, ...]:
        """The listed lines of the best report, in log order."""
        inside = set(self.answer)
        return tuple(sorted((x for x in self.lines if x.number in inside), key=_number))

    def best_line(self) -> ExplainedLine | None:
        """The best line of the best report (the CI system's exit line, listed as a fallback,
        can outrank a weak one); the first listed line when there is no report."""
        inside = set(self.answer)
        return next((x for x in self.lines if x.number in inside), None) or next(
            iter(self.lines), None
        )

    def title_line(self) -> ExplainedLine | None:
        """The line to title the failure with: the best line, unless it is a row of a source
        excerpt or a caret row (``|      ^``), which says nothing alone; then the best-ranked
        line of the best report that says something."""
        best = self.best_line()
        if best is None or not (_excerpt(best.text) or not best.text.strip()):
            return best
        inside = set(self.answer) or {line.number for line in self.lines}
        return next(
            (
                line
                for line in self.lines
                if line.number in inside and line.text.strip() and not _excerpt(line.text)
            ),
            best,
        )

    def other_candidates(self) -> tuple[ExplainedLine, ...]:
        """The listed lines outside the best report, best first: where else to look."""
        inside = set(self.answer)
        return tuple(line for line in self.lines if line.number not in inside)

    def redacted(self) -> Explanation:
        """A copy fit to print: credentials in its lines, failed step and reasons masked.

        People paste ``ci explain`` output into tickets, as the agent's issues quote lines
        (masked by ``ci.alerts``). The fingerprint stays the one the agent computes from the
        log: it is a hash, and re-computing it from masked lines would key another issue.
        """
        return self.model_copy(
            update={
                "lines": tuple(
                    line.model_copy(update={"text": redact_text(line.text)}) for line in self.lines
                ),
                "failed_step": None if self.failed_step is None else redact_text(self.failed_step),
                "reasons": tuple(redact_text(reason) for reason in self.reasons),
            }
        )


def _number(line: ExplainedLine) -> int:
    return line.number


_EOL = re.compile(r"\r\n|\r|\n")


def _decoded(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text of a byte stream, decoded incrementally: UTF-8, or UTF-16 when the stream
    opens with its byte-order mark (Windows PowerShell's ``>`` and ``Out-File`` write it)."""
    head = b""
    decoder: codecs.IncrementalDecoder | None = None
    for chunk in chunks:
        if decoder is None:
            head += chunk
            if len(head) < 2:
                continue
            utf16 = head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            decoder = codecs.getincrementaldecoder("utf-16" if utf16 else "utf-8")("replace")
            chunk, head = head, b""
        yield decoder.decode(chunk)
    if decoder is None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
    yield decoder.decode(head, final=True)


def iter_log_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Split a byte stream into lines the way LogChunks counts them.

    ``\\r\\n``, a lone ``\\r`` and ``\\n`` each end a line (Python's universal newlines);
    invalid UTF-8 becomes U+FFFD and a line longer than 1 MiB is cut, so binary junk
    costs bounded memory and never raises. A stream that opens with a UTF-16 byte-order
    mark is read as UTF-16.
    """
    pending = ""
    overflow = False
    for piece in _decoded(chunks):
        text = pending + piece
        carry = ""
        if text.endswith("\r"):
            text, carry = text[:-1], "\r"
        parts = _EOL.split(text)
        pending = parts.pop()
        for part in parts:
            yield part[:MAX_LINE_CHARS] if overflow else part
            overflow = False
        if len(pending) > _MAX_PENDING:
            pending = pending[:MAX_LINE_CHARS]
            overflow = True
        pending += carry
    if pending.endswith("\r"):
        pending = pending[:-1]
        yield pending
        return
    parts = _EOL.split(pending)
    last = parts.pop()
    yield from parts
    if last:
        yield last


def read_chunks(stream: object) -> Iterator[bytes]:
    """Read a binary stream in fixed chunks (``stream`` has a ``read(n) -> bytes``)."""
    read = getattr(stream, "read")  # noqa: B009
    while True:
        chunk = read(READ_CHUNK)
        if not chunk:
            return
        yield chunk


_ANSI = re.compile(
    r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()][0-9A-Za-z]|\x1b."
)
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufeff\ufffd]")
_TAB_PREFIX = re.compile(r"^([^\t]{1,200})\t([^\t]{0,200})\t(?=\ufeff?\d{4}-\d\d-\d\dT)")
_TIMESTAMP = re.compile(
    r"^\s*\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?\s?"
    r"|^\s*\[\d\d:\d\d:\d\d(?:\.\d+)?\]\s"
)


def clean_line(raw: str) -> str:
    """Remove colour codes, control characters and CI timestamp or job/step prefixes."""
    text = _ANSI.sub("", raw) if "\x1b" in raw else raw
    text = _CTRL.sub("", text)
    text = _TAB_PREFIX.sub("", text)
    return _TIMESTAMP.sub("", text, count=1)


_NORMALIZERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<ts>"),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:\.\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"(?:/tmp|/var/folders|/private/var|[A-Za-z]:\\Temp)[^\s'\":]*", re.I), "<tmp>"),
    (re.compile(r"/(?:home|Users)/[^/\s]+/(?:build|work)/[^\s'\":]*?/"), "<ws>/"),
    (
        re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", re.I),
        "<hex>",
    ),
    (re.compile(r"\b\d+(?:\.\d+)?\s*(?:ms|s|sec|secs|seconds?|m|min|minutes?|h)\b"), "<dur>"),
    (re.compile(r"\d+"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalize_line(text: str) -> str:
    """A line with its run-specific parts (times, temp paths, ids, numbers) replaced."""
    for pattern, repl in _NORMALIZERS:
        text = pattern.sub(repl, text)
    return text.strip()


def fingerprint_of(category: str, texts: Iterable[str]) -> str:
    """A short hash of the category and the normalised explaining lines."""
    digest = hashlib.sha256(category.encode())
    for text in texts:
        digest.update(b"\n")
        digest.update(normalize_line(text).encode())
    return digest.hexdigest()[:16]


# Line shapes. Weights are in "evidence" units and squashed to [0, 1] at the end.
_STRONG: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"\b(?:error|ERROR|Error)(?:\s*\[[^\]]{0,40}\]|\s*\([^)]{0,40}\))?\s*:"), 3.0),
    (
        re.compile(
            r"^\s*(?:\[(?:error|ERROR|FAIL(?:ED)?)\]|error\b|ERROR\b|E\s{2,}|FAIL(?:ED|URE)?\b"
            r"|FATAL\b|fatal:|panic:)"
        ),
        3.0,
    ),
    (re.compile(r"\b[A-Z]\w*(?:Error|Exception|Failure)\b(?![+.]\w)"), 2.0),
    (re.compile(r"\b(?:FAIL(?:ED|URES?)?|ERRORS?|FATAL)\b"), 1.5),
    (re.compile(r"\b(?:failed|failure|failing|fails)\b", re.I), 1.5),
    (
        re.compile(
            r"[✖✗✘×❌]|^\s*\[-\]\s|^\s*not ok\b|^\s*--- FAIL|^\s*\d+\)\s+\S|^\s*\d+ failing\b"
        ),
        2.0,
    ),
    (re.compile(r"^\s*\S+\.[A-Za-z]{1,8}[:(]\d+(?:[:,]\d+)?\)?(?::|\s)"), 1.5),
    (re.compile(r"^\s+\d+:\d+\s+(?:error|✖)\s+\S"), 3.0),
    (re.compile(r"\bassert(?:ion)?\b|\bexpected\b.*\b(?:but|got|actual|received|to)\b", re.I), 1.5),
)
_WEAK = re.compile(
    r"\b(?:cannot|can't|could not|couldn't|unable to|not found|no such|undefined|unresolved"
    r"|not defined|does not exist|doesn't exist|unexpected|not allowed|not supported|invalid"
    r"|missing|denied|refused|mismatch|violation|traceback|segmentation fault|core dumped"
    r"|killed|timed? ?out|aborted|abort|unsatisfi\w+|conflict\w*|incompatible|deprecated"
    r"|no \w+ found|occurr?ed|forbidden|unauthori[sz]ed|exceeded|out of memory|no space left"
    r"|wrong|illegal|bad)\b",
    re.I,
)
_ANY_WORDS = (
    "err",
    "fail",
    "fatal",
    "panic",
    "except",
    "assert",
    "expect",
    "cannot",
    "can't",
    "could",
    "unable",
    "not",
    "no ",
    "undefined",
    "unresolved",
    "unknown",
    "invalid",
    "missing",
    "denied",
    "refused",
    "mismatch",
    "violation",
    "traceback",
    "fault",
    "dumped",
    "killed",
    "time",
    "abort",
    "unsatisfi",
    "conflict",
    "incompatible",
    "deprecat",
    "forbidden",
    "unauthori",
    "exceeded",
    "memory",
    "space",
    "wrong",
    "illegal",
    "bad",
    "occur",
    "warn",
    "[-]",
    "✖",
    "✗",
    "✘",
    "×",
    "❌",
)
_ANY_SHAPES = re.compile(r"^\s*\d+\)|\.[A-Za-z]{1,8}[:(]\d|^\s*E\s{2}")
_PASSED_MARK = re.compile(r"^\s*[✓✔√]")
_TEST_PROGRESS = re.compile(
    r"^\s*(?:=== (?:RUN|PAUSE|CONT|NAME)\s|--- (?:PASS|SKIP):\s"
    r"|(?:Passed|Skipped)\s+\S+\s+\[[^\]]*\]\s*$"
    r"|(?:\[gw\d+\]\s+\[\s*\d+%\]\s+)?(?:PASSED|SKIPPED|XFAIL)\s+\S+::"
    r"|\S+::\S+.*\s(?:PASSED|SKIPPED|XFAIL)\b|\S+\.py::\S+\s*$"
    r"|test\s+\S+\s+\.\.\.\s+(?:ok|ignored)\s*$"
    r"|\S.*\s>\s.*\s(?:PASSED|SKIPPED)\s*$"
    r"|PASS\s+\S)"
)
"""A test runner's line that a test started, passed or was skipped: go test -v's ``=== RUN``
and ``--- PASS:``, dotnet test's ``Passed X [2 ms]``, pytest's ``PASSED path::test`` (and
pytest-xdist's bare ``path::test`` as it hands a test to a worker), cargo's ``test x ...
ok``, Gradle's ``X > y() PASSED``, jest's ``PASS path``. The test's name is no failure
evidence, however it is called (``=== RUN   TestDecodeError``), yet its words are scored
like any line's: the line model reads the same features either way, and the rankings leave
these lines out (``_says_failure``)."""
_SUCCESS_WORDS = ("pass", "succe", "ok", "done", "up-to-date", "up to date", "skipp", "✓", "✔")
_STRUCT_WORDS = ("exit", "fail", "cancel", "exceeded")
"""Cheap pre-check: a line with none of these cannot score as a failure report."""
_WARNING = re.compile(r"\bwarn(?:ing)?\b|\bdeprecat", re.I)
_FAILURE_WORD = re.compile(r"\berror|\bfail|\bfatal|exception", re.I)
_NEGATED = re.compile(
    r"\b0 (?:failed|failures?|errors?|failing)\b|\b(?:failures?|errors?|failed)\W{1,3}0\b"
    r"|\bno (?:errors?|failures?)\b|\bwithout errors?\b|\berrors? (?:=|:) ?none\b",
    re.I,
)
_SUCCESS = re.compile(
    r"[✓✔]|\bPASS(?:ED)?\b|\bskipp(?:ed|ing)\b|\b(?:passed|passing|succeeded|successful(?:ly)?|success|ok|done"
    r"|up-to-date|up to date)\b",
    re.I,
)
_CHATTER = re.compile(
    r"^[\W_]*+(?:Downloading|Downloaded|Download|Collecting|Installing|Installed"
    r"|Requirement already|Fetching|Fetched|Get:\s?\d|Hit:\s?\d|Ign:\s?\d|Err:\s?\d"
    r"|Unpacking|Setting up"
    r"|Selecting previously|Preparing to unpack|Processing triggers|Reading package|Building dep"
    r"|Resolving|Receiving objects|Resolving deltas|remote:|Cloning into|npm WARN|npm notice"
    r"|Using |Compiling|Building|Linking|Generating|Copying|Creating|Removing|Checking out"
    r"|Updating|Progress|Loading|Retrieving|Extracting|Verifying|Attempting|Successfully|Running "
    r"|Adding|Saving|Writing|Reading|Uploading|Scanning|warning: no previously-included)",
    re.I,
)
_NOISE = re.compile(
    r"^(?:travis_(?:fold|time):|section_(?:start|end):|##\[(?:group|endgroup|debug|command)\]"
    r"|::(?:group|endgroup|debug)::|\[Pipeline\]|\s*$)"
)
_COMMAND = re.compile(r"^(?:\$ \S|\+ \S|##\[group\]Run |> \S|\[command\])")
_STEP_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("actions", re.compile(r"^##\[group\]Run |^\[command\]")),
    ("shell", re.compile(r"^\$ \S")),
    ("trace", re.compile(r"^\+ \S")),
)
"""Step starts by dialect, most telling first: one dialect is used per log."""
_STRUCT_FAILURE = re.compile(
    r"The command \".*\" (?:failed and )?exited with [1-9]\d*"
    r"|Process completed with exit code [1-9]\d*"
    r"|ERROR: Job failed|Finished: FAILURE|script returned exit code [1-9]"
    r"|marked build as failure|Your build exited with [1-9]|##\[error\]The operation was canceled"
    r"|The job (?:running on runner .* )?(?:was canceled|has exceeded the maximum execution time)",
    re.I,
)
_CONSEQUENCE = re.compile(
    r"^\s*+(?:make(?:\[\d+\])?: \*\*\*|npm ERR! (?:code|errno|syscall|Exit status|Failed at|"
    r"A complete log|This is probably|Tell the author|You can get|Please include|Test failed"
    r"|\S+@\S+ \w+:|\s*$|$)|error Command failed with exit code|info Visit https"
    r"|ERROR: InvocationError|BUILD FAILED|FAILURE: Build failed|Error: Process completed"
    r"|Exited with code|Command exited with|Done\. Your build exited|Script failed"
    r"|\[ERROR\] (?:-> \[Help|\[Help|Re-run Maven|For more information|To see the full|Please refer"
    r"|After correcting|mvn <goals>|\s*$)"
    r"|ERROR: Build failed|Error: Command failed|exit status \d+$|error: Recipe"
    r"|Makefile:\d+: recipe"
    r"|\*\*\* \[.*\] Error \d+|The command \".*\" exited with 0"
    r"|\[ERROR\] Failed to execute goal|\[error\] \(.*\) sbt\.\w+|\[error\] Total time"
    r"|\S*TestsFailedException|Tests? unsuccessful|FAILED \((?:failures|errors)="
    r"|\W*+\d+ TESTS? FAILED|Failing due to -Werror|:\S+ FAILED$|Execution failed for task"
    r"|\* What went wrong|\d+ tests? completed, \d+ failed|error: test failed, to rerun"
    r"|(?:EXPECTED )?FAILED TEST SUMMARY|FAILED:\s+\d+ Tests?|TEST FAILURE$|Tests failed\s*:"
    r"|BUILD FAILURE$|Build failed\.?$|Test suite \S+: FAIL|\d+ out of \d+ tests failed"
    r"|Suite \S+ failed|Some tests failed|Result: FAIL"
    r"|[*=\s-]*+(?:FAILED|Failed|FAILURE|ERROR)[*=\s!.-]*+$"
    r"|\*\* BUILD FAILED|One or more tests failed|(?:FAILED|ERROR) \S+::\S+ - "
    r"|The following build commands failed|test result: FAILED"
    r"|\*\* TEST FAILED"
    r"|\[error\] Failed(?: tests)?:|Failed tests:"
    r"|Tests run: \d+, Failures: \d+|Test Suites: .*failed|Tests: .*failed|FAIL\t\S+\t"
    r"|FAIL$|FAILURES!$|ERRORS!$|\d+ (?:examples?|tests?|specs?), \d+ failures?"
    r"|=+ .*\b\d+ (?:failed|errors?)\b.* =+$|Ran \d+ tests? in|There (?:was|were) \d+ failures?"
    r"|\d+ failing$|Error: \d+ tests? failed|Failing tests:|Summary of all failing tests"
    r"|rake aborted!|\S+ exited with (?:code|status) [1-9]|Command failed:"
    r"|error: command .* failed|process didn't exit successfully:|error: Could not compile `"
    r"|\w+ failed with exit \d+|error: aborting due to (?:\d+ )?previous errors?"
    r"|error: failed to run custom build command for `"
    r"|(?:warning|error): build failed, waiting for other jobs|Command failed with status \(\d+\)"
    r"|FAILED: (?:cd |\S+\.(?:o|obj|a|so|dylib|exe)\b)"
    r"|\S+\s+\(Wstat: \d+ Tests: \d+ Failed: \d+\))",
    re.I,
)
_CONSEQUENCE_ANYWHERE = re.compile(
    r"exit(?:ed with|status) (?:code )?[1-9]\d*\.?$|recipe for target \S+ failed$"
    r"|\bbuild FAILED\b|\*\*\* FAILED test case"
)
_FAILED_COUNT = re.compile(r"\b\d+ (?:failed|failures?)\b")
_OTHER_COUNT = re.compile(r"\b\d+ (?:ok|passed|skipped|total)\b")
_CONSEQUENCE_WORDS = ("exit", "recipe", "build failed", "failed test case")


def _says_failure(entry: _Line) -> bool:
    """Whether a line has failure evidence and is no test runner's line that a test started,
    passed or was skipped (``_TEST_PROGRESS``), whatever the test is called."""
    return entry.evidence > 0 and not _TEST_PROGRESS.match(entry.text)


def is_consequence(text: str) -> bool:
    """Whether a line only says *that* something failed: a summary, a footer, an exit code."""
    if _CONSEQUENCE.match(text) or _CONSEQUENCE.match(_LEVEL_TAG.sub("", text, count=1)):
        return True
    low = text.lower()
    if any(word in low for word in _CONSEQUENCE_WORDS) and _CONSEQUENCE_ANYWHERE.search(text):
        return True
    return bool(_FAILED_COUNT.search(text) and _OTHER_COUNT.search(text))


_LEVEL_TAG = re.compile(r"^\s*\[(?:info|error|warn|warning|debug)\]\s*", re.I)
_KILLED_EXIT = re.compile(r"exited with (?:124|137|143)\b|exit code (?:124|137|143)\b")
"""Exit codes of ``timeout`` and of a killed process: the terminator is then the reason."""
_KILLED_BY_SIGNAL = re.compile(r"\(signal: 9, SIGKILL: kill\)|Killed signal terminated program")
"""A tool saying the process it ran was killed (cargo of rustc, gcc of ``cc1plus``), most
often by the OOM killer: that line is the reason, whatever exit code the tool chose."""
_JOB_TIMEOUT = re.compile(
    r"ERROR: Job failed: execution took longer than|has exceeded the maximum execution time"
    r"|exceeded the maximum time limit for jobs|No output has been received in the last"
    r"|^\s*(?:Timeout has been exceeded|Build timed out \(after)"
)
"""A CI system's own line for a job it stopped at its time limit (GitLab's, GitHub Actions',
Travis', Jenkins' ``timeout`` step and build-timeout plugin): like exit 124, the reason."""
_GHA_ERROR = re.compile(r"^(?:##\[error\]|::error\b[^:]*::)")
_GHA_EXIT = re.compile(r"Process completed with exit code [1-9]")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[A-Za-z_][\w.:/#-]{5,}")
_STATUS_WORDS = frozenset(
    {
        "failed",
        "failure",
        "failures",
        "failing",
        "error",
        "errors",
        "passed",
        "skipped",
        "tests",
        "test:",
        "expected",
        "exception",
        "assertionerror",
    }
)
_CONTINUATION = re.compile(
    r"^\s+(?:at |from |File \"|in |\.\.\.|[\^~]+\s*$|\||#\d+ |\d+ \||[-+] )|^\s*[\^~]+\s*$"
    r"|^\s*\S+:\d+(?::\d+)?\s*$|^\s*\S+\(\d+(?:,\d+)?\)\s*$"
    r"|^\s*(?:Caused by|Traceback|During handling|Expected|Actual|Received|Diff|[-+]{3} )"
)
_HEADER = re.compile(
    r"^\s*(?:In file included from|Traceback \(most recent call last\)|\d+\)\s|FAIL\b"
    r"|[=_-]{3,} .* [=_-]{3,}$|Failures?:|Errors?:|What went wrong:)",
    re.I,
)


def line_evidence(text: str) -> float:
    """How strongly one cleaned line, on its own, reads like a failure report."""
    if _NOISE.match(text):
        return -2.0
    if _PASSED_MARK.match(text):
        return -1.5
    stripped = text.strip()
    if len(stripped) < 2:
        return -1.0
    score = 0.0
    low = text.lower()
    if any(word in low for word in _ANY_WORDS) or _ANY_SHAPES.search(text):
        strong = 0.0
        for pattern, weight in _STRONG:
            if pattern.search(text):
                strong += weight
        score += min(strong, 6.0)
        weak = len(_WEAK.findall(text))
        score += min(weak, 2) * 0.5
    if ("warn" in low or "deprecat" in low) and _WARNING.search(text):
        score = min(score, WARNING_CAP) if not _FAILURE_WORD.search(text) else score + 0.5
    if _GHA_ERROR.match(text):
        score += 2.5
    if score > 0 and _NEGATED.search(text):
        score -= 3.0
    elif any(word in low for word in _SUCCESS_WORDS) and _SUCCESS.search(text):
        score -= 0.8
    if _CHATTER.match(text):
        score -= 1.5
    if _COMMAND.match(text):
        score -= 1.5
    if len(stripped) > 400:
        score -= 1.0
    return score


@dataclass(slots=True)
class _Line:
    number: int
    text: str
    evidence: float
    consequence: bool
    terminator: bool
    command: bool
    noise: bool
    indent: int
    known: bool = False


@dataclass(slots=True)
class _Scan:
    """What the single pass over the log keeps: a tail window and early strong candidates.

    Of the step starts only what ``_failed_region`` needs is kept, per dialect: whether it
    occurs, and the last start before the first and before the latest failure line.
    """

    tail: deque[_Line] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    early: list[tuple[float, int, _Line]] = field(default_factory=list)
    terminators: list[int] = field(default_factory=list)
    gha_exit: bool = False
    last_step: dict[str, tuple[int, str]] = field(default_factory=dict)
    step_at_first: dict[str, tuple[int, str]] = field(default_factory=dict)
    step_at_last: dict[str, tuple[int, str]] = field(default_factory=dict)
    count: int = 0

    def add_terminator(self, number: int, text: str) -> None:
        if not self.terminators:
            self.gha_exit = _GHA_EXIT.search(text) is not None
            self.step_at_first = dict(self.last_step)
        self.step_at_last = dict(self.last_step)
        if len(self.terminators) < 10_000:
            self.terminators.append(number)
        else:
            self.terminators[-1] = number


def _scan(lines: Iterable[str], known: set[str] | None) -> _Scan:
    scan = _Scan()
    step = ""
    for raw in lines:
        scan.count += 1
        text = clean_line(raw[:MAX_LINE_CHARS])
        low = text.lower()
        terminator = any(w in low for w in _STRUCT_WORDS) and bool(_STRUCT_FAILURE.search(text))
        if terminator:
            scan.add_terminator(scan.count, text)
        prefix = _TAB_PREFIX.match(raw)
        if prefix is not None and prefix.group(2) != step:
            step = prefix.group(2)
            scan.last_step["actions"] = (scan.count, step)
        consequence = terminator or is_consequence(text)
        command = bool(_COMMAND.match(text))
        noise = bool(_NOISE.match(text))
        evidence = line_evidence(text)
        entry = _Line(
            number=scan.count,
            text=text,
            evidence=evidence,
            consequence=consequence,
            terminator=terminator,
            command=command,
            noise=noise,
            indent=len(text) - len(text.lstrip()),
        )
        if known is not None and not noise and _hash(text) in known:
            entry.known = True
        if command:
            for kind, pattern in _STEP_KINDS:
                if pattern.match(text):
                    scan.last_step[kind] = (scan.count, text)
                    break
        if len(scan.tail) == scan.tail.maxlen:
            dropped = scan.tail[0]
            if dropped.evidence >= 2.0 and not dropped.consequence:
                item = (dropped.evidence, -dropped.number, dropped)
                if len(scan.early) < EARLY_CANDIDATES:
                    heapq.heappush(scan.early, item)
                else:
                    heapq.heappushpop(scan.early, item)
        scan.tail.append(entry)
    return scan


def _hash(text: str) -> str:
    return hashlib.blake2b(normalize_line(text).encode(), digest_size=8).hexdigest()


def _baseline_hashes(baseline: Iterable[str]) -> set[str]:
    known: set[str] = set()
    for raw in baseline:
        if len(known) >= BASELINE_LIMIT:
            break
        text = clean_line(raw[:MAX_LINE_CHARS])
        if not _NOISE.match(text):
            known.add(_hash(text))
    return known


def _failed_region(scan: _Scan, first: int) -> tuple[int, int, str | None]:
    """The line range of the step that failed, and its command, from CI markers.

    The first failure line ends it, since the first report is the cause (Travis runs every
    command of its script, Jenkins closes the job with a line of its own). On GitHub
    Actions the last one does: a step allowed to fail (``continue-on-error``) prints
    ``Process completed with exit code N`` too, and the job goes on to the step that
    failed it.
    """
    if not scan.terminators:
        return first, scan.count, None
    if scan.gha_exit:
        end, starts = scan.terminators[-1], scan.step_at_last
    else:
        end, starts = scan.terminators[0], scan.step_at_first
    kind = next((kind for kind, _pattern in _STEP_KINDS if kind in scan.last_step), None)
    found = starts.get(kind) if kind is not None else None
    if found is None:
        return first, end, None
    return found[0], end, found[1]


def _squash(value: float) -> float:
    return max(0.0, min(1.0, value / (value + 4.0))) if value > 0 else 0.0


@dataclass(slots=True)
class _Context:
    """What ranking needs after the scan: the lines kept, the failed step and rule scores.

    ``killed`` is the line that says the failed step's process was killed (its exit code, a
    tool's report of a SIGKILL, or the CI system's job timeout), if one does: the reason,
    whichever ranking is used.
    """

    scan: _Scan
    window: list[_Line]
    by_number: dict[int, _Line]
    scores: dict[int, float]
    start: int
    end: int
    step: str | None
    near: set[int]
    killed: int | None


LogContext = _Context
"""A scanned log with its rule scores: what ``candidate_table`` and ``extent_table`` read."""


def _failure_line(ctx: _Context) -> list[int]:
    """The CI system's own line that ends the failed step, when there is one."""
    return [ctx.end] if ctx.scan.terminators else []


def _context(scan: _Scan) -> _Context:
    window = list(scan.tail)
    first = window[0].number
    start, end, step = _failed_region(scan, first)
    scores: dict[int, float] = {}
    near_consequence = _near_consequences(window, start, end)
    span = max(1, end - start)
    killed: int | None = None
    for entry in window:
        if entry.noise:
            continue
        if killed is None and start <= entry.number <= end and _JOB_TIMEOUT.search(entry.text):
            scores[entry.number] = REGION_BONUS + EVIDENCE_CAP
            killed = entry.number
            continue
        if entry.terminator:
            if entry.number == end and _KILLED_EXIT.search(entry.text):
                scores[entry.number] = REGION_BONUS + EVIDENCE_CAP
                killed = entry.number
            continue
        if killed is None and start <= entry.number <= end and _KILLED_BY_SIGNAL.search(entry.text):
            scores[entry.number] = REGION_BONUS + EVIDENCE_CAP
            killed = entry.number
            continue
        value = entry.evidence
        if value <= 0.0:
            continue
        if entry.consequence:
            value = min(value, 1.0)
        value = min(value, EVIDENCE_CAP)
        if start <= entry.number <= end:
            value += REGION_BONUS + PRIMACY * (end - entry.number) / span
            value -= FAR_PENALTY * max(0.0, math.log2((1 + end - entry.number) / FAR_LINES))
            if entry.number in near_consequence:
                value += NEAR_CONSEQUENCE
        elif entry.number > end:
            value -= AFTER_PENALTY
        else:
            value -= BEFORE_PENALTY
        if entry.known:
            value *= KNOWN_SHARE
        if value > 0.0:
            scores[entry.number] = value
    for evidence, _neg, entry in scan.early:
        scores.setdefault(entry.number, evidence - 1.0)
    by_number = {entry.number: entry for entry in window}
    by_number.update((entry.number, entry) for _evidence, _neg, entry in scan.early)
    return _Context(scan, window, by_number, scores, start, end, step, near_consequence, killed)


class _Ranking(NamedTuple):
    """Ranked ``(line, score)`` pairs, the best seed and the rules' block around it.

    ``report`` is the rules' block before the learned widening: what the extent model
    starts from (``first_block``). The fingerprint comes from none of these (``_keyed``),
    since where a line sits in its step moves the seed. ``appended`` are the lines ranked
    after the report's own: those that came with further candidates joining the best
    block, those that fill the gaps left inside it, and the blocks of further candidates
    nearly as likely as the best one (listed last); they do not inform the category.
    ``answer`` is the best report in log order, one stretch of the log: the seed, its block
    as widened, the joined lines and every line between.
    """

    ranked: list[tuple[int, float]]
    seed: int | None
    report: tuple[int, ...]
    appended: frozenset[int] = frozenset()
    answer: tuple[int, ...] = ()


@dataclass(slots=True)
class _Seeds:
    """What ``_pick_seeds`` gathers for the rest of ``_select``.

    ``listed`` are the seeds and their scores, best first, each a distinct report;
    ``chosen`` every line they or their blocks took. ``report`` is the best block's other
    lines as the rules grow it, ``members`` the same once widened. ``joined`` are the lines
    further seeds brought into the best report and ``joining`` those seeds; ``further`` the
    blocks of further reports listed whole.
    """

    listed: list[tuple[int, float]] = field(default_factory=list)
    chosen: set[int] = field(default_factory=set)
    report: tuple[int, ...] = ()
    members: list[int] = field(default_factory=list)
    joined: list[int] = field(default_factory=list)
    joining: list[int] = field(default_factory=list)
    further: list[int] = field(default_factory=list)

    def take_best(
        self,
        seed: int,
        block: list[int],
        seed_score: float,
        extend: Callable[[int, list[int], float], list[int]] | None,
    ) -> list[int]:
        """Keep the best seed's block, widened by ``extend`` when given; returns it.

        ``extend`` gets the seed's score as the seed was chosen, before a better line took
        its place.
        """
        self.report = tuple(number for number in block if number != seed)
        if extend is not None:
            block = extend(seed, block, seed_score)
        self.members = [number for number in block if number != seed]
        return block

    def join_or_set_apart(
        self, seed: int, widened: list[int], seed_score: float, merge_gap: int
    ) -> None:
        """Join a further seed's widened block to the best report, or list it whole.

        A block within ``merge_gap`` lines of the best one (or of a block already joined to
        it) joins it: a failure report is one stretch of the log, and two candidate blocks
        next to each other are usually two parts of it (a test's title and its trace).
        Joining only adds lines, ranked last: the seeds listed and the lines that inform the
        category are the same with or without it. A block lying apart from the best report
        (``FURTHER_REPORT_APART``) whose seed scores close to the best one's
        (``FURTHER_REPORT_SHARE``) is listed whole, after everything else and outside the
        answer: the model cannot tell which of the two reports is the reason.
        """
        best, best_score = self.listed[0]
        reach = {best, *self.members, *self.joined}
        apart = min(abs(a - b) for a in widened for b in reach)
        if apart <= merge_gap + 1:
            listed = reach | {number for number, _score in self.listed} | {seed}
            self.joined.extend(number for number in widened if number not in listed)
            self.joining.append(seed)
        elif apart > FURTHER_REPORT_APART and seed_score >= FURTHER_REPORT_SHARE * best_score:
            self.further.extend(widened)


def _better_seed(
    ctx: _Context, seed: int, chosen: set[int], *, runners: bool = True
) -> tuple[int, list[int]]:
    """The line that explains best what ``seed`` points at, and the block to take with it.

    A bare heading gives way to the line below it that names something, a progress line to
    the report after it, a source excerpt to its message above (or its report's header), a
    bare location heading a ``----`` frame to the error after the frame, and a one-line
    status report to its detail further on (each with its own block; below a heading, the
    heading's block stays). Where that lands on a test report's heading, the report's own
    message or title takes its place (``_runner_message``). A line some earlier block
    already took is not moved to.
    """
    moved, block = _moved_seed(ctx, seed, chosen, runners=runners)
    if not runners:
        return moved, block
    better = _runner_message(moved, block, ctx.by_number)
    if better is None or better in chosen:
        return moved, block
    if better > moved and better in block:
        return better, block
    return better, _block(better, ctx.by_number, ctx.scores)


def _moved_seed(
    ctx: _Context, seed: int, chosen: set[int], *, runners: bool
) -> tuple[int, list[int]]:
    by_number, scores = ctx.by_number, ctx.scores
    text = by_number[seed].text
    block = _block(seed, by_number, scores)
    below = _below_heading(seed, block, by_number) if _bare(text) else None
    if below is not None and below not in chosen:
        return below, block
    after = _after_progress(seed, by_number, runners=runners) if _progress(text) else None
    if after is not None and after not in chosen:
        return after, _block(after, by_number, scores)
    above = _excerpt_header(seed, by_number) if _excerpt(text) else None
    if above is not None and above not in chosen:
        framed = _after_frame(above, by_number)
        if framed is not None and framed not in chosen:
            above = framed
        return above, _block(above, by_number, scores)
    framed = _after_frame(seed, by_number)
    if framed is not None and framed not in chosen:
        return framed, _block(framed, by_number, scores)
    if len(_block(seed, by_number, scores, header=False)) <= 2:
        detail = _detail_of(seed, by_number, scores, ctx.end, runners=runners)
        if detail is not None and detail not in chosen:
            return detail, _block(detail, by_number, scores)
    return seed, block


def _pick_seeds(
    ctx: _Context,
    order: list[int],
    score_of: dict[int, float],
    *,
    max_seeds: int,
    extra_ratio: float,
    extend: Callable[[int, list[int], float], list[int]] | None,
    merge_gap: int | None,
    runners: bool = True,
) -> _Seeds:
    """Up to ``max_seeds`` seeds in ``order``, each a distinct report, and their blocks.

    A further seed is listed only while its score is at least ``extra_ratio`` of the best,
    and never when it is a consequence or reads like one already listed. No seed is a line
    that says a test started or passed (``_TEST_PROGRESS``): the learned ranking considers
    the failed step's last lines whatever they say, and listed a passing test. ``runners``
    (the default) applies that and the other test-runner rules of ``_better_seed``; without
    them, the seeds are the scores' own, as the extent model learns from them. ``extend`` may
    widen the best block (the learned extent); with ``merge_gap`` too, further blocks are
    widened to join the best one or be listed whole (``_Seeds.join_or_set_apart``).
    """
    by_number = ctx.by_number
    seeds = _Seeds()
    shapes: set[str] = set()
    for candidate in order:
        if len(seeds.listed) >= max_seeds:
            break
        if candidate in seeds.chosen:
            continue
        if seeds.listed and by_number[candidate].consequence:
            continue
        if runners and _TEST_PROGRESS.match(by_number[candidate].text):
            continue
        seed_score = score_of[candidate]
        if seeds.listed and seed_score < extra_ratio * seeds.listed[0][1]:
            break
        shape = normalize_line(by_number[candidate].text)
        if shape in shapes:
            continue
        shapes.add(shape)
        seed, block = _better_seed(ctx, candidate, seeds.chosen, runners=runners)
        if not seeds.listed:
            block = seeds.take_best(seed, block, seed_score, extend)
        elif extend is not None and merge_gap is not None:
            seeds.join_or_set_apart(seed, extend(seed, block, seed_score), seed_score, merge_gap)
        seeds.listed.append((seed, seed_score))
        seeds.chosen.update(block)
        seeds.chosen.add(seed)
    listed = {number for number, _score in seeds.listed} | set(seeds.members)
    seeds.joined = [number for number in seeds.joined if number not in listed]
    return seeds


def _ranked_report(seeds: _Seeds, by_number: dict[int, _Line]) -> list[tuple[int, float]]:
    """The seeds, then the best block's other lines, then the lines joined to it.

    Of the block's other lines, those with failure evidence come first (``QUIET_SHARE``):
    ``=== RUN   TestX`` and a passing test's line sat above the assertion below them.
    """
    ranked = list(seeds.listed)
    if ranked:
        member_score = min(score for _n, score in ranked) * (0.99 if len(ranked) > 1 else 0.9)
        loud = {n for n in seeds.members if n in by_number and _says_failure(by_number[n])}
        quiet = [n for n in seeds.members if n not in loud]
        ranked.extend((number, member_score) for number in seeds.members if number in loud)
        ranked.extend((number, member_score * QUIET_SHARE) for number in quiet)
        ranked.extend((number, member_score * 0.99) for number in seeds.joined)
    return ranked


def _add_failure_line(
    ctx: _Context, ranked: list[tuple[int, float]], chosen: set[int], fallback_below: float
) -> None:
    """List the CI system's own failure line when the best score is below ``fallback_below``
    and no block took it."""
    weak = not ranked or ranked[0][1] < fallback_below
    for number in _failure_line(ctx):
        if number in ctx.by_number and number not in chosen and weak:
            ranked.append((number, 0.05 if ranked else 0.5))


def _answer(ctx: _Context, seeds: _Seeds) -> tuple[int, ...]:
    """The best report as one stretch of the log: its seed, its block as widened, the joined
    lines and every line between."""
    if not seeds.listed:
        return ()
    kept = {seeds.listed[0][0], *seeds.members, *seeds.joining, *seeds.joined}
    return tuple(n for n in range(min(kept), max(kept) + 1) if n in ctx.by_number)


def _fill_gaps(
    ranked: list[tuple[int, float]], answer: tuple[int, ...], seeds: _Seeds
) -> list[int]:
    """Rank the lines of ``answer`` the widening skipped, after the report's own; returns them."""
    listed = {number for number, _score in ranked}
    gaps = [number for number in answer if number not in listed]
    if gaps:
        gap_score = min(score for _n, score in seeds.listed) * GAP_SHARE
        ranked.extend((number, gap_score) for number in gaps)
    return gaps


def _list_further(
    ranked: list[tuple[int, float]], further: list[int], by_number: dict[int, _Line]
) -> list[int]:
    """Rank the lines of further reports listed whole after everything else; returns them."""
    if not further:
        return []
    listed = {number for number, _score in ranked}
    close = [n for n in dict.fromkeys(further) if n not in listed and n in by_number]
    last_score = min(score for _n, score in ranked) * 0.99
    ranked.extend((number, last_score) for number in close)
    return close


def _select(
    ctx: _Context,
    order: list[int],
    score_of: dict[int, float],
    *,
    max_seeds: int = MAX_SEEDS,
    extra_ratio: float = 0.0,
    fallback_below: float = WEAK_BEST,
    extend: Callable[[int, list[int], float], list[int]] | None = None,
    merge_gap: int | None = None,
    runners: bool = True,
) -> _Ranking:
    """Seeds in ``order``, each a distinct report, then the other lines of the best block.

    The ranking lists the seeds (``_pick_seeds``), the best block's other lines and those
    joined to it, the CI system's own failure line when the best score is below
    ``fallback_below``, the lines that fill the best report into one stretch, and last the
    further reports listed whole. With no seed and no failure line, the log's last line
    that is not noise stands in.
    """
    seeds = _pick_seeds(
        ctx,
        order,
        score_of,
        max_seeds=max_seeds,
        extra_ratio=extra_ratio,
        extend=extend,
        merge_gap=merge_gap,
        runners=runners,
    )
    ranked = _ranked_report(seeds, ctx.by_number)
    _add_failure_line(ctx, ranked, seeds.chosen, fallback_below)
    answer = _answer(ctx, seeds)
    gaps = _fill_gaps(ranked, answer, seeds)
    if not ranked and ctx.window:
        tail = [e for e in ctx.window if not e.noise][-1:]
        ranked = [(e.number, 0.01) for e in tail]
    further = _list_further(ranked, seeds.further, ctx.by_number)
    appended = frozenset((*seeds.joined, *gaps, *further))
    return _Ranking(ranked, ranked[0][0] if ranked else None, seeds.report, appended, answer)


def _rule_ranking(ctx: _Context) -> _Ranking:
    seeds = sorted(ctx.scores, key=lambda n: (-ctx.scores[n], n))
    return _select(ctx, seeds, {n: _squash(v) for n, v in ctx.scores.items()})


def _learned_ranking(ctx: _Context, model: LineModel, *, first_only: bool = False) -> _Ranking:
    table = candidate_table(ctx)
    if not table.numbers:
        return _rule_ranking(ctx)
    probability = model.probabilities(table.dense, table.hashed)
    line = ctx.by_number
    score_of = {
        n: float(p) * (KNOWN_SHARE if line[n].known else 1.0)
        for n, p in zip(table.numbers, probability, strict=True)
    }
    if ctx.killed in score_of:
        best = max(score_of.values())
        score_of[ctx.killed] = best + (1.0 - best) / 2
    order = sorted(score_of, key=lambda n: (-score_of[n], n))
    extent = model.extent

    def extend(seed: int, block: list[int], seed_score: float) -> list[int]:
        if extent is None:
            return block
        numbers, dense = extent_table(ctx, seed, block, seed_score)
        words = extent_words(ctx, seed, numbers) if extent.hashed is not None else None
        inside = extent.probabilities(dense, words or [()] * len(numbers))
        return sorted(set(block) | _grow(seed, numbers, inside, extent.threshold, extent.gap))

    return _select(
        ctx,
        order,
        score_of,
        max_seeds=1 if first_only else 1 + model.extra_seeds,
        extra_ratio=model.extra_ratio,
        fallback_below=0.0,
        extend=None if first_only else extend,
        merge_gap=model.merge_gap,
        runners=not first_only,
    )


def _grow(
    seed: int, numbers: list[int], inside: npt.NDArray[np.float64], threshold: float, gap: int
) -> set[int]:
    """The seed and the lines on each side of it the extent model keeps, up to ``gap`` misses."""
    likely = dict(zip(numbers, inside.tolist(), strict=True))
    kept = {seed}
    for direction in (-1, 1):
        misses = 0
        number = seed + direction
        while number in likely:
            if likely[number] >= threshold:
                kept.add(number)
                misses = 0
            else:
                misses += 1
                if misses > gap:
                    break
            number += direction
    return kept


def first_block(ctx: _Context, model: LineModel) -> tuple[int, list[int], float] | None:
    """The best seed by ``model``, its block as the rules grow it, and its probability.

    This is what the extent model starts from; it is trained on these, as ``explain``
    would meet them before its test-runner rules (``_pick_seeds``): those apply after the
    models, which learn from the scores' own seeds alone.
    """
    ranking = _learned_ranking(ctx, model, first_only=True)
    if not ranking.ranked:
        return None
    seed, probability = ranking.ranked[0]
    return seed, sorted({seed, *ranking.report}), probability


ModelChoice = LineModel | Literal["builtin"] | None
"""``"builtin"``: the shipped weights; ``None``: the rules alone; or weights of one's own."""


def explain(
    lines: Iterable[str],
    baseline: Iterable[str] | None = None,
    *,
    taxonomy: Taxonomy | None = None,
    model: ModelChoice = "builtin",
) -> Explanation:
    """Rank the lines of a failed CI log by how well they explain the failure.

    ``lines`` are the log's lines without line ends (see ``iter_log_lines``); ``baseline`` is
    an optional passing log of the same job: lines it also has count as old news and sink,
    but remain candidates when nothing new explains the failure. ``model`` re-ranks the
    rules' candidates with learned weights (``None`` keeps the rules' own order).
    """
    tax = taxonomy if taxonomy is not None else builtin_taxonomy()
    known = _baseline_hashes(baseline) if baseline is not None else None
    scan = _scan(lines, known)
    if not scan.tail:
        return _empty(tax)
    ctx = _context(scan)
    reasons: list[str] = []
    if ctx.step is not None:
        reasons.append(f"failed step starts at line {ctx.start}: {_shown(ctx.step, 120)}")
    if scan.gha_exit and len(scan.terminators) > 1:
        reasons.append(
            f"{len(scan.terminators)} failure lines: the last ends the failed step, since a "
            "step allowed to fail (continue-on-error) prints one too"
        )
    weights = builtin_model() if model == "builtin" else model
    if isinstance(weights, LineModel):
        ranking = _learned_ranking(ctx, weights)
    else:
        ranking = _rule_ranking(ctx)
    ranked = ranking.ranked
    by_number = ctx.by_number
    ranked.sort(key=lambda item: (-item[1], item[0]))
    explained = tuple(
        ExplainedLine(number=n, text=_shown(by_number[n].text, SHOWN_CHARS), score=round(s, 4))
        for n, s in ranked
        if n in by_number
    )
    listed = [line for line in explained if line.number not in ranking.appended]
    top = [line.text for line in listed if not by_number[line.number].known][:10] or [
        line.text for line in listed[:10]
    ]
    tail = ctx.window[-30:]
    context = [e.text for e in tail if not e.known] or [e.text for e in tail]
    verdict: Classification = classify(top, context, tax)
    reasons.extend(verdict.reasons)
    category = tax.get(verdict.category)
    return Explanation(
        lines=explained,
        category=verdict.category,
        fingerprint=fingerprint_of(verdict.category, (by_number[n].text for n in _keyed(ctx))),
        retryable=category.retryable,
        heal=category.heal,
        confidence=round(min(verdict.confidence, explained[0].score if explained else 0.0), 4)
        if explained
        else 0.0,
        line_count=scan.count,
        failed_step=ctx.step,
        new_lines_only=known is not None,
        indications=verdict.indications,
        reasons=tuple(reasons),
        answer=tuple(n for n in ranking.answer if n in by_number),
    )


def _shown(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters for display, masked first when it is longer.

    A cut can split a credential so that masking no longer recognises it (a URL password
    cut before its ``@``, a token cut short of its format's length), so a line too long to
    show whole is masked before it is cut; a marker the cut would split is kept whole.
    """
    if len(text) <= limit:
        return text
    masked = redact_text(text)
    at = masked.find(REDACTED, max(0, limit - len(REDACTED) + 1), limit + len(REDACTED) - 1)
    if 0 <= at < limit:
        return masked[: at + len(REDACTED)]
    return masked[:limit]


FINGERPRINT_LINES = 3
"""The failed step's strongest lines whose normalised text keys the failure."""
_NAMES_TEST = re.compile(r"\S::\w")
_JEST_TITLE = re.compile(r"^\s*● (?!.*\bWarning:)(?!Console\s*$)\S")
_TEST_TITLE = re.compile(r"^\s*● (?!.*\bWarning:)\S|^\s*\d+\) \S")
"""A failed test's title: jest's ``● Suite › test`` (no failure words, so no evidence) or a
numbered failure (mocha's, rspec's, JUnit's ``1) name``)."""
_NAMES_PLACE = re.compile(
    r"[\w./\\-]\.[A-Za-z]\w{0,7}(?::\d+|\(\d+)|^\s*FAIL(?:ED)?:?\s+\S+\.[A-Za-z]"
)


def _keyed(ctx: _Context) -> list[int]:
    """The lines the fingerprint hashes: the failed step's strongest reports, and the first
    of its report lines that names the test (``path::test``), else the first test title
    (jest's ``● Suite › test``, ``1) name``), else the first report line naming a file.

    Strength is a line's evidence on its own (capped, a consequence at most 1; ties go to the
    earlier line), never where it sits in the step nor how a ranking (rules or model) placed
    it: a re-run that prints more lines before the failure, a cache miss, keeps its
    fingerprint. The named test or file tells apart failures whose messages read alike once
    numbers are blurred (jest's message lines have no evidence: only the title tells two
    tests of one file apart). With a baseline, only the lines it did not print count, unless it
    printed them all; a step with no line of evidence is keyed by its last lines that are
    not chatter (downloads, echoed commands).
    """
    inside = [
        entry
        for number, entry in sorted(ctx.by_number.items())
        if ctx.start <= number <= ctx.end
        and not (entry.noise or entry.command or entry.terminator)
        and entry.text.strip()
    ]
    fresh = [entry for entry in inside if not entry.known] or inside

    def strength(entry: _Line) -> float:
        value = min(entry.evidence, EVIDENCE_CAP)
        return min(value, 1.0) if entry.consequence else value

    strong = sorted((e for e in fresh if strength(e) > 0), key=lambda e: (-strength(e), e.number))
    plain = [e for e in fresh if e.evidence >= 0]
    keyed = {e.number for e in strong[:FINGERPRINT_LINES]} or {
        e.number for e in plain[-FINGERPRINT_LINES:]
    }
    reports = [e for e in fresh if e.evidence >= 2.0]
    place = (
        next((e for e in reports if _NAMES_TEST.search(e.text)), None)
        or next((e for e in fresh if _TEST_TITLE.match(e.text)), None)
        or next((e for e in reports if _NAMES_PLACE.search(e.text)), None)
    )
    if place is not None:
        keyed.add(place.number)
    return sorted(keyed)


@dataclass(frozen=True, slots=True)
class CandidateTable:
    """Candidate lines of one log and their features, as the line model reads them."""

    numbers: list[int]
    dense: npt.NDArray[np.float64]
    hashed: list[list[int]]


CANDIDATES = 60
"""Lines with the best rule scores that the model re-ranks."""
STEP_TAIL = 12
"""Last lines of the failed step that are candidates whatever their words; only when a CI
marker ends the step (without one, the end of the log says nothing)."""
FEATURES = (
    "rule",
    "rule_squashed",
    "rule_rank",
    "rule_first",
    "evidence",
    "consequence",
    "terminator",
    "in_step",
    "before_step",
    "after_step",
    "from_step_end",
    "step_position",
    "from_log_end",
    "near_summary",
    "block_size",
    "block_before",
    "block_after",
    "in_best_block",
    "indent",
    "length",
    "command",
    "known",
    "early",
    "no_markers",
    "prev_evidence",
    "next_evidence",
    "prev_blank",
    "next_blank",
    "siblings",
    "scored_in_step",
    "continuation",
    "header",
    "tail_only",
    "of_best",
    "step_order",
    "last_before_end",
    "to_next_summary",
    "from_command",
)


def _candidate_tail(ctx: _Context) -> list[int]:
    """The last lines of the failed step, last first, when a CI marker ends it."""
    tail: list[int] = []
    number = ctx.end - 1 if ctx.scan.terminators else ctx.start - 1
    while number >= ctx.start and len(tail) < STEP_TAIL and number in ctx.by_number:
        entry = ctx.by_number[number]
        if not entry.noise and not entry.command and entry.text.strip():
            tail.append(number)
        number -= 1
    return tail


def _candidate_numbers(ctx: _Context) -> list[int]:
    best = sorted(ctx.scores, key=lambda n: (-ctx.scores[n], n))[:CANDIDATES]
    chosen = set(best).union(_candidate_tail(ctx))
    chosen.update(n for n in _failure_line(ctx) if n in ctx.by_number)
    return sorted(chosen)


def _ends_report(entry: _Line) -> bool:
    return entry.consequence


def _is_command(entry: _Line) -> bool:
    return entry.command


def _distance(
    by_number: dict[int, _Line], number: int, direction: int, test: Callable[[_Line], bool]
) -> float:
    """``log2(1 + lines)`` to the nearest line passing ``test`` in ``direction`` (8 if none)."""
    for step in range(1, 256):
        entry = by_number.get(number + direction * step)
        if entry is None:
            break
        if test(entry):
            return math.log2(1 + step)
    return 8.0


def candidate_table(ctx: _Context) -> CandidateTable:
    """Features of the candidate lines: the rules' own figures and hashed words around them."""
    by_number, scores = ctx.by_number, ctx.scores
    numbers = _candidate_numbers(ctx)
    rank = {n: i for i, n in enumerate(sorted(scores, key=lambda n: (-scores[n], n)))}
    best_block: set[int] = set()
    if rank:
        top = min(rank, key=rank.__getitem__)
        best_block = set(_block(top, by_number, scores))
    has_markers = bool(ctx.scan.terminators)
    in_step = sum(1 for n in scores if ctx.start <= n <= ctx.end)
    span = max(1, ctx.end - ctx.start)
    last = ctx.scan.count
    early = {entry.number for _e, _n, entry in ctx.scan.early}
    best = max(scores.values(), default=1.0) or 1.0
    in_order = {n: i for i, n in enumerate(sorted(n for n in scores if ctx.start <= n <= ctx.end))}
    tail = _candidate_tail(ctx)
    last_text = tail[0] if tail else -1
    rows: list[list[float]] = []
    hashed: list[list[int]] = []
    for number in numbers:
        entry = by_number[number]
        score = scores.get(number, 0.0)
        block = _block(number, by_number, scores)
        prev = by_number.get(number - 1)
        after = by_number.get(number + 1)
        shape = _shape(entry.text)
        siblings = sum(
            1
            for other in range(number - 5, number + 6)
            if other != number
            and other in by_number
            and shape
            and _shape(by_number[other].text) == shape
        )
        inside = ctx.start <= number <= ctx.end
        rows.append(
            [
                min(score, 10.0),
                _squash(score),
                math.log2(2 + rank[number]) if number in rank else 8.0,
                float(rank.get(number, -1) == 0),
                max(-3.0, min(entry.evidence, 8.0)),
                float(entry.consequence),
                float(entry.terminator),
                float(inside),
                float(number < ctx.start),
                float(number > ctx.end),
                math.log2(1 + abs(ctx.end - number)),
                (ctx.end - number) / span if inside else 1.0,
                math.log2(1 + last - number),
                float(number in ctx.near),
                math.log2(1 + len(block)),
                math.log2(1 + number - block[0]),
                math.log2(1 + block[-1] - number),
                float(number in best_block),
                math.log2(1 + entry.indent),
                math.log2(1 + len(entry.text)),
                float(entry.command),
                float(entry.known),
                float(number in early),
                float(not has_markers),
                max(-3.0, min(prev.evidence, 8.0)) if prev is not None else 0.0,
                max(-3.0, min(after.evidence, 8.0)) if after is not None else 0.0,
                float(prev is None or not prev.text.strip()),
                float(after is None or not after.text.strip()),
                float(siblings),
                math.log2(1 + in_step),
                float(_CONTINUATION.match(entry.text) is not None),
                float(_HEADER.match(entry.text) is not None),
                float(number not in scores),
                score / best,
                math.log2(2 + in_order[number]) if number in in_order else 8.0,
                float(number == last_text),
                _distance(by_number, number, 1, _ends_report),
                _distance(by_number, number, -1, _is_command),
            ]
        )
        place = "t" if number in tail else "s" if inside else "o"
        tokens = hashed_tokens(entry.text, "", place)
        if prev is not None:
            tokens.extend(hashed_tokens(prev.text, "p"))
        if after is not None:
            tokens.extend(hashed_tokens(after.text, "n"))
        hashed.append(tokens)
    dense = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    return CandidateTable(numbers, dense, hashed)


def context_of(lines: Iterable[str]) -> _Context | None:
    """Scan a log and score its lines by the rules; ``None`` for an empty log (for training)."""
    scan = _scan(lines, None)
    return _context(scan) if scan.tail else None


_GENERIC_WORDS = frozenset(
    {
        "a", "an", "the", "with", "for", "there", "were", "was", "some", "what", "went",
        "wrong", "error", "errors", "err", "failure", "failures", "failed", "fail", "fatal",
        "compilation", "compile", "build", "test", "tests", "exception", "problem",
        "problems", "task", "execution", "info", "warning", "warn",
    }
)  # fmt: skip
_LETTERS = re.compile(r"[A-Za-z]+|\d")


def _bare(text: str) -> bool:
    """A heading that says only that something failed: no name, number or path of its own.

    ``[ERROR] COMPILATION ERROR :``, ``* What went wrong:``, ``FAILURE: Build failed with an
    exception.`` open a report; the line that explains is below them.
    """
    words = _LETTERS.findall(text)
    if not words or "/" in text or "\\" in text:
        return False
    return all(word.lower() in _GENERIC_WORDS for word in words)


HEADING_REACH = 6
"""Lines below a bare heading searched for what it announces, when its block ends at once."""


def _below_heading(seed: int, block: list[int], by_number: dict[int, _Line]) -> int | None:
    """The first line after a bare heading that names something: in its block, or else
    within ``HEADING_REACH`` lines (Gradle's ``FAILURE:``, a blank line, ``* What went
    wrong:``, then the task), never past a command or a CI marker."""
    below = [n for n in block if n > seed] or range(seed + 1, seed + 1 + HEADING_REACH)
    for number in below:
        entry = by_number.get(number)
        if entry is None or entry.command or entry.terminator:
            return None
        if _LETTERS.search(entry.text) and not _bare(entry.text):
            return number
    return None


_EXCERPT = re.compile(r"^\s*(?:>\s*)?(?:\d+\s*)?\|(?:\s|$)|^\s*[\^~]+(?:\s|$)")
_ARROW = re.compile(r"^\s*(?:-->|==>|::: )")
EXCERPT_REACH = 8
"""Lines above a source excerpt searched for the message it illustrates."""
REPORT_REACH = 60
"""Lines above a source excerpt searched for its report's header when no message is near."""


def _excerpt(text: str) -> bool:
    """A line of a source excerpt a tool draws under its message: the ``|`` gutter (rustc,
    gcc, clang, Elm, Swift; jest's and Babel's code frame, ``> 42 |`` on the failing line)
    or a row of carets or tildes."""
    return _EXCERPT.match(text) is not None


def _excerpt_header(seed: int, by_number: dict[int, _Line]) -> int | None:
    """The message an excerpt illustrates: the nearest line above it, past other excerpt
    lines and location arrows (``--> src/main.rs:2:20``), when that line has evidence.

    Otherwise the report's header further up (within ``REPORT_REACH`` lines, never past a
    command, a CI marker or a consequence): the first line with evidence or a failed test's
    title (jest's ``● Suite › test``, whose message ``Expected: 90`` has no failure words).
    Failing that, the nearest line above with words: an excerpt row explains nothing.
    """
    nearest: int | None = None
    for number in range(seed - 1, max(0, seed - REPORT_REACH) - 1, -1):
        entry = by_number.get(number)
        if entry is None or entry.command or entry.terminator:
            break
        if _excerpt(entry.text) or _ARROW.match(entry.text) or not entry.text.strip():
            continue
        if entry.consequence:
            break
        if entry.evidence > 0 or _TEST_TITLE.match(entry.text):
            return number
        if nearest is None and seed - number <= EXCERPT_REACH and _LETTERS.search(entry.text):
            nearest = number
    return nearest


_FRAME_PLACE = re.compile(r"^\s*[\w./\\-]+:\d+\s*$")
_FRAME_RULE = re.compile(r"^\s*-{3,}\s*$")
FRAME_REACH = 12
"""Lines after a framed location searched for the error it points at."""


def _after_frame(seed: int, by_number: dict[int, _Line]) -> int | None:
    """The error a bare location heading a ``----`` frame points at: the first line with
    evidence after the frame closes, within ``FRAME_REACH`` lines and never past a command
    or a CI marker.

    BuildKit prints ``Dockerfile:1``, the instruction between two rules of dashes, then
    ``ERROR: failed to solve: ...``; the location says where, the error what happened.
    """
    entry = by_number.get(seed)
    below = by_number.get(seed + 1)
    if entry is None or below is None or not _FRAME_PLACE.match(entry.text):
        return None
    if not _FRAME_RULE.match(below.text):
        return None
    closed = False
    for number in range(seed + 2, seed + 2 + FRAME_REACH):
        line = by_number.get(number)
        if line is None or line.command or line.terminator:
            return None
        if _FRAME_RULE.match(line.text):
            closed = True
        elif closed and line.evidence > 0:
            return number
    return None


_PROGRESS = re.compile(r"^\s*(?:\S+\s+)?[.FEsxX]{3,}\s*(?:\[\s*\d+%\])?\s*$")
PROGRESS_REACH = 2000
"""Lines after a test runner's progress line searched for the report it announces."""


def _progress(text: str) -> bool:
    """A test runner's progress line: a mark per test (pytest's ``..F.s [ 40%]``, with or
    without its file), which says that a test failed, never which or why."""
    return _PROGRESS.match(text) is not None and "." in text


def _after_progress(seed: int, by_number: dict[int, _Line], *, runners: bool = True) -> int | None:
    """The first line after a progress line with failure evidence of its own, within
    ``PROGRESS_REACH`` lines and never past a command or a CI marker: the runner reports
    each failure after its progress (pytest's ``___ test_x ___`` section). A summary line
    that names the failure (``FAILED tests/x.py::test_y - AssertionError``) serves when no
    report came before the step ended."""
    summary: int | None = None
    for number in range(seed + 1, seed + 1 + PROGRESS_REACH):
        entry = by_number.get(number)
        if entry is None or entry.command or entry.terminator:
            break
        if not (_says_failure(entry) if runners else entry.evidence > 0) or _progress(entry.text):
            continue
        if not entry.consequence:
            return number
        if summary is None:
            summary = number
    return summary


def _identifier(text: str) -> str | None:
    """The most specific word of a status line (a test or file name), if it has one."""
    words = [w for w in _WORD.findall(text) if w.lower() not in _STATUS_WORDS]
    return max(words, key=len) if words else None


_PYTEST_ID = re.compile(r"\.py::\w")
_SEPARATOR = re.compile(r"^\s*[=_-]{3,} \S.* [=_-]{3,}\s*$")
_NUMBERED = re.compile(r"^(\s*)\d+\)\s+\S")
_FILE_STATUS = re.compile(r"^\s*(?:PASS|FAIL)\s+\S")
_FILE_FAILED = re.compile(r"^\s*FAIL\s+\S")
_PYTEST_ERROR = re.compile(r"^E\s")
_PYTEST_FOOTER = re.compile(r"^\S+:\d+: \w+")
MESSAGE_EVIDENCE = 2.0
"""Evidence a line of a test's report needs to stand for its message (``E   assert 7 == 8``,
``assertion `left == right` failed``; not the source line ``>   assert total() == 8``)."""


def _runner_message(seed: int, block: list[int], by_number: dict[int, _Line]) -> int | None:
    """The line of a test runner's report that says what ``seed``, a heading of it, only opens.

    A report's separator with no failure words (cargo's ``---- tests::x stdout ----``,
    pytest's ``___ test_x ___``) and mocha's numbered failure, whose first line names only
    the suite (the test's title follows on deeper lines ending with ``:``), give way to the
    first line of their block with failure evidence; jest's ``FAIL path`` (the file that
    failed, not the test) to the first failed test's title below it (``● Suite › test``);
    any other line of a pytest report's traceback to its first ``E`` line (``E   assert 7
    == 8``; ``_pytest_error``).
    """
    entry = by_number[seed]
    text = entry.text
    first_error = _pytest_error(seed, by_number)
    if first_error is not None:
        return first_error
    if (_SEPARATOR.match(text) and entry.evidence <= 0) or _suite_header(seed, by_number):
        return next(
            (
                n
                for n in block
                if n > seed
                and by_number[n].evidence >= MESSAGE_EVIDENCE
                and not by_number[n].consequence
                and not _TEST_PROGRESS.match(by_number[n].text)
            ),
            None,
        )
    if _FILE_FAILED.match(text):
        return _first_title(seed, by_number)
    return None


def _pytest_error(seed: int, by_number: dict[int, _Line]) -> int | None:
    """The first ``E`` line of the pytest report ``seed`` sits in, when ``seed`` is another
    line of its traceback: the ``___ test_x ___`` separator, the test's source above the
    ``E`` lines (``>   assert ...`` marks the failing one), a later ``E`` line (``E   +
    where ...`` explains the first), or the ``path:12: AssertionError`` footer under them.
    Captured output after the footer is the report's context, not its traceback."""
    top = _section_above(seed, by_number)
    if top is None:
        return None
    first: int | None = None
    last = top
    footer: int | None = None
    for number in range(top + 1, top + 1 + MAX_HEADER_BEFORE):
        entry = by_number.get(number)
        if entry is None or entry.command or entry.consequence or _SECTION.match(entry.text):
            break
        if _PYTEST_ERROR.match(entry.text):
            first = number if first is None else first
            last = number
        elif first is not None and entry.text.strip():
            footer = number if _PYTEST_FOOTER.match(entry.text) else None
            break
    if first is None or first == seed:
        return None
    return first if seed <= last or seed == footer else None


def _section_above(seed: int, by_number: dict[int, _Line]) -> int | None:
    """pytest's ``___ test_x ___`` separator at or above ``seed``, within
    ``MAX_HEADER_BEFORE`` lines and never across a command or a consequence."""
    for number in range(seed, seed - MAX_HEADER_BEFORE - 1, -1):
        entry = by_number.get(number)
        if entry is None or entry.command or entry.consequence:
            return None
        if _SECTION.match(entry.text):
            return number
    return None


def _suite_header(seed: int, by_number: dict[int, _Line]) -> bool:
    """Whether ``seed`` is mocha's numbered failure over a title that goes on below it:
    ``1) Cart``, then deeper lines, the title's last one ending with ``:``."""
    found = _NUMBERED.match(by_number[seed].text)
    if found is None:
        return False
    depth = len(found.group(1))
    for number in range(seed + 1, seed + 1 + HEADING_REACH):
        entry = by_number.get(number)
        if entry is None or not entry.text.strip() or entry.indent <= depth:
            return False
        if entry.text.rstrip().endswith(":"):
            return True
    return False


def _first_title(seed: int, by_number: dict[int, _Line]) -> int | None:
    """The first failed test's title (``● Suite › test``) below jest's ``FAIL path``, within
    ``REPORT_REACH`` lines and before the next file's status, a command, a CI marker or a
    consequence."""
    for number in range(seed + 1, seed + 1 + REPORT_REACH):
        entry = by_number.get(number)
        if entry is None or entry.command or entry.terminator or entry.consequence:
            return None
        if _FILE_STATUS.match(entry.text):
            return None
        if _JEST_TITLE.match(entry.text):
            return number
    return None


def _detail_of(
    seed: int,
    by_number: dict[int, _Line],
    scores: dict[int, float],
    end: int,
    *,
    runners: bool = True,
) -> int | None:
    """A later line naming what a one-line status report names, and opening a fuller report.

    Test runners print ``test x ... FAILED`` as they go and the reason for ``x`` later; the
    later block is the explanation. pytest's report names a test ``path::name`` by its name
    alone (``___ name ___``). A line saying that a test started or passed (a passing subtest,
    ``--- PASS: TestX/case``) reports nothing (both with ``runners``, the default).
    """
    key = _identifier(by_number[seed].text)
    if key is None:
        return None
    if runners and _PYTEST_ID.search(key):
        key = key.rsplit("::", 1)[1]
    for number in range(seed + 1, min(end, seed + DETAIL_SEARCH) + 1):
        other = by_number.get(number)
        if other is None or other.noise or other.consequence or key not in other.text:
            continue
        if runners and (other.evidence < 0 or _TEST_PROGRESS.match(other.text)):
            continue
        if len(_block(number, by_number, scores, header=False)) >= 3:
            return number
    return None


def _near_consequences(window: list[_Line], start: int, end: int) -> set[int]:
    """Lines just around a tool's own failure summary, where the report it sums up sits."""
    near: set[int] = set()
    for index, entry in enumerate(window):
        if entry.consequence and not entry.terminator and start <= entry.number <= end:
            for other in window[max(0, index - 3) : index + 4]:
                if not other.consequence:
                    near.add(other.number)
    return near


def _shape(text: str) -> str:
    """The first word of a line with digits blurred: siblings in a list of reports share it."""
    head = text.split(None, 1)[0] if text.strip() else ""
    return _DIGITS.sub("0", head) if len(head) >= 3 and not head.isalpha() else ""


_SECTION = re.compile(r"^_{3,} \S.* _{3,}\s*$")
"""pytest's per-test separator: the report of one failed test starts there."""
_PYTEST_DETAIL = re.compile(r"^(?:E\s|>\s)")


def _header_above(top: int, by_number: dict[int, _Line]) -> int | None:
    """The line that opens the report ``top`` sits in, found by indentation or a separator.

    An indented line belongs to the nearest line above it that is indented less (``1) test
    name`` over its indented details); pytest's ``E`` lines belong to the ``___ name ___``
    separator above them. Commands, consequences and CI markers in between say otherwise.
    """
    first = by_number[top]
    pytest = _PYTEST_DETAIL.match(first.text) is not None
    if first.indent == 0 and not pytest:
        return None
    for number in range(top - 1, top - MAX_HEADER_BEFORE - 1, -1):
        entry = by_number.get(number)
        if entry is None:
            return None
        if not entry.text.strip():
            continue
        if entry.command or entry.consequence or entry.noise:
            return None
        if pytest:
            if _SECTION.match(entry.text):
                return number
            continue
        if entry.indent < first.indent:
            return number
    return None


def _block(
    seed: int, by_number: dict[int, _Line], scores: dict[int, float], *, header: bool = True
) -> list[int]:
    """The seed line and the lines around it that belong to the same report.

    ``header=False`` leaves out the report's opening line found by ``_header_above``: whether
    a line opens a fuller report is judged by what follows and sits next to it.
    """
    base = by_number[seed]
    shape = _shape(base.text)
    block = [seed]
    number = seed - 1
    while number >= seed - MAX_BLOCK_BEFORE and number in by_number:
        entry = by_number[number]
        if not entry.text.strip() and number - 1 in by_number:
            above = by_number[number - 1]
            if above.evidence >= 1.5 and not (above.consequence or above.command):
                number -= 1
                continue
        if entry.noise or entry.command or entry.consequence or not entry.text.strip():
            break
        sibling = bool(shape) and _shape(entry.text) == shape
        if (
            _HEADER.match(entry.text)
            or sibling
            or (scores.get(number, 0.0) > 0 and entry.evidence >= 1.5)
        ):
            block.extend(range(number, block[-1]))
            number -= 1
            continue
        break
    opening = _header_above(min(block), by_number) if header else None
    anchor = base.indent
    if opening is not None:
        block.extend(range(opening, min(block)))
        anchor = min(anchor, by_number[opening].indent)
    number = seed + 1
    blanks = 0
    tacked = 0
    while number <= seed + MAX_BLOCK_AFTER and number in by_number:
        entry = by_number[number]
        if entry.noise and entry.text.strip():
            break
        if entry.command or entry.consequence:
            break
        if not entry.text.strip():
            blanks += 1
            if blanks > 1:
                break
            number += 1
            continue
        if entry.evidence < 0:
            break
        related = (
            entry.indent > anchor
            or _CONTINUATION.match(entry.text) is not None
            or scores.get(number, 0.0) > 0
            or (bool(shape) and _shape(entry.text) == shape)
        )
        if not related and (blanks or tacked >= PARAGRAPH_TAIL):
            break
        if not related:
            tacked += 1
        if blanks:
            block.extend(range(number - blanks, number))
            blanks = 0
        block.append(number)
        number += 1
    return sorted(set(block))


def _empty(tax: Taxonomy) -> Explanation:
    unknown = tax.get(tax.fallback)
    return Explanation(
        lines=(),
        category=unknown.id,
        fingerprint=fingerprint_of(unknown.id, ()),
        retryable=unknown.retryable,
        heal=unknown.heal,
        confidence=0.0,
        line_count=0,
        reasons=("the log is empty",),
    )


_OFFSET_BUCKETS = (1, 2, 4, 8, 16, 10_000)
"""Upper ends of the distance bands from the seed that the extent model weighs apart."""
EXTENT_BEFORE = 30
EXTENT_AFTER = 120
"""Lines around the best seed whose membership in the answer the extent model decides."""
EXTENT_FEATURES = (
    "offset_before",
    "offset_after",
    "in_block",
    "outside_before",
    "outside_after",
    "blank",
    "noise",
    "command",
    "consequence",
    "terminator",
    "indent_deeper",
    "indent_shallower",
    "indent_zero",
    "evidence",
    "scored",
    "same_shape",
    "continuation",
    "header",
    "breaks_between",
    "blanks_between",
    "seed_probability",
    "length",
    *(f"before_{n}" for n in _OFFSET_BUCKETS),
    *(f"after_{n}" for n in _OFFSET_BUCKETS),
    "in_block_after",
    "in_block_before",
    "in_block_blank",
    "deeper_after",
    "unindented_after",
    "in_block_breaks",
    "scored_outside",
    "same_shape_outside",
    "continuation_outside",
)


def extent_table(
    ctx: _Context, seed: int, block: list[int], probability: float
) -> tuple[list[int], npt.NDArray[np.float64]]:
    """Lines around ``seed`` and features saying whether each belongs to its report."""
    by_number, scores = ctx.by_number, ctx.scores
    base = by_number[seed]
    shape = _shape(base.text)
    low, high = block[0], block[-1]
    inside = set(block)
    numbers: list[int] = []
    rows: list[list[float]] = []
    for direction in (-1, 1):
        breaks = 0
        blanks = 0
        limit = EXTENT_BEFORE if direction < 0 else EXTENT_AFTER
        for step in range(0 if direction > 0 else 1, limit + 1):
            number = seed + direction * step
            entry = by_number.get(number)
            if entry is None:
                break
            blank = not entry.text.strip()
            band = next(i for i, top in enumerate(_OFFSET_BUCKETS) if step <= top)
            within = float(number in inside)
            deeper = float(entry.indent > base.indent)
            scored = float(number in scores)
            same = float(bool(shape) and _shape(entry.text) == shape)
            continuation = float(_CONTINUATION.match(entry.text) is not None)
            rows.append(
                [
                    math.log2(1 + step) if direction < 0 else 0.0,
                    math.log2(1 + step) if direction > 0 else 0.0,
                    float(number in inside),
                    math.log2(1 + low - number) if number < low else 0.0,
                    math.log2(1 + number - high) if number > high else 0.0,
                    float(blank),
                    float(entry.noise and not blank),
                    float(entry.command),
                    float(entry.consequence),
                    float(entry.terminator),
                    deeper,
                    float(entry.indent < base.indent and not blank),
                    float(entry.indent == 0 and not blank),
                    max(-3.0, min(entry.evidence, 8.0)),
                    scored,
                    same,
                    continuation,
                    float(_HEADER.match(entry.text) is not None),
                    math.log2(1 + breaks),
                    math.log2(1 + blanks),
                    probability,
                    math.log2(1 + len(entry.text)),
                    *(float(direction < 0 and step and band == i) for i in range(6)),
                    *(float(direction > 0 and step and band == i) for i in range(6)),
                    within * (direction > 0),
                    within * (direction < 0),
                    within * blank,
                    deeper * (direction > 0),
                    float(entry.indent == 0 and not blank and direction > 0),
                    within * math.log2(1 + breaks),
                    scored * (1 - within),
                    same * (1 - within),
                    continuation * (1 - within),
                ]
            )
            numbers.append(number)
            if entry.command or entry.consequence or (entry.noise and not blank):
                breaks += 1
            if blank:
                blanks += 1
    dense = np.array(rows, dtype=np.float64).reshape(len(rows), len(EXTENT_FEATURES))
    return numbers, dense


def extent_words(ctx: _Context, seed: int, numbers: Sequence[int]) -> list[list[int]]:
    """Hashed words of each line around ``seed``, paired with its side of the seed.

    What ends a report is often said in words (a tool's summary, a hint to rerun with a
    flag); the extent model may weigh them next to the numbers of ``extent_table``.
    """
    by_number = ctx.by_number
    return [
        hashed_tokens(by_number[n].text, "x", "u" if n < seed else "d" if n > seed else "s")
        for n in numbers
    ]
