"""Writes COUNT interactions for alice, one add() per interaction, tagged TAG
(``python writer.py PATH_OR_HOST:PORT_OR_URL TAG COUNT``); used to race two processes."""

import sys

from personaagent.memory import Interaction

from stores import open_store

where, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
memory = open_store(where)
for n in range(count):
    memory.episodes.add([Interaction(user_id="alice", query=f"{tag} request {n}", answer="ok", timestamp=1000.0 + n)])
print("wrote", count, flush=True)
