"""Retrieval at scale: a user's top-k query over a Chroma store of many users' memories, against
a brute-force numpy scan of that user's vectors, measured side by side in one run; and ingest
throughput against the raw embedder's throughput.

The store gets USERS × PER_USER interactions (default 1000 × 100 = 100k), embedded with the
embedded int8 MiniLM (the default embedder). Queries are new texts from the same generator.
Timed per query, over QUERIES queries:
  store search     MemoryStore.episodes.search(user, text, k): embed the text + filtered Chroma query
  numpy, embedded  embed the text + cosine scan of the user's vectors held in a numpy matrix
  Chroma by vector the filtered Chroma query alone, given the query vector
  numpy by vector  the scan alone, given the query vector
Recall@k of Chroma against the exact numpy top-k is reported too (HNSW is approximate).

    python benchmarks/retrieval_scale.py [--users 1000] [--per-user 100] [--queries 300] [--k 4]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

import numpy as np
from tqdm import tqdm

from personaagent.memory import Interaction, MemoryStore
from personaagent.memory.embeddings import MiniLMEmbeddingFunction
from personaagent.memory.episodic import _to_metadata, user_filter

GENRES = ["drama", "comedy", "horror", "sci-fi", "romance", "documentary", "thriller", "animation", "western", "musical"]
THINGS = ["movie", "album", "novel", "restaurant", "hiking trail", "podcast", "board game", "city trip", "recipe", "museum"]
MOODS = ["slow and quiet", "loud and fast", "funny", "dark", "family friendly", "experimental", "classic", "new"]


def text(rng: random.Random) -> str:
    return (f"{rng.choice(['Pick', 'Recommend', 'Which', 'Should I try'])} a {rng.choice(MOODS)} {rng.choice(GENRES)} "
            f"{rng.choice(THINGS)}: {rng.choice(MOODS)} one or a {rng.choice(GENRES)} one? #{rng.randrange(10**6)}")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def embed_all(embedder, texts: list[str], batch: int = 256, desc: str = "embed") -> np.ndarray:
    out = []
    for start in tqdm(range(0, len(texts), batch), desc=desc, unit="batch", leave=False):
        out.extend(embedder(texts[start:start + batch]))
    return np.asarray(out, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--ingest-sample", type=int, default=2000, help="rows for the ingest-throughput comparison")
    args = parser.parse_args()
    rng = random.Random(0)
    embedder = MiniLMEmbeddingFunction()
    embedder(["warm-up"])

    with tempfile.TemporaryDirectory() as tmp:
        # Ingest throughput: MemoryStore.episodes.add (embeds + writes) against the embedder alone.
        sample = [text(rng) for _ in range(args.ingest_sample)]
        start = time.perf_counter()
        embed_all(embedder, sample, desc="raw embedder")
        raw_rate = len(sample) / (time.perf_counter() - start)
        memory = MemoryStore.open(f"{tmp}/ingest", embedder=embedder)
        items = [Interaction(user_id=f"u{n % 50}", query=t, answer="ok", timestamp=float(n)) for n, t in enumerate(sample)]
        start = time.perf_counter()
        memory.episodes.add(items)
        ingest_rate = len(items) / (time.perf_counter() - start)

        # The big store: every user's rows, embedded once, written with the same metadata as add().
        memory = MemoryStore.open(f"{tmp}/scale", embedder=embedder)
        rows = [Interaction(user_id=f"user{u}", query=text(rng), answer="ok", timestamp=float(j), id=f"user{u}-{j}")
                for u in range(args.users) for j in range(args.per_user)]
        start = time.perf_counter()
        vectors = embed_all(embedder, [r.query for r in rows], desc=f"embed {len(rows)} rows")
        embed_s = time.perf_counter() - start
        start = time.perf_counter()
        for at in tqdm(range(0, len(rows), 2000), desc="write", unit="batch", leave=False):
            part = rows[at:at + 2000]
            memory.episodes.collection.upsert(ids=[r.id for r in part], embeddings=vectors[at:at + 2000],
                                              documents=[r.query for r in part], metadatas=[_to_metadata(r) for r in part])
        write_s = time.perf_counter() - start
        by_user = {f"user{u}": vectors[u * args.per_user:(u + 1) * args.per_user] for u in range(args.users)}

        times: dict[str, list[float]] = {k: [] for k in ("store search", "numpy, embedded", "Chroma by vector", "numpy by vector")}
        hits = 0
        for _ in tqdm(range(args.queries), desc="queries", leave=False):
            user, query = f"user{rng.randrange(args.users)}", text(rng)
            start = time.perf_counter()
            memory.episodes.search(user, query, k=args.k)
            times["store search"].append(time.perf_counter() - start)
            start = time.perf_counter()
            vec = np.asarray(embedder([query])[0], dtype=np.float32)
            exact = np.argpartition(-(by_user[user] @ vec), args.k)[:args.k]
            times["numpy, embedded"].append(time.perf_counter() - start)
            start = time.perf_counter()
            found = memory.episodes.collection.query(query_embeddings=[vec], n_results=args.k, where=user_filter(user),
                                                     include=[])
            times["Chroma by vector"].append(time.perf_counter() - start)
            start = time.perf_counter()
            np.argpartition(-(by_user[user] @ vec), args.k)[:args.k]
            times["numpy by vector"].append(time.perf_counter() - start)
            hits += len({f"{user}-{i}" for i in exact} & set(found["ids"][0]))

    print(f"store: {len(rows)} memories over {args.users} users ({args.per_user} each), k={args.k}, {args.queries} queries")
    print(f"building it: embedding {embed_s:.0f} s ({len(rows) / embed_s:.0f} texts/s), Chroma writes {write_s:.0f} s "
          f"({len(rows) / write_s:.0f} rows/s)")
    print(f"{'query path':<18} {'p50 ms':>8} {'p95 ms':>8}")
    for name, values in times.items():
        print(f"{name:<18} {percentile(values, 50) * 1e3:>8.2f} {percentile(values, 95) * 1e3:>8.2f}")
    end_to_end = percentile(times["store search"], 95) / percentile(times["numpy, embedded"], 95)
    by_vector = percentile(times["Chroma by vector"], 95) / percentile(times["numpy by vector"], 95)
    print(f"p95 ratio, with embedding (store search / numpy, embedded): {end_to_end:.2f}  (target ≤ 2: "
          f"{'met' if end_to_end <= 2 else 'NOT met'})")
    print(f"p95 ratio, search alone (Chroma by vector / numpy by vector): {by_vector:.1f}")
    print(f"Chroma recall@{args.k} against the exact numpy top-{args.k}: {hits / (args.queries * args.k):.3f}")
    print(f"ingest: MemoryStore.episodes.add {ingest_rate:.0f} rows/s, raw embedder {raw_rate:.0f} texts/s "
          f"(ratio {ingest_rate / raw_rate:.2f}) over {args.ingest_sample} rows")


if __name__ == "__main__":
    main()
