"""Page tokens come back from clients: every tampered one is a 422 on page_token, also under `python -O`."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backend.errors import Invalid
from backend.store import page_tokens

MESSAGE = "malformed page_token; pass the next_page_token of the previous page unchanged (same sort)"
ROOT = Path(__file__).resolve().parents[3]


def _token(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def _raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.mark.parametrize(
    ("value", "sort"),
    [
        (41, "id"),
        (datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=UTC), "created_at"),
        ("queued", "status"),
        (0.25, "metric:acc"),
        (None, "metric:acc"),  # the page ended among the runs that never logged the metric
    ],
)
def test_tokens_round_trip_per_sort(value: Any, sort: str) -> None:
    assert page_tokens.decode(page_tokens.encode(value, 7), sort) == (value, 7)


TAMPERED = {
    "not base64": ("garbage!", "id"),
    "not UTF-8": (_raw(b"\xff\xfe"), "id"),
    "not JSON": (_raw(b"[1, 2"), "id"),
    "not a list": (_token({"value": 1, "id": 2}), "id"),
    "three items": (_token([1, 2, 3]), "id"),
    "id a string": (_token([1, "2"]), "id"),
    "id a bool": (_token([1, True]), "id"),
    "id a float": (_token([1, 2.0]), "id"),
    "id sort, float value": (_token([1.5, 2]), "id"),
    "id sort, bool value": (_token([True, 2]), "id"),
    "metric sort, string value": (_token(["0.5", 2]), "metric:acc"),
    "metric sort, bool value": (_token([False, 2]), "metric:acc"),
    "created_at not a date": (_token(["yesterday", 2]), "created_at"),
    "created_at a number": (_token([1700000000, 2]), "created_at"),
    "status sort, number value": (_token([3, 2]), "status"),
    "status sort, null value": (_token([None, 2]), "status"),
    "absurdly nested": (_raw(b"[" * 100_000 + b"]" * 100_000), "id"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_tampered_tokens_are_a_422_on_page_token(case: str) -> None:
    token, sort = TAMPERED[case]
    with pytest.raises(Invalid) as err:
        page_tokens.decode(token, sort)
    assert err.value.detail == [
        {"type": "value_error", "loc": ["query", "page_token"], "msg": MESSAGE, "input": token}
    ]


def test_checks_hold_under_python_optimisations() -> None:
    """`python -O` strips assert statements; the token checks must not depend on them."""
    script = (
        "import sys\n"
        "from backend.errors import Invalid\n"
        "from backend.store import page_tokens\n"
        "assert False, 'asserts run: not an optimised interpreter'\n"
    )
    cases = [[token, sort] for token, sort in TAMPERED.values() if len(token) < 1000]
    script += (
        f"for token, sort in {cases!r}:\n"
        "    try:\n"
        "        page_tokens.decode(token, sort)\n"
        "    except Invalid:\n"
        "        continue\n"
        "    sys.exit(f'accepted {token!r} for {sort}')\n"
    )
    done = subprocess.run([sys.executable, "-O", "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
