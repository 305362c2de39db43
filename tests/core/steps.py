"""Running the parts of a session's decision step by hand in unit tests."""

from __future__ import annotations

from typing import TypeVar

from turnscribe.core.waits import Step, Wait

T = TypeVar("T")


class Waiting(Exception):
    def __init__(self, wait: Wait) -> None:
        super().__init__(wait)
        self.wait = wait


def finish(step: Step[T]) -> T:
    """Run ``step`` to its end; raises ``Waiting`` with the wait if it needs what is not there
    (call again with the same generator, once the answer is in, to resume it where it waited)."""
    try:
        wait = next(step)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise Waiting(wait)
