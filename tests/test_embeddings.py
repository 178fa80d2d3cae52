import subprocess
import sys
import textwrap

import numpy as np

from personaagent.memory import LangChainEmbeddings, MemoryStore, MiniLMEmbeddingFunction, Interaction

from support.fake_embeddings import fake_embeddings


def test_minilm_is_normalised_and_semantic():
    ef = MiniLMEmbeddingFunction()
    hike, trail, cake = ef(["I love hiking in the mountains", "Walking a mountain trail", "A chocolate cake recipe"])
    assert hike.shape == (384,)
    assert abs(np.linalg.norm(hike) - 1.0) < 1e-5
    assert float(hike @ trail) > float(hike @ cake) + 0.3


def test_langchain_adapter_matches_the_chroma_function():
    lc = LangChainEmbeddings()
    query = lc.embed_query("kayaking")
    docs = lc.embed_documents(["kayaking", "tax forms"])
    assert len(query) == 384 and np.allclose(query, docs[0], atol=1e-6)


def test_minilm_collections_reopen_by_name_in_a_new_process(tmp_path):
    MemoryStore.open(tmp_path).episodes.add([Interaction(user_id="u", query="sailing on the lake", ground_truth="yes")])
    script = textwrap.dedent(f"""
        import chromadb
        import personaagent.memory  # registers the MiniLM embedding function
        col = chromadb.PersistentClient(path={str(tmp_path)!r}).get_collection("episodes")
        print(col.configuration_json["embedding_function"]["name"])
        print(col.query(query_texts=["boat trip"], n_results=1)["documents"][0][0])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["personaagent-minilm-int8", "sailing on the lake"]


def test_openai_compatible_endpoint_is_used_when_configured(tmp_path, monkeypatch):
    import json

    from personaagent.memory import embedding_function

    with fake_embeddings() as endpoint:
        monkeypatch.setenv("PERSONAAGENT_EMBEDDING_API_KEY", "secret")
        ef = embedding_function(endpoint["url"], "my-embedder")
        vectors = ef(["ab", "abcd"])
        assert [list(v) for v in vectors] == [[2.0, 1.0, 0.0], [4.0, 1.0, 0.0]]
        assert endpoint["seen"] == {"path": "/v1/embeddings", "model": "my-embedder", "auth": "Bearer secret"}
        assert "secret" not in json.dumps(ef.get_config())  # the key is never stored in Chroma
