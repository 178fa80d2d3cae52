from personaagent.services.chat import run_chat
from personaagent.context import Context
from personaagent.memory import memory_for
from personaagent.resources import Resources
from personaagent.testing import ScriptedChatModel


def reader(lines):
    pending = iter(lines)

    def read(prompt):
        try:
            return next(pending)
        except StopIteration:
            raise EOFError from None

    return read


def test_chat_records_right_answer_and_keeps_the_thread(tmp_path, monkeypatch):
    def respond(messages, kwargs):
        return f"answer {sum(1 for m in messages if m.type == 'human')}"

    model = ScriptedChatModel(script=respond)
    monkeypatch.setattr(Resources, "agent_model_for", lambda self, ctx: model)
    ctx = Context(user_id="alice", chroma_path=str(tmp_path / "chroma"), profile_every=1000)
    said: list[str] = []
    lines = ["/right nothing yet", "Film: Alien or Up?", "/right Alien", "/persona", "/quit"]
    assert run_chat(ctx, tmp_path, read=reader(lines), say=said.append) == 0
    assert "answer 1" in said and "recorded ground truth for the last turn" in said
    assert said[1].startswith("nothing to attach it to")
    stored = memory_for(ctx).episodes.list("alice")
    assert [(i.query, i.ground_truth) for i in stored] == [("Film: Alien or Up?", "Alien")]
    # a second session on the same thread sees the first turn in its dialogue
    assert run_chat(ctx, tmp_path, read=reader(["Another one?"]), say=said.append) == 0
    assert "answer 2" in said
    assert (tmp_path / "threads.sqlite").exists()
