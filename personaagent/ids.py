"""User id validation. Every store entry point calls this before touching data."""

import re

from .errors import InvalidUserId

MAX_USER_ID_LENGTH = 64
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")


def validate_user_id(user_id: object) -> str:
    """Return ``user_id`` unchanged if it is safe to use as a storage key, else raise.

    Allowed: 1–64 ASCII letters, digits and ``_ . @ -``, starting with a letter or digit.
    That rules out path separators, ``..``-style tricks, whitespace, control characters and
    look-alike unicode (which would let two different-looking ids collide or vice versa).
    """
    if not isinstance(user_id, str):
        raise InvalidUserId(f"user id must be a string, got {type(user_id).__name__}")
    if not user_id:
        raise InvalidUserId("user id is empty")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise InvalidUserId(
            f"user id is {len(user_id)} characters long; the limit is {MAX_USER_ID_LENGTH}"
        )
    if not _USER_ID.fullmatch(user_id) or ".." in user_id:
        raise InvalidUserId(
            f"user id {user_id!r} may only contain ASCII letters, digits and '_', '.', '@', '-' "
            "(starting with a letter or digit, no '..')"
        )
    return user_id
