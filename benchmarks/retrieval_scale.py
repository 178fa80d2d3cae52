"""Retrieval at scale: a user's top-k query over a Chroma store of many users' memories, against
a brute-force numpy scan of that user's vectors, measured side by side in one run; and ingest
throughput against the raw embedder's throughput.

The store gets USERS × PER_USER interactions (default 1000 × 100 = 100k), embedded with the
embedded int8 MiniLM (the default embedder). Queries are new texts from the same generator, for
QUERIES distinct users, each searched twice. Each path is timed in its own pass over the same users
and texts (see the comment in main). Timed per query:
  store, first     MemoryStore.episodes.search(user, text, k), the user's first search in this
                   process (or the first after a write): revision check + loading the user's rows
                   from Chroma + embed the text + exact scan
  store, again     the same user's next search: revision check + embed the text + exact scan
  store, warmed    a user's first search in a store that warmed its cache at start-up
                   (MemoryStore.warm_cache, what a serving process does; its time is reported)
  store, after write  the same user's search PAUSE seconds after this process wrote a new row for
                   them (the agent's next turn): the write queued a background reload
  store, uncached  a store opened with cache_rows=0: embed the text + filtered Chroma (HNSW) query
  numpy, embedded  embed the text + cosine scan of the user's vectors held in a numpy matrix
  numpy, embedded, after a pause  the same PAUSE seconds after the previous call: the baseline of
                   "store, after write" (on these machines the embedder runs about 3× slower on its
                   first call after an idle fraction of a second, compare the two numpy rows, so
                   both sides get the pause)
  Chroma by vector the filtered Chroma query alone, given the query vector
  numpy by vector  the scan alone, given the query vector
Recall@k against the exact numpy top-k is reported for the store and for Chroma's HNSW.

    python benchmarks/retrieval_scale.py [--users 1000] [--per-user 100] [--queries 300] [--k 4]
"""

from __future__ import annotations

import argparse
import random
import resource
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
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds between a user's write and their next search, for 'store, after write'")
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
        memory.episodes.vectors.bump(f"user{u}" for u in range(args.users))  # writes that bypass episodes.add
        write_s = time.perf_counter() - start
        by_user = {f"user{u}": vectors[u * args.per_user:(u + 1) * args.per_user] for u in range(args.users)}

        # Each path is timed in a pass of its own over the same users and texts: a filtered Chroma
        # query slows the Chroma calls made right after it, so interleaving the paths would charge
        # the uncached path's after-effects to the cached one.
        uncached = MemoryStore.open(f"{tmp}/scale", embedder=embedder, cache_rows=0)
        users = [f"user{u}" for u in rng.sample(range(args.users), min(args.queries, args.users))]
        firsts, queries = [text(rng) for _ in users], [text(rng) for _ in users]
        times: dict[str, list[float]] = {}

        def timed(name: str, run) -> list:
            times[name], out = [], []
            for user, first, query in tqdm(list(zip(users, firsts, queries)), desc=name, leave=False):
                start = time.perf_counter()
                out.append(run(user, first, query))
                times[name].append(time.perf_counter() - start)
            return out

        def first_then_again(user, first, query):
            start = time.perf_counter()
            memory.episodes.search(user, first, k=args.k)
            times.setdefault("store, first", []).append(time.perf_counter() - start)
            start = time.perf_counter()
            found = memory.episodes.search(user, query, k=args.k)
            times.setdefault("store, again", []).append(time.perf_counter() - start)
            return {i.id for i in found}

        def numpy_scan(user, vec):
            return np.argpartition(-(by_user[user] @ vec), args.k)[:args.k]  # row numbers, named after timing

        stored = [first_then_again(*row) for row in tqdm(list(zip(users, firsts, queries)), desc="store", leave=False)]

        def warmed_pass():  # its store, with 100k cached rows, is dropped on return
            served = MemoryStore.open(f"{tmp}/scale", embedder=embedder)  # a serving process's store
            start = time.perf_counter()
            loaded = served.warm_cache().result()
            took = time.perf_counter() - start
            return loaded, took, timed("store, warmed", lambda u, f, _: {
                i.id for i in served.episodes.search(u, f, k=args.k)})

        warmed_users, warm_s, warmed = warmed_pass()
        exact = timed("numpy, embedded", lambda u, _, q: numpy_scan(u, np.asarray(embedder([q])[0], dtype=np.float32)))
        timed("store, uncached", lambda u, _, q: uncached.episodes.search(u, q, k=args.k))
        vecs = {q: np.asarray(v, dtype=np.float32) for q, v in zip(queries, embedder(queries))}
        found = timed("Chroma by vector", lambda u, _, q: set(memory.episodes.collection.query(
            query_embeddings=[vecs[q]], n_results=args.k, where=user_filter(u), include=[])["ids"][0]))
        timed("numpy by vector", lambda u, _, q: numpy_scan(u, vecs[q]))
        exact = [{f"{u}-{i}" for i in rows_found} for u, rows_found in zip(users, exact)]

        def after_own_write(user, first, query):
            memory.episodes.add([Interaction(user_id=user, query=first, answer="ok", timestamp=1e6)])
            time.sleep(args.pause)  # the time between one turn's write and the next turn's search
            start = time.perf_counter()
            memory.episodes.search(user, query, k=args.k)
            times.setdefault("store, after write", []).append(time.perf_counter() - start)
            time.sleep(args.pause)
            start = time.perf_counter()
            numpy_scan(user, np.asarray(embedder([query])[0], dtype=np.float32))
            times.setdefault("numpy, embedded, after a pause", []).append(time.perf_counter() - start)

        for row in tqdm(list(zip(users, firsts, queries)), desc="after a write", leave=False):
            after_own_write(*row)  # last: it adds a row to each searched user
        exact_firsts = [{f"{u}-{i}" for i in numpy_scan(u, v)}
                        for u, v in zip(users, np.asarray(embedder(firsts), dtype=np.float32))]
        hits = {"store": sum(len(e & s) for e, s in zip(exact, stored)),
                "store, warmed": sum(len(e & w) for e, w in zip(exact_firsts, warmed)),
                "Chroma": sum(len(e & f) for e, f in zip(exact, found))}
        cached_rows = memory.episodes.vectors.cached_rows

    print(f"store: {len(rows)} memories over {args.users} users ({args.per_user} each), k={args.k}, "
          f"{len(users)} users searched")
    print(f"building it: embedding {embed_s:.0f} s ({len(rows) / embed_s:.0f} texts/s), Chroma writes {write_s:.0f} s "
          f"({len(rows) / write_s:.0f} rows/s)")
    print(f"warm-up of a fresh store: {warmed_users} users, {warm_s:.1f} s")
    print(f"{'query path':<30} {'p50 ms':>8} {'p95 ms':>8}")
    for name, values in times.items():
        print(f"{name:<30} {percentile(values, 50) * 1e3:>8.2f} {percentile(values, 95) * 1e3:>8.2f}")
    for name, baseline in (("store, again", "numpy, embedded"), ("store, warmed", "numpy, embedded"),
                           ("store, after write", "numpy, embedded, after a pause"),
                           ("store, first", "numpy, embedded"), ("store, uncached", "numpy, embedded")):
        ratio = percentile(times[name], 95) / percentile(times[baseline], 95)
        print(f"p95 ratio {name} / {baseline}: {ratio:.2f}  (target ≤ 2: {'met' if ratio <= 2 else 'NOT met'})")
    by_vector = percentile(times["Chroma by vector"], 95) / percentile(times["numpy by vector"], 95)
    print(f"p95 ratio, search alone (Chroma by vector / numpy by vector): {by_vector:.1f}")
    for name, n in hits.items():
        print(f"{name} recall@{args.k} against the exact numpy top-{args.k}: {n / (len(users) * args.k):.3f}")
    print(f"rows held by the store's vector cache at the end: {cached_rows}; "
          f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"ingest: MemoryStore.episodes.add {ingest_rate:.0f} rows/s, raw embedder {raw_rate:.0f} texts/s "
          f"(ratio {ingest_rate / raw_rate:.2f}) over {args.ingest_sample} rows")


if __name__ == "__main__":
    main()
