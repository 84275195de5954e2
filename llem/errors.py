"""Errors a user can fix. The CLI prints their message as one sentence and exits with code 2."""

from __future__ import annotations

import difflib
import unicodedata


def one_line(text: str) -> str:
    """Control characters and line breaks (from a user's value quoted in a message) escaped, so a
    message stays one line however odd the value."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text
    )


class UserError(Exception):
    """A bad value or a missing prerequisite; the message is shown to the user verbatim, on one line."""

    exit_code = 2

    def __init__(self, message: object = "", *args):
        super().__init__(one_line(str(message)), *args)


class MissingExtra(UserError):
    """An engine or optional dependency is not installed."""

    def __init__(self, what: str, extra: str, module: str):
        super().__init__(f"{what} needs the Python package '{module}', which is not installed: run pip install 'llem[{extra}]'.")


def did_you_mean(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def choice_error(field: str, value: object, choices: list[str]) -> UserError:
    hint = did_you_mean(str(value), choices)
    return UserError(f"{field}={value} is not valid{hint}: choose one of {', '.join(sorted(choices))}.")
