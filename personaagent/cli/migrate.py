"""``personaagent migrate --from SOURCE --to TARGET``: copy every user's memory between stores (a
Chroma directory, a Chroma server HOST:PORT, a postgresql:// URL) and check the copy."""

from __future__ import annotations

import re
import sys
from pathlib import Path

HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}")


def open_location(where: str, embedder, *, source: bool):
    """The store at ``where``: a postgresql:// URL, a Chroma server's HOST:PORT, else a Chroma
    directory (a source directory must hold a Chroma store already)."""
    from ..errors import PersonaAgentError
    from ..memory import MemoryStore
    from ..memory.postgres import is_postgres_url

    if is_postgres_url(where):
        return MemoryStore.open(url=where, embedder=embedder)
    if HOST_PORT.fullmatch(where) and not Path(where).exists():
        host, port = where.rsplit(":", 1)
        return MemoryStore.open(host=host, port=int(port), embedder=embedder)
    if source and not (Path(where) / "chroma.sqlite3").is_file():
        raise PersonaAgentError(f"no Chroma store at {where!r} (a directory with chroma.sqlite3, a Chroma server "
                                "HOST:PORT, or a postgresql:// URL)")
    return MemoryStore.open(where, embedder=embedder)


def cmd_migrate(args) -> int:
    from ..context import Context
    from ..errors import PersonaAgentError
    from ..memory.embeddings import embedding_function
    from ..memory.migrate import migrate

    if args.source == args.target:
        raise PersonaAgentError("--from and --to name the same store")
    if args.batch < 1:
        raise PersonaAgentError(f"--batch must be at least 1 (got {args.batch})")
    context = Context()
    embedder = embedding_function(context.embedding_base_url, context.embedding_model)
    source = open_location(args.source, embedder, source=True)
    target = open_location(args.target, embedder, source=False)

    def progress(collection: str, read: int, written: int) -> None:
        print(f"  {collection}: {read} read, {written} written", file=sys.stderr)

    reports = migrate(source, target, page_rows=args.batch, on_page=progress if args.verbose else None)
    print(f"{'collection':<16} {'source':>9} {'target':>9} {'written':>9}  checksum")
    for r in reports:
        print(f"{r.collection:<16} {r.source_rows:>9} {r.target_rows:>9} {r.written:>9}  "
              f"{r.source_checksum[:16]} {'=' if r.matches else '≠'} {r.target_checksum[:16]}")
    differ = [r.collection for r in reports if not r.matches]
    if differ:
        raise PersonaAgentError(f"the target differs from the source in {', '.join(differ)} (it holds rows the "
                                "source lacks, or the source changed during the copy); nothing was deleted")
    print(f"copied: {sum(r.source_rows for r in reports)} rows, {sum(r.written for r in reports)} written this run; "
          "counts and checksums match")
    return 0


def add_commands(sub) -> None:
    migrate = sub.add_parser(
        "migrate", help="copy every user's memory between Chroma and Postgres, and check the copy",
        description="Copy every collection of every user from one store to another: a Chroma directory, a "
        "Chroma server (HOST:PORT) or a PostgreSQL database (postgresql://…), either way. Rows the target "
        "already holds unchanged are not written again, so an interrupted migration resumes where it stopped "
        "and a second run writes nothing. At the end both sides are compared, collection by collection, by "
        "row count and checksum; the exit status is non-zero if they differ. Stop writers meanwhile. Both "
        "stores are opened with the configured embedder (PERSONAAGENT_EMBEDDING_BASE_URL and _MODEL); episode vectors are "
        "copied, other collections re-embedded by the target.")
    migrate.add_argument("--from", dest="source", required=True, help="source: Chroma directory, HOST:PORT or URL")
    migrate.add_argument("--to", dest="target", required=True, help="target: Chroma directory, HOST:PORT or URL")
    migrate.add_argument("--batch", type=int, default=500, help="rows per page (default 500)")
    migrate.add_argument("--verbose", action="store_true", help="report every page")
    migrate.set_defaults(func=cmd_migrate)
