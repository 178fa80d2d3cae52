from personaagent.nodes.reason import offered_tools
from personaagent.resources import Resources
from personaagent.tools import make_personal_tools, network_available, search_wikipedia
from personaagent import web


def test_web_search_is_offered_only_when_reachable(monkeypatch):
    tools = [*make_personal_tools(Resources()), search_wikipedia]
    monkeypatch.setenv("PERSONAAGENT_WEB_SEARCH", "0")
    assert not network_available()
    assert [t.name for t in offered_tools(tools)] == ["search_history", "read_profile", "search_knowledge"]
    monkeypatch.setenv("PERSONAAGENT_WEB_SEARCH", "1")
    monkeypatch.setattr(web, "_checked", {})

    def refuse(*args, **kwargs):
        raise OSError("unreachable")

    monkeypatch.setattr(web.socket, "create_connection", refuse)
    assert [t.name for t in offered_tools(tools)] == ["search_history", "read_profile", "search_knowledge"]

    class Conn:
        def close(self):
            pass

    monkeypatch.setattr(web, "_checked", {})
    monkeypatch.setattr(web.socket, "create_connection", lambda *a, **k: Conn())
    assert "search_wikipedia" in [t.name for t in offered_tools(tools)]


def test_personal_tools_hide_user_and_runtime_from_the_model():
    for tool in make_personal_tools(Resources()):
        params = tool.tool_call_schema.model_json_schema().get("properties", {})
        assert "runtime" not in params and "user_id" not in params
