import pytest

from personaagent.errors import InvalidUserId
from personaagent.ids import validate_user_id


@pytest.mark.parametrize("good", ["alice", "Bob_2", "u-1.x", "a@b.c", "x" * 64])
def test_accepts_safe_ids(good):
    assert validate_user_id(good) == good


@pytest.mark.parametrize(
    "bad, words",
    [
        ("", "empty"),
        ("x" * 65, "limit is 64"),
        ("../etc", "may only contain"),
        ("a/b", "may only contain"),
        ("a\\b", "may only contain"),
        ("a..b", "no '..'"),
        ("alice ", "may only contain"),
        ("аlice", "may only contain"),  # Cyrillic 'а'
        ("al\u200bice", "may only contain"),  # zero-width space
        ("_hidden", "may only contain"),
        (None, "must be a string"),
    ],
)
def test_rejects_unsafe_ids_with_a_reason(bad, words):
    with pytest.raises(InvalidUserId) as err:
        validate_user_id(bad)
    assert words in str(err.value)
