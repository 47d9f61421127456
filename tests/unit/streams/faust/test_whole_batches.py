"""A worker acknowledges a batch only after all of it was handled (`handle_whole_batch`).

Faust's `take_events` acknowledges every event of the batch when the agent leaves it, also
when the agent is cancelled between two chunks (SIGTERM) or the handler raises; what was
acknowledged is committed. So a stop waits for the rest of the batch, and a failure ends the
process before Faust can acknowledge anything."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

from streams.faust.worker import WORKER_FAILED_EXIT, handle_whole_batch


class Handler:
    """Records the chunks it handled; lets the event loop run between them."""

    def __init__(self) -> None:
        self.handled: list[Any] = []

    def handle(self, chunk: list[Any]) -> int:
        self.handled.append(chunk)
        return len(chunk)


def test_a_stop_between_chunks_waits_for_the_rest_of_the_batch() -> None:
    handler = Handler()
    chunks: list[list[Any]] = [[n] for n in range(6)]

    async def stop_after_the_first_chunk() -> BaseException | None:
        task = asyncio.ensure_future(handle_whole_batch(handler, chunks))  # type: ignore[arg-type]
        while not handler.handled:
            await asyncio.sleep(0)
        task.cancel()  # lands in the pause after chunk 0, as Faust's stop does
        try:
            await task
        except asyncio.CancelledError as exc:
            return exc
        return None

    stopped = asyncio.run(stop_after_the_first_chunk())
    assert isinstance(stopped, asyncio.CancelledError)  # the stop goes on after the batch
    assert handler.handled == chunks


def test_a_batch_that_fails_ends_the_process_unacknowledged() -> None:
    script = (
        "import asyncio\n"
        "from streams.faust.worker import handle_whole_batch\n"
        "class H:\n"
        "    def handle(self, chunk):\n"
        "        raise RuntimeError('3 results not acknowledged')\n"
        "asyncio.run(handle_whole_batch(H(), [[1], [2]]))\n"
        "print('acknowledged')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == WORKER_FAILED_EXIT
    assert "acknowledged" not in done.stdout
    assert "3 results not acknowledged" in done.stderr
