"""PrefEval (Zhao et al., ICLR 2025) as a 4-way multiple-choice task per preference record.

The preference is the user's history in one of three forms: the ``explicit`` statement, the
``choice`` conversation (the user picked one of four offered options: a labelled interaction the
optimizer can align on), or the ``persona`` conversation (several turns that imply it; nothing
labelled, so the alignment rung is not applicable). The test item is the benchmark question with
its four options shuffled by a fixed seed (the files list the aligned option first), stated as the
request's answer options, so the answer is read from the model's distribution over the letters.
The four folders are index-aligned: record i of a topic is the same preference in each.

At a ``distance`` of N, N unrelated interactions come between the preference and the question
(PrefEval's own setting, where preference following collapses as the gap grows). They are drawn,
fixed by the seed, from a pool of turns of *other* topics' records (explicit statements, turns of
persona-driven conversations, choice conversations), so retrieval and the persona's statements
have competition: many of those turns state preferences of their own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from ..answers.text import LETTERS
from ..memory.episodic import Interaction
from .types import DatasetError, EvalItem, EvalUser

FORMS = ("explicit", "choice", "persona")
FOLDERS = {"explicit": "explicit_preference", "choice": "implicit_preference/choice-based",
           "persona": "implicit_preference/persona-driven"}
T0 = 1_700_000_000.0  # synthetic times: history turns first, the test question after them


def shuffled(options: list[str], seed: int, key: str) -> tuple[list[str], str]:
    """The options in a fixed pseudo-random order, and the letter the first (aligned) one got."""
    if len(options) != 4:
        raise DatasetError(f"{key}: expected 4 options, found {len(options)}")
    order = list(range(4))
    random.Random(f"{seed}:{key}").shuffle(order)
    return [options[i] for i in order], LETTERS[order.index(0)]


def load_records(path: Path) -> list[dict]:
    """The records of one PrefEval JSON file (a list), or a DatasetError naming what is wrong."""
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of records")
    return data


def _field(record: dict, key: str, where: str):
    if key not in record:
        raise DatasetError(f"{where}: missing field {key!r}")
    return record[key]


def _history(form: str, record: dict, user: str, seed: int, where: str) -> list[Interaction]:
    def item(n, **kw):
        return Interaction(user_id=user, timestamp=T0 + n, source="ingest", metadata={"domain": "preferences"}, **kw)

    if form == "explicit":
        return [item(0, query=_field(record, "preference", where), answer="Noted, I will keep that in mind.")]
    conv = _field(record, "conversation", where)
    if form == "choice":
        options, aligned = _field(record, "options", where), _field(record, "aligned_op", where)
        offered = _field(conv, "assistant_options", where)
        # Options keep the order the assistant offered them in, so "option 4" in the user's reply
        # is the fourth; options missing from that text fall back to the seeded shuffle.
        if all(o in offered for o in options) and aligned in options:
            options = sorted(options, key=offered.find)
        else:
            options, _ = shuffled(options, seed, f"{where}:history")
        return [item(0, query=_field(conv, "query", where), options=options, ground_truth=aligned,
                     feedback=_field(conv, "user_selection", where))]
    turns = sorted((k for k in conv if k.isdigit()), key=int)
    if not turns:
        raise DatasetError(f"{where}: the conversation has no turns")
    return [item(n, query=conv[k]["user"], answer=conv[k]["assistant"]) for n, k in enumerate(turns)]


Filler = tuple[str, dict]  # (topic, the fields of one interaction)
POOL = 300  # filler turns drawn for a run, at most (fewer distinct texts: fewer detection calls)


def _filler_turns(root: Path, topic: str) -> list[Filler]:
    """Every turn of ``topic``'s records that can stand between a preference and its question."""
    turns: list[Filler] = []
    for record in load_records(root / FOLDERS["explicit"] / f"{topic}.json"):
        turns.append((topic, {"query": record["preference"], "answer": "Noted, I will keep that in mind."}))
    for record in load_records(root / FOLDERS["persona"] / f"{topic}.json"):
        for turn in record["conversation"].values():
            turns.append((topic, {"query": turn["user"], "answer": turn["assistant"]}))
    for record in load_records(root / FOLDERS["choice"] / f"{topic}.json"):
        conv = record["conversation"]
        turns.append((topic, {"query": conv["query"], "answer": conv["assistant_options"],
                              "feedback": conv["user_selection"]}))
    return turns


def filler_pool(root: Path, topics: list[str], seed: int, size: int = POOL) -> list[Filler]:
    """``size`` turns drawn (seeded) uniformly from all topics' turns."""
    turns = [turn for topic in topics for turn in _filler_turns(root, topic)]
    return random.Random(f"{seed}:fillers").sample(turns, min(size, len(turns)))


def fillers(pool: list[Filler], topic: str, distance: int, key: str) -> list[Filler]:
    """``distance`` turns of ``pool`` from topics other than ``topic``, in a seeded order."""
    others = [(other, fields) for other, fields in pool if other != topic]
    if distance > len(others):
        raise DatasetError(f"{key}: a distance of {distance} needs more filler turns than the pool's {len(others)}")
    return random.Random(key).sample(others, distance)


def load_prefeval(
    root: str | Path, *, form: str = "choice", n_records: int = 40, seed: int = 0, topics: list[str] | None = None,
    distance: int = 0, pool: int = POOL,
) -> list[EvalUser]:
    """``n_records`` records spread round-robin over the topics (seeded), one EvalUser each, with
    ``distance`` filler turns between the preference and the question."""
    if distance < 0:
        raise DatasetError(f"the distance must be 0 or more (got {distance})")
    if form not in FORMS:
        raise DatasetError(f"unknown PrefEval form {form!r}; choose one of {', '.join(FORMS)}")
    root = Path(root)
    all_topics = sorted(p.stem for p in (root / "mcq_options").glob("*.json") if " " not in p.stem)
    if not all_topics:
        raise DatasetError(f"{root / 'mcq_options'}: no topic files found (expected PrefEval benchmark_dataset)")
    unknown = sorted(set(topics or []) - set(all_topics))
    if unknown:
        raise DatasetError(f"unknown PrefEval topic(s) {unknown}")
    rng = random.Random(seed)
    queues = {}
    for topic in topics or all_topics:
        indices = list(range(len(load_records(root / "mcq_options" / f"{topic}.json"))))
        rng.shuffle(indices)
        queues[topic] = indices
    picked: list[tuple[str, int]] = []
    while len(picked) < n_records and any(queues.values()):
        for topic, queue in queues.items():
            if queue and len(picked) < n_records:
                picked.append((topic, queue.pop(0)))
    fill = filler_pool(root, all_topics, seed, pool) if distance else []
    users = []
    for topic, i in picked:
        mcq = load_records(root / "mcq_options" / f"{topic}.json")[i]
        history_record = load_records(root / FOLDERS[form] / f"{topic}.json")[i]
        where = f"{FOLDERS[form]}/{topic}.json[{i}]"
        user = f"pe-{form}-{topic}-{i}"
        options, letter = shuffled(_field(mcq, "classification_task_options", f"mcq_options/{topic}.json[{i}]"), seed, where)
        history = _history(form, history_record, user, seed, where)
        history += [Interaction(user_id=user, timestamp=T0 + len(history) + n, source="ingest",
                                metadata={"domain": "preferences", "filler_from": other}, **fields)
                    for n, (other, fields) in enumerate(fillers(fill, topic, distance, f"{seed}:{where}:fillers"))]
        test = EvalItem(id=user, query=_field(mcq, "question", where), options=options,
                        ground_truth=options[LETTERS.index(letter)], timestamp=T0 + max(100, len(history) + 1),
                        attributes={"topic": topic, "index": i})
        users.append(EvalUser(user_id=user, history=history, test=[test], metric="label", attribute=topic,
                              alignment_applicable=form == "choice",
                              stated_preference=_field(history_record, "preference", where)))
    return users
