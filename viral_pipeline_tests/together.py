"""Calls released at once from several threads, for the tests of what concurrent requests store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def all_at_once(threads: int, call: Callable[[], T]) -> list[T]:
    """Run `call` on `threads` threads released together by a barrier; their answers, in the
    order they came back."""
    start = threading.Barrier(threads)
    answers: list[T] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait()
        answer = call()
        with lock:
            answers.append(answer)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return answers
