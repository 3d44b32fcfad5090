"""Every bound the toolkit puts on what it reads, in one place.

A tool that judges other servers must itself survive hostile input, so every input has a size,
a depth and a time bound. The faces (server, control API, CLI, respx mock) read these constants;
where a user may legitimately need more, the face offers an option.
"""

from __future__ import annotations

from typing import Final

#: Largest request body any route accepts (POST routes, control API): 413 above it.
MAX_BODY_BYTES: Final = 1024 * 1024
#: Bytes of a refused request's body the server reads and throws away before closing the connection.
MAX_DISCARDED_BODY_BYTES: Final = 16 * 1024 * 1024
#: Largest request line plus headers the server reads: 431 above it.
MAX_HEAD_BYTES: Final = 64 * 1024
#: Deepest nesting of arrays and objects in JSON or YAML input.
MAX_DEPTH: Final = 64
#: Longest integer literal read (Python's own integer parse limit).
MAX_INTEGER_DIGITS: Final = 4300
#: Longest string a document may hold: longer ones are ``schema`` violations.
MAX_STRING_LENGTH: Final = 4096
#: Largest integer a document may hold (signed 64 bits): larger ones are ``schema`` violations.
MAX_INTEGER: Final = 2**63 - 1
#: Largest file the CLI reads (definitions, documents, recordings).
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
#: How far YAML aliases may expand a recording that needs them (VCR cassettes), as a multiple of its nodes.
MAX_ALIAS_EXPANSION: Final = 10
#: Longest line of a JSON-lines recording (one exchange: a request body of at most 1 MiB and a kept
#: response body, both possibly base64, plus headers).
MAX_RECORDING_LINE_BYTES: Final = 8 * 1024 * 1024
#: Largest response body the proxy keeps to judge (and to record); larger ones pass through unjudged.
MAX_JUDGED_BODY_BYTES: Final = 4 * 1024 * 1024
#: Bytes of exchanges waiting to be judged in the proxy; beyond it exchanges are counted, not judged.
JUDGE_QUEUE_BYTES: Final = 64 * 1024 * 1024
#: Requests remembered for the stateful rules on traffic (``stable``, ``ignored-params``), and their bytes.
TRAFFIC_MEMORY_KEYS: Final = 4096
TRAFFIC_MEMORY_BYTES: Final = 16 * 1024 * 1024
#: Names remembered as served from traffic (models and LLMs each); windows kept per name and day.
TRAFFIC_KNOWN_NAMES: Final = 65_536
TRAFFIC_WINDOWS_PER_NAME: Final = 16
#: Bytes of answers the server keeps for repeated requests.
MEMO_BYTES: Final = 16 * 1024 * 1024
#: Bytes of request journal the server keeps (oldest entries go first).
JOURNAL_BYTES: Final = 16 * 1024 * 1024
#: Characters of a query string kept in a journal entry or an access-log line.
MAX_LOGGED_QUERY: Final = 1024
#: Characters of a value quoted in a violation message.
MAX_QUOTED: Final = 200
#: Most documents ``qmcontract generate`` writes in one run.
MAX_GENERATE_COUNT: Final = 10_000_000
#: schemathesis examples per operation and mode in a default conformance run.
DEFAULT_MAX_EXAMPLES: Final = 10
#: Most schemathesis examples per operation and mode in one conformance run.
MAX_EXAMPLES: Final = 100_000
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_SECONDS: Final = 5
#: Seconds a client has to send a complete request head.
HEAD_TIMEOUT_SECONDS: Final = 10
#: Longest artificial latency a fault or option may ask for (one hour).
MAX_LATENCY_MS: Final = 3_600_000


def quoted(value: object, limit: int = MAX_QUOTED) -> str:
    """``repr`` of a value, cut to ``limit`` characters: messages never carry a huge input back."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"
