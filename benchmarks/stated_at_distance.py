"""Where the user's own statement went, in a finished PrefEval run at a distance; the embedder, no language model::

    .venv/bin/python benchmarks/stated_at_distance.py --out results/prefeval-explicit-d100 --distance 100

For each record the run finished (``OUT/users``), it reads the user's current persona from the run's
store (``OUT/store``, kept beside the results and not committed) and sorts the record into one of:

- ``shown``: a kept statement is the preference as the dataset states it (cosine ≥ ``--same``
  under the store's embedder) and it is among the ``--shown`` closest to the question, what the
  agent's prompt shows (``Context.statements_shown``, ``persona.stated.narrowed``);
- ``kept, not shown``: kept, but not among those shown;
- ``replaced``: not kept, though the run at distance 0 (``--d0``) kept a statement for that record:
  a later filler statement on a similar subject replaced it (``persona.stated.merged``);
- ``not found``: not kept, and not kept at distance 0 either: the detector missed it.

Then it prints the default path's accuracy in each class. The store is opened, never written.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from personaagent.context import Context
from personaagent.eval.prefeval import load_prefeval
from personaagent.memory.store import memory_for
from personaagent.persona.stated import narrowed, statements

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "prefeval"


def _kept_at_d0(d0: Path, user_id: str) -> bool:
    path = d0 / "users" / f"{user_id}.json"
    return path.exists() and json.loads(path.read_text()).get("statements", {}).get("kept", 0) > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a finished (or partial) PrefEval run folder")
    parser.add_argument("--d0", type=Path, default=ROOT / "results" / "prefeval-explicit-d0",
                        help="the same records at distance 0 (default results/prefeval-explicit-d0)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--form", default="explicit")
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--distance", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shown", type=int, default=Context().statements_shown)
    parser.add_argument("--same", type=float, default=0.9, help="cosine at which a kept statement is the user's own")
    args = parser.parse_args()

    done = {p.stem for p in (args.out / "users").glob("*.json")}
    users = [u for u in load_prefeval(args.data, form=args.form, n_records=args.records, seed=args.seed,
                                      distance=args.distance) if u.user_id in done]
    memory = memory_for(Context(chroma_path=str(args.out / "store")))
    counts, right = Counter(), defaultdict(int)
    for user in users:
        persona = memory.current_persona(user.user_id).text
        kept = statements(persona)
        item = user.test[0]
        own = None
        if kept:
            vectors = np.asarray(memory.embedder([user.stated_preference, *(s.text for s in kept)]), dtype=float)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            similarity = vectors[1:] @ vectors[0]
            if similarity.max() >= args.same:
                own = kept[int(similarity.argmax())]
        if own is not None:
            where = "shown" if own in statements(narrowed(persona, item.query, memory.embedder, args.shown)) else \
                "kept, not shown"
        else:
            where = "replaced" if _kept_at_d0(args.d0, user.user_id) else "not found"
        record = json.loads((args.out / "users" / f"{user.user_id}.json").read_text())
        probs = record["rungs"]["default"]["items"][0]["probs"]
        counts[where] += 1
        right[where] += int(np.argmax(probs)) == item.options.index(item.ground_truth)
        print(f"{user.user_id}: {len(kept)} statements kept; the user's own {where}")
    print(f"\n{len(users)} records; {args.shown} statements shown; the default path's accuracy by class:")
    for where in ("shown", "kept, not shown", "replaced", "not found"):
        if counts[where]:
            print(f"  {where}: {counts[where]} records, {right[where]} right")


if __name__ == "__main__":
    main()
