"""Bad input, as a table: each case runs the `personaagent` CLI in-process against a seeded store
(a Chroma directory, and a Postgres database) and must exit non-zero with a message that names the
problem, leaving every stored row as it was. (The model-file cases — a missing part package, a
checksum mismatch — are in test_models.py.)"""

from __future__ import annotations

import json

import pytest

from personaagent import cli
from personaagent.context import Context
from personaagent.memory import Interaction, memory_for
from personaagent.memory.migrate import checksum
from personaagent.memory.rows import COLLECTIONS

pytestmark = pytest.mark.backends("chroma", "postgres")

UNREACHABLE_MODEL = {"PERSONAAGENT_BASE_URL": "http://127.0.0.1:9/v1", "PERSONAAGENT_API_KEY": "x",
                     "PERSONAAGENT_RETRY_ATTEMPTS": "1"}
UNREACHABLE = {
    "chroma": ({"PERSONAAGENT_CHROMA_HOST": "127.0.0.1", "PERSONAAGENT_CHROMA_PORT": "9"},
               "cannot reach the Chroma server at 127.0.0.1:9"),
    "postgres": ({"PERSONAAGENT_MEMORY": "postgresql://postgres:secret@127.0.0.1:9/memory"},
                 "cannot reach the Postgres server at postgresql://postgres:***@127.0.0.1:9/memory"),
}

FILES = {
    "bad-json.jsonl": b'{"query": "a or b?", "ground_truth": "a"}\n{not json\n',
    "no-query.jsonl": b'{"ground_truth": "a"}\n',
    "no-answer.jsonl": b'{"query": "a or b?"}\n',
    "latin1.jsonl": '{"query": "caf\u00e9?", "answer": "yes"}\n'.encode("latin-1"),
    "bad-time.jsonl": b'{"query": "a?", "answer": "b", "timestamp": "yesterday-ish"}\n',
    "nested-meta.jsonl": b'{"query": "a?", "answer": "b", "metadata": {"deep": {"x": 1}}}\n',
    "nan-time.jsonl": b'{"query": "a?", "answer": "b", "timestamp": 1}\n{"query": "c?", "answer": "d", "timestamp": NaN}\n',
    "huge-time.jsonl": b'{"query": "a?", "answer": "b", "timestamp": 1e400}\n',
    "far-time.jsonl": b'{"query": "a?", "answer": "b", "timestamp": "9999-01-01T00:00:00Z"}\n',
    "bad-options.jsonl": b'{"query": "a or b?", "ground_truth": "c", "options": ["a", "b"]}\n',
    "bad-scale.jsonl": b'{"query": "rate it", "ground_truth": "7", "scale": {"low": 1, "high": 5, "step": 1}}\n',
    "huge-query.jsonl": json.dumps({"query": "x" * 9000, "answer": "b"}).encode() + b"\n",
    "nul.jsonl": b'{"query": "a?", "answer": "b"}\n{"query": "c?", "answer": "d", "metadata": {"note": "x\\u0000y"}}\n',
    "no-text.csv": b"title,body\nx,y\n",
    "movielens/ratings.csv": b"userId,movieId,timestamp\n1,1,100\n",
    "movielens/movies.csv": b"movieId,title,genres\n1,Alien (1979),Horror\n",
    "prefeval/mcq_options/travel.json": b'[{"question": "Where to?"}]\n',
    "prefeval/implicit_preference/choice-based/travel.json": b"[{\"conversation\": {}}]\n",
    "lamp/questions.json": b'[{"id": "1", "input": "x", "profile": []}]\n',
    "lamp/outputs.json": b'{"task": "LaMP_9", "golds": [{"id": "1", "output": "y"}]}\n',
}

# (case, argv, env, exit code, message)
CASES = [
    ("empty request", ["ask", "--user", "alice", ""], {}, 2, "the user message is empty"),
    ("blank request", ["ask", "--user", "alice", "   \n "], {}, 2, "the user message is empty"),
    ("oversized request", ["ask", "--user", "alice", "x" * 9000], {}, 2, "the limit is 8000"),
    ("non-UTF-8 request", ["ask", "--user", "alice", "caf\udce9?"], {}, 2, "not valid UTF-8"),
    ("NUL in request", ["ask", "--user", "alice", "a\x00b"], {}, 2, "NUL character"),
    ("user id with a path separator", ["ask", "--user", "../bob", "hi"], {}, 2, "may only contain"),
    ("user id with a slash", ["persona", "show", "--user", "alice/../bob"], {}, 2, "may only contain"),
    ("user id with a look-alike letter", ["ask", "--user", "\u0430lice", "hi"], {}, 2, "may only contain"),
    ("user id with a zero-width space", ["runs", "--user", "ali\u200bce"], {}, 2, "may only contain"),
    ("empty user id", ["ask", "--user", "", "hi"], {}, 2, "user id is empty"),
    ("overlong user id", ["runs", "--user", "a" * 65], {}, 2, "the limit is 64"),
    ("malformed JSONL line", ["ingest", "--user", "alice", "--no-profile", "{d}/bad-json.jsonl"], {}, 2, "line 2: not valid JSON"),
    ("JSONL line without query", ["ingest", "--user", "alice", "--no-profile", "{d}/no-query.jsonl"], {}, 2, "line 1"),
    ("JSONL line without answer or truth", ["ingest", "--user", "alice", "--no-profile", "{d}/no-answer.jsonl"], {}, 2, "line 1"),
    ("JSONL file not UTF-8", ["ingest", "--user", "alice", "--no-profile", "{d}/latin1.jsonl"], {}, 2, "not valid UTF-8"),
    ("JSONL bad timestamp", ["ingest", "--user", "alice", "--no-profile", "{d}/bad-time.jsonl"], {}, 2, "timestamp"),
    ("JSONL nested metadata", ["ingest", "--user", "alice", "--no-profile", "{d}/nested-meta.jsonl"], {}, 2, "metadata"),
    ("JSONL NaN timestamp", ["ingest", "--user", "alice", "--no-profile", "{d}/nan-time.jsonl"], {}, 2,
     "line 2: timestamp nan is not a finite number"),
    ("JSONL infinite timestamp", ["ingest", "--user", "alice", "--no-profile", "{d}/huge-time.jsonl"], {}, 2,
     "line 1: timestamp inf is not a finite number"),
    ("JSONL timestamp in the year 9999", ["ingest", "--user", "alice", "--no-profile", "{d}/far-time.jsonl"], {}, 2,
     "outside 1900–2200"),
    ("JSONL ground truth not among its options", ["ingest", "--user", "alice", "--no-profile", "{d}/bad-options.jsonl"],
     {}, 2, "line 1: ground_truth 'c' is not one of the options"),
    ("JSONL rating off its scale", ["ingest", "--user", "alice", "--no-profile", "{d}/bad-scale.jsonl"], {}, 2,
     "line 1: ground_truth 7 is outside the scale 1–5"),
    ("JSONL NUL character", ["ingest", "--user", "alice", "--no-profile", "{d}/nul.jsonl"], {}, 2,
     "line 2: contains a NUL character"),
    ("JSONL oversized query", ["ingest", "--user", "alice", "--no-profile", "{d}/huge-query.jsonl"], {}, 2, "line 1"),
    ("history file missing", ["ingest", "--user", "alice", "--no-profile", "{d}/nowhere.jsonl"], {}, 2, "cannot read"),
    ("knowledge CSV without text", ["ingest", "--user", "alice", "--knowledge", "{d}/no-text.csv"], {}, 2, "no 'text' column"),
    ("rollback to an unknown version", ["persona", "rollback", "--user", "alice", "--to", "99"], {}, 2, "version 99 does not exist"),
    ("show an unknown version", ["persona", "show", "--user", "alice", "--version", "42"], {}, 2, "version 42 does not exist"),
    ("diff with an unknown version", ["persona", "diff", "--user", "alice", "1", "7"], {}, 2, "version 7 does not exist"),
    ("optimize with no labelled history", ["optimize", "--user", "nobody"], {}, 2, "no labelled interactions"),
    ("optimize with batch size 0", ["optimize", "--user", "alice", "--batch-size", "0"], {}, 2, "invalid optimizer settings: batch_size"),
    ("MovieLens file missing a column", ["eval", "movielens", "--data", "{d}/movielens", "--out", "{d}/out-ml"], {}, 2,
     "missing column(s) ['rating']"),
    ("eval versus a folder that is no run", ["eval", "movielens", "--data", "{d}/movielens", "--versus", "{d}/nowhere",
                                            "--out", "{d}/out-ml"], {}, 2, "not a results folder"),
    ("PrefEval record missing a field", ["eval", "prefeval", "--data", "{d}/prefeval", "--records", "1", "--out", "{d}/out-pe"],
     {}, 2, "missing field"),
    ("cold start with an unreadable k", ["eval", "coldstart", "--data", "{d}/movielens", "--k", "3,five", "--out",
                                         "{d}/out-cs"], {}, 2, "--k takes comma-separated numbers"),
    ("cold start whose k reaches the threshold", ["eval", "coldstart", "--data", "{d}/movielens", "--k", "20",
                                                  "--out", "{d}/out-cs"], {}, 2, "must exceed k"),
    ("LaMP outputs of an unknown task", ["eval", "lamp", "--questions", "{d}/lamp/questions.json", "--outputs",
                                          "{d}/lamp/outputs.json", "--out", "{d}/out-lamp"], {}, 2, "LaMP_9"),
    ("unreachable model endpoint", ["ask", "--user", "alice", "Dinner: ramen or salad?"], UNREACHABLE_MODEL, 3,
     "the model endpoint at http://127.0.0.1:9/v1/chat/completions failed"),
    ("memory URL of another database", ["runs", "--user", "alice"], {"PERSONAAGENT_MEMORY": "mysql://db/memory"}, 2,
     "the memory URL 'mysql://db/memory' is not a postgresql:// URL"),
]


def fingerprint(store) -> dict[str, tuple[int, str]]:
    """Every collection's row count and checksum (ids, documents, metadata, episode vectors)."""
    return {name: (sum_.rows, sum_.hexdigest()) for name in COLLECTIONS for sum_ in [checksum(store, name)]}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, backend, request):
    """A home folder, the files of the cases, and a store with alice's history and persona: under
    the home folder on Chroma; in a database named by PERSONAAGENT_MEMORY (``env``) on Postgres."""
    home = tmp_path_factory.mktemp("home")
    files = tmp_path_factory.mktemp("files")
    for name, data in FILES.items():
        (files / name).parent.mkdir(parents=True, exist_ok=True)
        (files / name).write_bytes(data)
    url = request.getfixturevalue("new_database")() if backend == "postgres" else ""
    store = memory_for(Context(chroma_path=str(home / "chroma"), memory_url=url))
    store.episodes.add([Interaction(user_id="alice", query=f"Dinner {n}: ramen or salad?", ground_truth="ramen",
                                    timestamp=100.0 + n) for n in range(4)])
    store.current_persona("alice")
    store.knowledge.add("alice", [])
    return home, files, store, {"PERSONAAGENT_MEMORY": url}


@pytest.mark.parametrize("case, argv, env, code, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_changes(seeded, monkeypatch, capsys, case, argv, env, code, message):
    home, files, store, store_env = seeded
    for name, value in {**store_env, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PERSONAAGENT_CHROMA_PATH", raising=False)
    before = fingerprint(store)
    exit_code = cli.main(["--home", str(home), *[a.replace("{d}", str(files)) for a in argv]])
    err = capsys.readouterr().err
    assert exit_code == code, err
    assert message in err, err
    assert err.startswith("error: ") or "\nerror: " in err
    assert fingerprint(store) == before


def test_the_table_has_at_least_twenty_cases():
    assert len(CASES) >= 20


def test_an_unreachable_store_is_named(seeded, backend, monkeypatch, capsys):
    home, _, store, store_env = seeded
    env, message = UNREACHABLE[backend]
    for name, value in {**store_env, **env}.items():
        monkeypatch.setenv(name, value)
    before = fingerprint(store)
    assert cli.main(["--home", str(home), "runs", "--user", "alice"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert "secret" not in err  # the password of the URL is not printed
    assert fingerprint(store) == before
