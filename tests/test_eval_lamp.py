import json
from pathlib import Path

import pytest

from personaagent.eval.lamp import LAMP_TASKS, load_lamp
from personaagent.eval.types import DatasetError
from personaagent.ids import validate_user_id

FIXTURES = Path(__file__).parent / "fixtures" / "lamp"


def fixture(name: str, **kw):
    return load_lamp(FIXTURES / f"{name}_questions.json", FIXTURES / f"{name}_outputs.json", **kw)


def write_pair(tmp_path, questions, outputs):
    """Write a questions/outputs pair (objects are dumped as JSON, strings written verbatim)."""
    paths = []
    for name, content in (("questions.json", questions), ("outputs.json", outputs)):
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        paths.append(path)
    return paths


def rating_question(qid="q1", profile=None):
    profile = profile if profile is not None else [{"text": "fine", "score": "4", "id": "p1"}]
    return {"id": qid, "input": f"Rate review {qid}", "profile": profile}


def rating_outputs(*ids, task="LaMP_3"):
    return {"task": task, "golds": [{"id": i, "output": "4"} for i in ids]}


def test_task_table():
    assert LAMP_TASKS == {"LaMP-1": "label", "LaMP-2M": "label", "LaMP-2N": "label", "LaMP-3": "rating"}


def test_lamp3_fixture():
    users = fixture("lamp3")
    assert [u.user_id for u in users] == ["lamp3-3100", "lamp3-3101", "lamp3-3102"]
    assert [len(u.history) for u in users] == [4, 3, 5]
    first = users[0]
    assert first.metric == "rating" and first.attribute == "LaMP-3" and first.alignment_applicable
    assert [h.ground_truth for h in first.history] == ["5", "2", "3", "5"]
    assert first.history[1].query == "The charger stopped working after a month. Disappointed."
    assert all(h.user_id == "lamp3-3100" and h.source == "ingest" for h in first.history)
    assert first.history[0].metadata == {"task": "LaMP-3", "profile_id": "31001"}
    assert len({h.id for h in first.history}) == 4 and all(h.id for h in first.history)
    (test,) = first.test
    assert test.id == "3100" and test.ground_truth == "3" and test.attributes == {"task": "LaMP-3"}
    assert test.query.endswith("lid started rattling after two weeks.")
    assert [h.ground_truth for h in users[2].history] == ["5", "3", "2", "4", "4"]  # numeric scores


def test_lamp2m_fixture():
    users = fixture("lamp2m")
    assert [u.user_id for u in users] == ["lamp2m-2200", "lamp2m-2201", "lamp2m-2202"]
    assert all(u.metric == "label" and u.attribute == "LaMP-2M" for u in users)
    assert [u.test[0].ground_truth for u in users] == ["fantasy", "action", "dystopia"]
    assert [h.ground_truth for h in users[1].history] == ["action", "twist ending", "action", "true story"]
    assert users[0].history[2].query.startswith("Colonists on a frozen moon")


def test_lamp1_history_is_unlabelled_papers():
    users = fixture("lamp1")
    assert [u.test[0].ground_truth for u in users] == ["[1]", "[2]", "[1]"]
    user = users[0]
    assert user.metric == "label" and user.attribute == "LaMP-1"
    assert user.alignment_applicable is False
    paper = user.history[0]
    assert paper.query == "Query expansion for spoken document retrieval"
    assert paper.answer.startswith("We expand queries") and paper.ground_truth is None
    assert not paper.labelled


def test_lamp2n_sorted_by_date_and_title_kept():
    user = fixture("lamp2n")[0]
    assert user.attribute == "LaMP-2N"
    assert [h.metadata["date"] for h in user.history] == ["2016-11-20", "2017-01-15", "2017-03-02"]
    assert user.history[0].ground_truth == "food & drink"
    assert user.history[0].metadata["title"] == "In praise of beans"


@pytest.mark.parametrize("name", ["lamp1", "lamp2m", "lamp2n", "lamp3"])
def test_history_strictly_before_test(name):
    for user in fixture(name):
        stamps = [h.timestamp for h in user.history]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert max(stamps) < user.test[0].timestamp


def test_limit():
    assert [u.user_id for u in fixture("lamp3", limit=2)] == ["lamp3-3100", "lamp3-3101"]
    assert fixture("lamp3", limit=0) == []


def test_task_argument_overrides_outputs_file(tmp_path):
    q, o = write_pair(tmp_path, [rating_question()], rating_outputs("q1", task="LaMP_1"))
    with pytest.raises(DatasetError, match="missing field 'title'"):  # read as LaMP-1
        load_lamp(q, o)
    user = load_lamp(q, o, task="product rating")[0]
    assert user.attribute == "LaMP-3" and user.metric == "rating" and user.user_id == "lamp3-q1"
    with pytest.raises(DatasetError, match="task argument: unknown task 'LaMP-8'"):
        load_lamp(q, o, task="LaMP-8")


def test_ambiguous_lamp2_resolved_from_profile(tmp_path):
    news = {"id": "n1", "input": "which category?", "profile": [{"text": "t", "title": "T", "category": "sports"}]}
    q, o = write_pair(tmp_path, [news], {"task": "LaMP_2", "golds": [{"id": "n1", "output": "sports"}]})
    assert load_lamp(q, o)[0].attribute == "LaMP-2N"
    assert fixture("lamp2m", task="LaMP_2")[0].attribute == "LaMP-2M"


def test_unsafe_question_ids_become_valid_distinct_user_ids(tmp_path):
    ids = ["a/b", "a b", "x" * 100, "../etc"]
    q, o = write_pair(tmp_path, [rating_question(i) for i in ids], rating_outputs(*ids))
    users = load_lamp(q, o)
    assert len({u.user_id for u in users}) == 4
    for user, raw in zip(users, ids):
        assert validate_user_id(user.user_id).startswith("lamp3-")
        assert user.test[0].id == raw and user.history[0].user_id == user.user_id


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nope.json.*does not exist"):
        load_lamp(tmp_path / "nope.json", FIXTURES / "lamp3_outputs.json")


ERROR_CASES = {
    "invalid json": ("[{not json", rating_outputs("q1"), r"questions\.json.*invalid JSON"),
    "questions not a list": ({"id": "q1"}, rating_outputs("q1"), "expected a JSON list"),
    "outputs not an object": ([rating_question()], [], r"outputs\.json.*expected a JSON object"),
    "question missing input": ([{"id": "q1", "profile": []}], rating_outputs("q1"), "question 0 is missing.*input"),
    "question missing id": ([{"input": "x", "profile": []}], rating_outputs("q1"), "missing.*id"),
    "question missing profile": ([{"id": "q1", "input": "x"}], rating_outputs("q1"), "missing.*profile"),
    "outputs missing golds": ([rating_question()], {"task": "LaMP_3"}, r"outputs\.json.*missing 'golds'"),
    "question without gold": ([rating_question("q1"), rating_question("q2")], rating_outputs("q1"),
                              "no gold output.*'q2'"),
    "gold without question": ([rating_question("q1")], rating_outputs("q1", "q9", "q8"),
                              "gold id.*'q9', 'q8'.*no question"),
    "unknown task": ([rating_question()], rating_outputs("q1", task="LaMP_9"),
                     "unknown task 'LaMP_9'.*LaMP-1, LaMP-2M, LaMP-2N, LaMP-3"),
    "no task name": ([rating_question()], {"golds": [{"id": "q1", "output": "4"}]}, "no task name"),
    "profile item missing score": ([rating_question(profile=[{"text": "ok", "score": "3"}, {"text": "meh"}])],
                                   rating_outputs("q1"), "profile item 1: missing field 'score'"),
    "profile item not an object": ([rating_question(profile=["just text"])], rating_outputs("q1"),
                                   "profile item 0: expected an object"),
    "duplicate question id": ([rating_question("q1"), rating_question("q1")], rating_outputs("q1"),
                              "'q1' appears more than once"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors(tmp_path, case):
    questions, outputs, pattern = ERROR_CASES[case]
    q, o = write_pair(tmp_path, questions, outputs)
    with pytest.raises(DatasetError, match=pattern):
        load_lamp(q, o)


def test_error_in_a_later_question_returns_nothing(tmp_path):
    bad = rating_question("q2", profile=[{"score": "2", "id": "p"}])
    q, o = write_pair(tmp_path, [rating_question("q1"), bad], rating_outputs("q1", "q2"))
    with pytest.raises(DatasetError, match="question 'q2' profile item 0: missing field 'text'"):
        load_lamp(q, o)
