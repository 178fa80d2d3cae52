"""How well stated preferences are found, and told apart by subject, on PrefEval's labelled turns
(``personaagent eval statements``).

Detection (``persona.stated.detect``: the cheap filter, then one yes/no call per sentence) on
- statements: PrefEval's explicit preference statements, one turn each;
- persona turns: the turn of each persona-driven conversation that carries its preference (the
  turn holding the sentence closest to the record's preference in the embedder's space; the
  label is that rule's, so it can be wrong where two turns touch the preference);
- requests: ordinary requests, which state nothing: the benchmark's questions, the choice form's
  requests and the demo's questions.
It reports recall on each positive kind and the false-positive rate on requests, with Wilson 95%
intervals, precision over the labelled set, what share of turns the filter sends to the model,
and the calls and seconds per turn; for persona turns also whether the kept words include the
preference's sentence. The other turns of those conversations are unlabelled (many state lasting
facts that are not preferences): the share kept is reported as it is.

Same subject (``stated.SAME_SUBJECT``), from embeddings only: a record's explicit statement and the
sentence of its conversation that states the same preference (same subject); two statements of
different records of one topic (different subjects, the hard case) and of different topics.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from statistics import fmean
from typing import Any

import numpy as np

from ..persona import stated
from ..services.demo import demo_questions
from .prefeval import FOLDERS, load_records

Z = 1.96
THRESHOLDS = (0.5, 0.6, 0.7, 0.8)  # the same-subject rule's threshold, the report's other rows
DETECTION_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)  # the detector's, likewise


def wilson(hits: int, n: int) -> list[float]:
    """The Wilson 95% interval of a proportion."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = hits / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return [max(round(centre - half, 4), 0.0) + 0.0, min(round(centre + half, 4), 1.0)]  # + 0.0: never -0.0


def _rate(flags: list[bool]) -> dict[str, Any]:
    return {"rate": round(fmean(flags), 4) if flags else None, "ci95": wilson(sum(flags), len(flags)), "n": len(flags)}


def cosine(embed, a: list[str], b: list[str]) -> np.ndarray:
    """The cosine similarity of every text of ``a`` with every text of ``b`` (a matrix)."""
    va, vb = (np.asarray(embed(x), dtype=float) for x in (a, b))
    va /= np.linalg.norm(va, axis=1, keepdims=True)
    vb /= np.linalg.norm(vb, axis=1, keepdims=True)
    return va @ vb.T


def sample(root: Path, n: int, seed: int) -> list[tuple[str, int]]:
    """``n`` (topic, index) records drawn round-robin over the topics, seeded."""
    rng = random.Random(f"{seed}:statements")
    topics = sorted(p.stem for p in (root / "mcq_options").glob("*.json") if " " not in p.stem)
    queues = {t: rng.sample(range(len(load_records(root / "mcq_options" / f"{t}.json"))),
                            len(load_records(root / "mcq_options" / f"{t}.json"))) for t in topics}
    picked: list[tuple[str, int]] = []
    while len(picked) < n and any(queues.values()):
        for topic in topics:
            if queues[topic] and len(picked) < n:
                picked.append((topic, queues[topic].pop()))
    return picked


def restatement(root: Path, topic: str, i: int, embed) -> tuple[dict, list[str], int, str]:
    """Record ``i`` of ``topic`` in the persona-driven form: the record, its user turns, and the
    turn and sentence that restate its preference (the sentence closest to it)."""
    conversation = load_records(root / FOLDERS["persona"] / f"{topic}.json")[i]
    turns = [t["user"] for t in conversation["conversation"].values()]
    pieces = [(n, s) for n, turn in enumerate(turns) for s in stated.sentences(turn)]
    closeness = cosine(embed, [conversation["preference"]], [s for _, s in pieces])[0]
    carrier, sentence = pieces[int(np.argmax(closeness))]
    return conversation, turns, carrier, sentence


def labelled_turns(root: Path, picked: list[tuple[str, int]], embed) -> dict[str, list[dict]]:
    """The turns to classify, by kind, each with the record's preference where it has one."""
    kinds: dict[str, list[dict]] = {"statement": [], "persona_turn": [], "other_turn": [], "request": []}
    for topic, i in picked:
        record = load_records(root / FOLDERS["explicit"] / f"{topic}.json")[i]
        kinds["statement"].append({"text": record["preference"], "preference": record["preference"]})
        conversation, turns, carrier, sentence = restatement(root, topic, i, embed)
        kinds["persona_turn"].append({"text": turns[carrier], "preference": conversation["preference"],
                                      "sentence": sentence})
        kinds["other_turn"] += [{"text": t} for n, t in enumerate(turns) if n != carrier]
        kinds["request"].append({"text": load_records(root / "mcq_options" / f"{topic}.json")[i]["question"]})
        kinds["request"].append({"text": load_records(root / FOLDERS["choice"] / f"{topic}.json")[i]["conversation"]["query"]})
    kinds["request"] += [{"text": q["query"]} for questions in demo_questions().values() for q in questions]
    return kinds


def detection(model, kinds: dict[str, list[dict]], retry=None) -> dict[str, Any]:
    """Run the detector on every turn; per kind: kept (recall or false-positive rate), and the
    filter's share, calls and seconds per turn; and recall and precision had the threshold been
    other values (a turn's score: its most likely sentence)."""
    out: dict[str, Any] = {}
    scores: dict[str, list[float]] = {}
    for kind, turns in kinds.items():
        kept, seconds, found_sentence, asked = [], 0.0, [], {}
        scores[kind] = []
        for turn in turns:
            began = time.monotonic()
            found = stated.detect(model, turn["text"], retry, asked)
            seconds += time.monotonic() - began
            kept.append(bool(found))
            candidates = [s for s in stated.sentences(turn["text"]) if stated.may_state(s)][: stated.MAX_SENTENCES]
            scores[kind].append(max((asked[s] for s in candidates), default=0.0))
            if "sentence" in turn:
                found_sentence.append(turn["sentence"] in found)
        out[kind] = _rate(kept) | {"calls_per_turn": round(len(asked) / len(turns), 3),
                                   "seconds_per_turn": round(seconds / len(turns), 2)}
        if found_sentence:
            out[kind]["kept_the_preference_sentence"] = _rate(found_sentence)
    positive = scores["statement"] + scores["persona_turn"]
    out["precision"], out["recall"] = _precision_recall(positive, scores["request"], stated.THRESHOLD)
    out["at_thresholds"] = {f"{x:.1f}": {k: v["rate"] for k, v in zip(("precision", "recall"),
                                                                         _precision_recall(positive, scores["request"], x))}
                            for x in DETECTION_THRESHOLDS}
    return out


def _precision_recall(positive: list[float], negative: list[float], threshold: float) -> tuple[dict, dict]:
    hits = sum(p >= threshold for p in positive)
    false = sum(p >= threshold for p in negative)
    return _rate([True] * hits + [False] * false), _rate([True] * hits + [False] * (len(positive) - hits))


def same_subject(kinds: dict[str, list[dict]], picked: list[tuple[str, int]], embed, seed: int) -> dict[str, Any]:
    """Cosine of same-subject and different-subject pairs, and the share the rule merges."""
    statements = [t["text"] for t in kinds["statement"]]
    restated = [t["sentence"] for t in kinds["persona_turn"]]
    rng = random.Random(f"{seed}:pairs")
    same_topic, other_topic = [], []
    for n, (topic, _) in enumerate(picked):
        mates = [m for m, (t, _) in enumerate(picked) if t == topic and m != n]
        strangers = [m for m, (t, _) in enumerate(picked) if t != topic]
        if mates:
            same_topic.append((n, rng.choice(mates)))
        other_topic.append((n, rng.choice(strangers)))
    sims = cosine(embed, statements, statements)
    pairs = {"same subject (a statement and its restatement)":
             [float(s) for s in np.diag(cosine(embed, statements, restated))],
             "different subjects, same topic": [float(sims[a, b]) for a, b in same_topic],
             "different subjects, other topics": [float(sims[a, b]) for a, b in other_topic]}
    return {name: {"merged": _rate([v >= stated.SAME_SUBJECT for v in values]),
                   "merged_at": {f"{x:.1f}": round(fmean(v >= x for v in values), 3) for x in THRESHOLDS},
                   "cosine_quartiles": [round(float(q), 3) for q in np.quantile(values, [0.25, 0.5, 0.75])]}
            for name, values in pairs.items() if values} | {"threshold": stated.SAME_SUBJECT}


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown(report: dict[str, Any]) -> str:
    d = report["detection"]
    lines = [f"# Stated preferences: detection and same subject\n", f"Command: `{report['command']}`  ",
             f"Model: {report['model']}; {report['records']} PrefEval records (seed {report['seed']}); "
             f"threshold p(preference) ≥ {report['threshold']}; {report['minutes']} min.\n",
             "| turns | n | kept | 95% interval | sent to the model (sentences per turn) | seconds per turn |",
             "|---|---|---|---|---|---|"]
    names = {"statement": "explicit statements (positive)", "persona_turn": "persona turns with the preference (positive)",
             "other_turn": "other persona turns (unlabelled)", "request": "ordinary requests (negative)"}
    for kind, label in names.items():
        row = d[kind]
        lines.append(f"| {label} | {row['n']} | {row['rate']:.3f} | [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}] | "
                     f"{row['calls_per_turn']:.2f} | {row['seconds_per_turn']:.2f} |")
    kept = d["persona_turn"].get("kept_the_preference_sentence")
    lines += ["", f"Precision {d['precision']['rate']:.3f} [{d['precision']['ci95'][0]:.3f}, {d['precision']['ci95'][1]:.3f}], "
              f"recall {d['recall']['rate']:.3f} [{d['recall']['ci95'][0]:.3f}, {d['recall']['ci95'][1]:.3f}] "
              "(explicit statements and persona turns against ordinary requests)."]
    if kept:
        lines.append(f"Persona turns whose kept words include the preference's sentence: {kept['rate']:.3f} "
                     f"[{kept['ci95'][0]:.3f}, {kept['ci95'][1]:.3f}].")
    lines.append("Had the threshold been: " + "; ".join(
        f"{x}: precision {_cell(v['precision'])}, recall {_cell(v['recall'])}" for x, v in d["at_thresholds"].items()) + ".")
    s = report["same_subject"]
    lines += ["", f"## Same subject (cosine ≥ {s['threshold']})", "",
              "| pairs | n | merged | 95% interval | cosine quartiles | merged at " + ", ".join(map(str, THRESHOLDS)) + " |",
              "|---|---|---|---|---|---|"]
    for name, row in s.items():
        if name != "threshold":
            m = row["merged"]
            lines.append(f"| {name} | {m['n']} | {m['rate']:.3f} | [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}] | "
                         f"{', '.join(f'{q:.2f}' for q in row['cosine_quartiles'])} | "
                         f"{', '.join(f'{v:.2f}' for v in row['merged_at'].values())} |")
    return "\n".join(lines) + "\n"


def measure(root: Path, out: Path, model, embed, meta: dict[str, Any], records: int = 100, seed: int = 0,
            retry=None) -> dict[str, Any]:
    began = time.monotonic()
    picked = sample(Path(root), records, seed)
    kinds = labelled_turns(Path(root), picked, embed)
    report = {**meta, "records": len(picked), "seed": seed, "threshold": stated.THRESHOLD,
              "detection": detection(model, kinds, retry), "same_subject": same_subject(kinds, picked, embed, seed)}
    report["minutes"] = round((time.monotonic() - began) / 60, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(markdown(report))
    return report
