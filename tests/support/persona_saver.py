"""Races another process to store an optimized persona for the same users
(``python persona_saver.py PATH_OR_HOST:PORT_OR_URL TAG BARRIER_DIR TRIALS``): for each trial it waits
until both processes are ready, then saves on top of version 1 and prints what it was told."""

import sys
import time
from pathlib import Path

from personaagent.errors import PersonaConflict

from stores import open_store

where, tag, barrier, trials = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
memory = open_store(where)
for trial in range(trials):
    (barrier / f"{trial}.{tag}").touch()
    while len(list(barrier.glob(f"{trial}.*"))) < 2:  # both processes at the line
        time.sleep(0.0005)
    try:
        version = memory.save_optimized_persona(f"user{trial}", f"persona by {tag}", 1, loss=0.1, critique="",
                                                run_marker=f"{tag}:{trial}")
        print(f"{trial} saved v{version.version}", flush=True)
    except PersonaConflict:
        print(f"{trial} conflict", flush=True)
