"""How often a later filler statement would replace the user's own at a distance, by threshold of the
same-subject rule; the embedder and the cheap filter, no language model::

    .venv/bin/python benchmarks/supersession_at_distance.py --records 100 --distance 100 --seed 1

For each PrefEval record (explicit form), the user's statement is kept first; then every sentence of
the record's filler turns (the evaluation's own draw, ``eval.prefeval.load_prefeval``) that the
cheap filter lets through (``persona.stated.may_state``) is added as a later statement, as the
detector would add it had the model named every one a preference: an upper bound on what comes
later, since the model turns most of them down. The rule (``persona.stated.merged``) runs at each
threshold, and the benchmark counts the records whose own statement is replaced, and the records
whose own statement is kept and among those the prompt shows (``persona.stated.narrowed``, the
``--shown`` closest to the question alone, or to the question with its options as the product
now chooses them); both shares are of all records.

Beside it, at each threshold, the share of same-subject pairs the rule merges: the record's
statement and the sentence of its persona-form conversation closest to that preference, the pair
``personaagent eval statements`` reports (a restatement, the closest proxy for a user who says the
same thing again or changes their mind that the dataset labels).
"""

from __future__ import annotations

import argparse
from statistics import fmean
from pathlib import Path

import numpy as np

from personaagent.answers.closed_form import AnswerSpec
from personaagent.context import Context
from personaagent.eval.prefeval import load_prefeval
from personaagent.eval.statements import cosine, restatement
from personaagent.memory.embeddings import MiniLMEmbeddingFunction
from personaagent.eval.stats import mcnemar_exact
from personaagent.persona import stated

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "prefeval"
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--distance", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shown", type=int, nargs="+", default=[Context().statements_shown, 10],
                        help="statements shown for the question, each value its own column")
    args = parser.parse_args()

    embedder = MiniLMEmbeddingFunction()  # the store's default, what the evaluation embeds with
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> list[np.ndarray]:
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            cache.update(zip(missing, embedder(missing)))
        return [cache[t] for t in texts]

    users = load_prefeval(args.data, form="explicit", n_records=args.records, seed=args.seed, distance=args.distance)
    narrowings = ("the question alone", "the question with its options")
    later_counts, replaced, merged_pairs = [], {x: 0 for x in THRESHOLDS}, {x: 0 for x in THRESHOLDS}
    shown = {(x, by, k): [] for x in THRESHOLDS for by in narrowings for k in args.shown}
    for user in users:
        own = stated.Statement(user.stated_preference, "2000-01-01", "own")
        later = [stated.Statement(s, "2000-01-02", f"f{n}") for n, turn in enumerate(user.history)
                 if "filler_from" in turn.metadata for s in stated.sentences(turn.query) if stated.may_state(s)]
        later_counts.append(len(later))
        item = user.test[0]
        requests = dict(zip(narrowings, (item.query, AnswerSpec.of(item.options).stored_query(item.query))))
        restated = restatement(args.data, item.attributes["topic"], item.attributes["index"], embed)[-1]
        closeness = float(cosine(embed, [user.stated_preference], [restated])[0, 0])
        for x in THRESHOLDS:
            merged_pairs[x] += closeness >= x
            kept, _ = stated.merged([own], later, embed, same_subject=x)
            replaced[x] += own not in kept
            persona = stated.with_statements("", kept)
            for (x_, by, k), flags in shown.items():
                if x_ == x:
                    flags.append(own in stated.statements(stated.narrowed(persona, requests[by], embed, k)))

    n = len(users)
    print(f"{n} PrefEval explicit records (seed {args.seed}), {args.distance} filler turns each; "
          f"{np.mean(later_counts):.1f} later sentences pass the filter per record "
          f"(min {min(later_counts)}, max {max(later_counts)}).")
    print("same-subject threshold | restatement pairs merged | own statement replaced | "
          + " | ".join(f"kept and among the {k} shown, chosen by {by}" for by in narrowings for k in args.shown))
    for x in THRESHOLDS:
        print(f"{x:.2f} | {merged_pairs[x] / n:.3f} | {replaced[x] / n:.3f} | "
              + " | ".join(f"{fmean(shown[x, by, k]):.3f}" for by in narrowings for k in args.shown))
    x, k = stated.SAME_SUBJECT, args.shown[0]
    alone, with_options = shown[x, narrowings[0], k], shown[x, narrowings[1], k]
    test = mcnemar_exact(with_options, alone)
    print(f"At the rule's threshold {x} and {k} shown: chosen with the options {fmean(with_options):.3f}, by the "
          f"question alone {fmean(alone):.3f}; shown only with the options {test['only_first_right']}, only by the "
          f"question alone {test['only_second_right']} (McNemar exact p = {test['p']:.3f}).")

if __name__ == "__main__":
    main()
