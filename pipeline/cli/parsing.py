"""Command-line parsing helpers: suggestions for mistyped options, commands and choices; checked numbers.

argparse of Python 3.11-3.13 does not suggest a correction (3.14's ``suggest_on_error`` does);
:class:`SuggestingParser` adds it: a mistyped command or choice (``rnu``, ``--registration afine``) and an
unknown option (``--thread 4``) are answered with the closest valid spellings (:func:`difflib.get_close_matches`).
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Sequence
from typing import Any

SIMILARITY = 0.6  # difflib ratio a suggestion needs


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean X?)`` / `` (did you mean X or Y?)`` for the closest candidates, or ``""``."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=2, cutoff=SIMILARITY)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _looks_like_option(word: str) -> bool:
    if not word.startswith("-"):
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False  # a negative number is a value


class SuggestingParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors suggest the closest command, choice or option."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(c) for c in choices]
            message = f"invalid choice: {value!r} (choose from {', '.join(names)})"
            raise argparse.ArgumentError(action, message + suggestion(str(value), names))

    def _subparser(self, namespace: argparse.Namespace) -> argparse.ArgumentParser | None:
        """The sub-command parser that ``namespace`` was parsed by, if any."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                command = getattr(namespace, action.dest or "", None)
                return action.choices.get(command) if command else None
        return None

    def _option_strings(self, namespace: argparse.Namespace) -> list[str]:
        parsers = [self, *filter(None, [self._subparser(namespace)])]
        return [o for p in parsers for a in p._actions for o in a.option_strings if o.startswith("--")]

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            options = self._option_strings(parsed)
            hints = "".join(suggestion(e.split("=", 1)[0], options) for e in extras if _looks_like_option(e))
            self.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return parsed


MAX_COUNT = 256  # threads or workers beyond this are a typing error, not a machine


def positive_int(text: str) -> int:
    """An integer from 1 to :data:`MAX_COUNT` (thread and worker counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_COUNT}, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, megabytes)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value
