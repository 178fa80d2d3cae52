"""Validated loading of a user's history (JSONL) and knowledge items (JSONL or CSV).

Every line is checked before anything is written; one bad line means nothing is stored and the
error lists each bad line by number.
"""

from __future__ import annotations

import csv
import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..answers.closed_form import AnswerSpec
from ..errors import IngestError, PersonaAgentError
from ..ids import validate_user_id
from .episodic import MAX_QUERY_CHARS, Interaction, stable_id
from .knowledge import KnowledgeItem

MAX_FIELD_CHARS = 20_000
# Interaction times must lie in 1900–2200: a store keeps and compares them as numbers, and one
# non-finite value would make Chroma drop the field from the row.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc).timestamp()
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc).timestamp()


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from a number or an ISO-8601 string (``Z`` or an offset; naive means UTC),
    finite and between 1900 and 2200."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be a number or an ISO-8601 string, not a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"timestamp {value!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        seconds = parsed.timestamp()
    else:
        raise ValueError(f"timestamp must be a number or an ISO-8601 string, got {type(value).__name__}")
    if not math.isfinite(seconds):
        raise ValueError(f"timestamp {value!r} is not a finite number")
    if not EARLIEST <= seconds <= LATEST:
        raise ValueError(f"timestamp {value!r} is outside 1900–2200 (epoch seconds {EARLIEST:.0f} to {LATEST:.0f})")
    return seconds


def _text(record: dict, key: str, required: bool = False, limit: int = MAX_FIELD_CHARS) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            raise ValueError(f"missing required field {key!r}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"field {key!r} is empty")
    if len(value) > limit:
        raise ValueError(f"field {key!r} is {len(value)} characters; the limit is {limit}")
    return value


def _metadata(record: dict) -> dict:
    meta = record.get("metadata", {})
    if not isinstance(meta, dict):
        raise ValueError("field 'metadata' must be an object")
    for key, value in meta.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise ValueError(f"metadata {key!r} must be a string, number or boolean")
    return meta


def parse_interaction(user_id: str, record: Any, default_time: float) -> Interaction:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    unknown = set(record) - {"query", "ground_truth", "answer", "feedback", "timestamp", "metadata", "options", "scale"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    query = _text(record, "query", required=True, limit=MAX_QUERY_CHARS)
    ground_truth = _text(record, "ground_truth")
    answer = _text(record, "answer")
    if ground_truth is None and answer is None:
        raise ValueError("needs 'ground_truth' (what the user wanted) or 'answer'")
    timestamp = parse_timestamp(record["timestamp"]) if "timestamp" in record else default_time
    spec, ground_truth = _answer_set(record, ground_truth)
    return Interaction(
        id=stable_id(user_id, timestamp, query),
        user_id=user_id,
        query=query,
        answer=answer or "",
        ground_truth=ground_truth,
        feedback=_text(record, "feedback"),
        timestamp=timestamp,
        metadata=_metadata(record),
        source="ingest",
        options=list(spec.options) if spec and spec.options else None,
        scale=spec.scale.to_dict() if spec and spec.scale else None,
    )


def _answer_set(record: dict, ground_truth: str | None) -> tuple[AnswerSpec | None, str | None]:
    """The line's ``options`` or ``scale``, checked, and its ground truth in the set's terms
    (the option it names, written as the option is)."""
    if record.get("options") is not None and (not isinstance(record["options"], list)
                                               or not all(isinstance(o, str) for o in record["options"])):
        raise ValueError("field 'options' must be a list of strings")
    spec = AnswerSpec.of(record.get("options"), record.get("scale"))
    if spec is None or ground_truth is None:
        return spec, ground_truth
    return spec, spec.truth(ground_truth)


def _lines(path: Path):
    """The file's lines, decoded as UTF-8; a byte order mark (as Windows editors write) is dropped."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise PersonaAgentError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise IngestError(str(path), [(text_line(path, exc.start), "not valid UTF-8")]) from None
    return text.splitlines()


def text_line(path: Path, byte_offset: int) -> int:
    return path.read_bytes()[:byte_offset].count(b"\n") + 1


def _jsonl_records(lines: list[str], problems: list[tuple[int, str]]) -> list[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; bad JSON goes to ``problems``."""
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append((number, f"not valid JSON ({exc.msg})"))
    return records


def _has_nul(value: Any) -> bool:
    """Whether a NUL character is anywhere in ``value`` (Postgres stores none, in text or JSON)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(map(_has_nul, value))


def _validated(path: Path, records, problems, parse, what: str) -> list:
    """Parse every record; raise ``IngestError`` listing all bad lines, or return the items."""
    items = []
    for number, record in records:
        if _has_nul(record):
            problems.append((number, "contains a NUL character"))
            continue
        try:
            items.append(parse(number, record))
        except ValueError as exc:
            problems.append((number, str(exc)))
    if problems:
        raise IngestError(str(path), sorted(problems))
    if not items:
        raise IngestError(str(path), [(0, f"the file holds no {what}")])
    return items


def read_history(user_id: str, path: str | Path) -> list[Interaction]:
    """Parse and validate a history JSONL file; raise ``IngestError`` listing every bad line.

    Lines without a timestamp keep their order: they get consecutive times ending now.
    """
    validate_user_id(user_id)
    path = Path(path)
    lines = _lines(path)
    now = time.time()
    problems: list[tuple[int, str]] = []
    records = _jsonl_records(lines, problems)
    return _validated(
        path, records, problems,
        lambda n, record: parse_interaction(user_id, record, now - len(lines) + n), "interactions",
    )


def _knowledge_item(number: int, record: Any) -> KnowledgeItem:
    if not isinstance(record, dict):
        raise ValueError(f"expected an object, got {type(record).__name__}")
    text = _text(record, "text", required=True)
    item_id = record.get("id", number)
    if not isinstance(item_id, (str, int)) or not str(item_id).strip():
        raise ValueError("field 'id' must be a non-empty string or number")
    return KnowledgeItem(id=str(item_id), text=text, title=_text(record, "title") or "",
                         metadata=_metadata(record))


def read_knowledge(path: str | Path) -> list[KnowledgeItem]:
    """Knowledge items from JSONL (``id``, ``text``, optional ``title``, ``metadata``) or CSV
    (columns ``text`` and optionally ``id``, ``title``; other columns become metadata)."""
    path = Path(path)
    lines = _lines(path)
    problems: list[tuple[int, str]] = []
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(lines))
        if rows and "text" not in rows[0]:
            raise IngestError(str(path), [(1, "the CSV header has no 'text' column")])
        records = [
            (n, {"id": r.get("id") or n, "title": r.get("title") or "", "text": r.get("text"),
                 "metadata": {k: v for k, v in r.items() if k not in {"id", "title", "text"} and k}})
            for n, r in enumerate(rows, 2)
        ]
    else:
        records = _jsonl_records(lines, problems)
    return _validated(path, records, problems, _knowledge_item, "items")
