"""Loader for the LaMP benchmark's JSON files (Salemi et al., "LaMP: When Large Language Models
Meet Personalization"): a *questions* file ``[{"id", "input", "profile": [...]}, ...]`` and an
*outputs* file ``{"task": "LaMP_3", "golds": [{"id", "output"}, ...]}``.

Each question becomes one :class:`EvalUser`: its profile is the history, its input the single test
item. Profiles carry no usable time, so history items get synthetic, increasing timestamps (oldest
first; sorted by ``date`` when every item has one) that end well before the test item's.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ids import MAX_USER_ID_LENGTH, validate_user_id
from ..memory.episodic import MAX_QUERY_CHARS, Interaction, stable_id
from .types import DatasetError, EvalItem, EvalUser

LAMP_TASKS = {"LaMP-1": "label", "LaMP-2M": "label", "LaMP-2N": "label", "LaMP-3": "rating"}

# Closed answer sets the LaMP tasks define (Salemi et al., 2023): LaMP-3 rates 1–5; LaMP-2M and
# LaMP-2N choose one of 15 labels. A question whose labels fall outside its set is asked as free text.
LAMP_SCALE = {"low": 1.0, "high": 5.0, "step": 1.0}
LAMP_LABELS = {
    "LaMP-2M": ["sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy",
                "classic", "psychology", "fantasy", "romance", "thought-provoking", "social commentary",
                "violence", "true story"],
    "LaMP-2N": ["travel", "education", "parents", "style & beauty", "entertainment", "food & drink",
                "science & technology", "business", "sports", "healthy living", "women", "politics", "crime",
                "culture & arts", "religion"],
}

BASE_TIME = 1_600_000_000.0  # 2020-09-13; history item i is at BASE_TIME + i days
DAY = 86_400.0
TEST_GAP_DAYS = 30  # the test item comes this many days after the last history item


@dataclass(frozen=True)
class _Spec:
    prefix: str  # user id prefix
    query: str  # profile field that becomes the interaction's query
    label: str | None = None  # profile field holding what the user chose (→ ground_truth)
    answer: str | None = None  # profile field shown as the answer when there is no label

    @property
    def required(self) -> list[str]:
        return [f for f in (self.query, self.label, self.answer) if f]


_SPECS = {
    "LaMP-1": _Spec("lamp1", query="title", answer="abstract"),  # papers the user wrote
    "LaMP-2M": _Spec("lamp2m", query="description", label="tag"),
    "LaMP-2N": _Spec("lamp2n", query="text", label="category"),
    "LaMP-3": _Spec("lamp3", query="text", label="score"),
}
_ALIASES = {
    "lamp-1": "LaMP-1", "citation-identification": "LaMP-1",
    "lamp-2m": "LaMP-2M", "movie-tagging": "LaMP-2M",
    "lamp-2n": "LaMP-2N", "news-categorization": "LaMP-2N", "lamp-2-old": "LaMP-2N",
    "lamp-3": "LaMP-3", "product-rating": "LaMP-3",
}
_AMBIGUOUS_LAMP2 = "lamp-2"  # movie tagging in current releases, news categorization in the first


def load_lamp(questions_path, outputs_path, *, task: str | None = None,
              limit: int | None = None) -> list[EvalUser]:
    """One :class:`EvalUser` per question (the first ``limit`` of them), or a :class:`DatasetError`.

    ``task`` overrides the outputs file's ``task`` name. Ids are checked across both whole files.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    qfile, ofile = str(questions_path), str(outputs_path)
    questions = _read_questions(qfile)
    golds, named_task = _read_outputs(ofile)
    _check_ids_match(qfile, ofile, [q["id"] for q in questions], golds)
    canonical = _canonical_task(task or named_task, questions, ofile if task is None else "task argument")
    selected = questions if limit is None else questions[:limit]
    return [_user(qfile, q, golds[q["id"]], canonical) for q in selected]


def _read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _read_questions(path: str) -> list[dict]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
    seen: set[str] = set()
    for n, q in enumerate(data):
        if not isinstance(q, dict):
            raise DatasetError(f"{path}: question {n} is a {type(q).__name__}, expected an object")
        missing = [k for k in ("id", "input", "profile") if q.get(k) is None]
        if missing:
            raise DatasetError(f"{path}: question {n} is missing field(s) {', '.join(missing)}")
        if not isinstance(q["input"], str) or not isinstance(q["profile"], list):
            raise DatasetError(f"{path}: question {q['id']!r}: 'input' must be a string, 'profile' a list")
        q["id"] = str(q["id"])
        if q["id"] in seen:
            raise DatasetError(f"{path}: question id {q['id']!r} appears more than once")
        seen.add(q["id"])
    return data


def _read_outputs(path: str) -> tuple[dict[str, str], str | None]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object with 'task' and 'golds', got {type(data).__name__}")
    if not isinstance(data.get("golds"), list):
        raise DatasetError(f"{path}: missing 'golds' list")
    golds: dict[str, str] = {}
    for n, gold in enumerate(data["golds"]):
        if not isinstance(gold, dict) or gold.get("id") is None or gold.get("output") is None:
            raise DatasetError(f"{path}: gold {n} must be an object with 'id' and 'output'")
        if str(gold["id"]) in golds:
            raise DatasetError(f"{path}: gold id {gold['id']!r} appears more than once")
        golds[str(gold["id"])] = _text(gold["output"])
    return golds, data.get("task")


def _check_ids_match(qfile: str, ofile: str, question_ids: list[str], golds: dict[str, str]) -> None:
    def few(ids: list[str]) -> str:
        return ", ".join(map(repr, ids[:5])) + (f" … ({len(ids)} in all)" if len(ids) > 5 else "")

    no_gold = [i for i in question_ids if i not in golds]
    if no_gold:
        raise DatasetError(f"{ofile}: no gold output for question id(s) {few(no_gold)} of {qfile}")
    known = set(question_ids)
    orphans = [i for i in golds if i not in known]
    if orphans:
        raise DatasetError(f"{ofile}: gold id(s) {few(orphans)} have no question in {qfile}")


def _canonical_task(name: Any, questions: list[dict], where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"{where}: no task name; pass task= (one of {', '.join(LAMP_TASKS)})")
    key = re.sub(r"[\s_]+", "-", name.strip()).lower()
    if key == _AMBIGUOUS_LAMP2:  # tell the two LaMP-2 variants apart by their profile fields
        first = next((p for q in questions for p in q["profile"] if isinstance(p, dict)), {})
        return "LaMP-2N" if "category" in first and "tag" not in first else "LaMP-2M"
    if key not in _ALIASES:
        raise DatasetError(f"{where}: unknown task {name!r}; supported: {', '.join(LAMP_TASKS)} "
                           "(also LaMP_2, movie tagging, news categorization, product rating)")
    return _ALIASES[key]


def _user_id(prefix: str, question_id: str) -> str:
    safe = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9_.@-]+", "_", question_id)).strip("_.@-")
    user_id = f"{prefix}-{safe}"
    if safe != question_id or len(user_id) > MAX_USER_ID_LENGTH:  # keep altered ids distinct
        digest = hashlib.sha256(question_id.encode()).hexdigest()[:10]
        user_id = f"{prefix}-{safe[:40]}-{digest}" if safe else f"{prefix}-{digest}"
    return validate_user_id(user_id)


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _text(value: Any) -> str:
    """A label as text: ``4.0`` and ``4`` both become ``"4"``, strings are stripped."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _date_key(item: dict) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(item["date"]).split("-"))
    except (KeyError, ValueError):
        return None


def _history_item(qfile: str, question_id: str, n: int, item: Any, spec: _Spec, task: str) -> dict:
    where = f"{qfile}: question {question_id!r} profile item {n}"
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected an object, got {type(item).__name__}")
    for field in spec.required:
        if not _scalar(item.get(field)) or not str(item[field]).strip():
            raise DatasetError(f"{where}: missing field {field!r} (needed for {task})")
    return item


def _user(qfile: str, question: dict, gold: str, task: str) -> EvalUser:
    spec = _SPECS[task]
    qid = question["id"]
    user_id = _user_id(spec.prefix, qid)
    profile = [_history_item(qfile, qid, n, p, spec, task) for n, p in enumerate(question["profile"])]
    dates = [_date_key(p) for p in profile]
    if all(d is not None for d in dates):  # oldest first; sorted() is stable for equal dates
        profile = [p for _, p in sorted(zip(dates, profile), key=lambda pair: pair[0])]
    labels = [_text(item[spec.label]) for item in profile] + [gold] if spec.label else []
    options = LAMP_LABELS.get(task) if all(label in LAMP_LABELS.get(task, ()) for label in labels) else None
    scale = dict(LAMP_SCALE) if task == "LaMP-3" else None
    history = []
    for i, item in enumerate(profile):
        timestamp = BASE_TIME + i * DAY
        query = str(item[spec.query])[:MAX_QUERY_CHARS]
        meta = {("profile_id" if k == "id" else k): v for k, v in item.items()
                if k not in spec.required and _scalar(v)}
        history.append(Interaction(
            id=stable_id(user_id, timestamp, query), user_id=user_id, query=query,
            answer=str(item[spec.answer]) if spec.answer else "",
            ground_truth=_text(item[spec.label]) if spec.label else None,
            timestamp=timestamp, metadata={**meta, "task": task}, source="ingest", options=options, scale=scale,
        ))
    test_time = BASE_TIME + (len(profile) - 1 + TEST_GAP_DAYS) * DAY
    test = EvalItem(id=qid, query=question["input"], ground_truth=gold, timestamp=test_time,
                    attributes={"task": task}, options=options, scale=scale)
    return EvalUser(user_id=user_id, history=history, test=[test], metric=LAMP_TASKS[task],
                    attribute=task, alignment_applicable=any(h.labelled for h in history))
