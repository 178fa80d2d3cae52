"""Writes COUNT interactions for alice, one add() per interaction, tagged TAG
(``python writer.py PATH_OR_HOST:PORT TAG COUNT``); used to race two processes."""

import sys

from personaagent.memory import Interaction, MemoryStore
from personaagent.testing import HashEmbeddingFunction

where, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, _, port = where.partition(":") if not where.startswith("/") else ("", "", "")
memory = (MemoryStore.open(host=host, port=int(port), embedder=HashEmbeddingFunction()) if host
          else MemoryStore.open(where, embedder=HashEmbeddingFunction()))
for n in range(count):
    memory.episodes.add([Interaction(user_id="alice", query=f"{tag} request {n}", answer="ok", timestamp=1000.0 + n)])
print("wrote", count, flush=True)
