"""How Chroma's filtered calls scale with the size of the collection, not of the user's share.

Builds collections of 10k and 100k rows (random 384-dimension vectors, the episodes' metadata
fields, 100 rows per user) in a temporary persistent directory each, and times per call (p50 and
p95 over CALLS calls, a random user each time):
  get by user           get(where={"user_id": u}), ids only
  get user's rows       the same with embeddings, documents and metadatas (what the vector cache loads)
  query by user         a top-4 query filtered on the user (what search did without the cache)
  query, no filter      a top-4 query over the whole collection
  get by id             get(ids=[one id]) (what the cache's revision check costs)

    python benchmarks/chroma_filter_scaling.py [--sizes 10000 100000] [--calls 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import chromadb
import numpy as np
from chromadb.config import Settings

PER_USER = 100


def build(path: str, rows: int, rng: np.random.Generator):
    client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    col = client.get_or_create_collection("rows", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
    for at in range(0, rows, 5000):
        ids = [f"user{i // PER_USER}-{i % PER_USER}" for i in range(at, min(rows, at + 5000))]
        col.upsert(ids=ids, embeddings=rng.standard_normal((len(ids), 384)).astype(np.float32),
                   documents=[f"text of {i}" for i in ids],
                   metadatas=[{"user_id": i.split("-")[0], "timestamp": 1.0, "answer": "ok", "labelled": False,
                               "source": "agent", "meta": "{}"} for i in ids])
    return col


def timing(call, calls: int) -> tuple[float, float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    q = statistics.quantiles(times, n=100, method="inclusive")
    return q[49] * 1e3, q[94] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'call':<18}" + "".join(f"{f'{n} rows p50 / p95 ms':>26}" for n in args.sizes))
    results: dict[str, list[str]] = {}
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            col = build(tmp, size, rng)
            users = size // PER_USER
            user = lambda: f"user{rng.integers(users)}"  # noqa: E731
            vector = lambda: rng.standard_normal(384).astype(np.float32)  # noqa: E731
            calls = {
                "get by user": lambda: col.get(where={"user_id": user()}, include=[]),
                "get user's rows": lambda: col.get(where={"user_id": user()},
                                                   include=["embeddings", "documents", "metadatas"]),
                "query by user": lambda: col.query(query_embeddings=[vector()], n_results=4,
                                                   where={"user_id": user()}, include=[]),
                "query, no filter": lambda: col.query(query_embeddings=[vector()], n_results=4, include=[]),
                "get by id": lambda: col.get(ids=[f"{user()}-7"], include=["metadatas"]),
            }
            for name, call in calls.items():
                p50, p95 = timing(call, args.calls)
                results.setdefault(name, []).append(f"{p50:.2f} / {p95:.2f}")
    for name, cells in results.items():
        print(f"{name:<18}" + "".join(f"{cell:>26}" for cell in cells))


if __name__ == "__main__":
    main()
