"""CPU-heavy work (photo decoding, posters, spreadsheets) off the event loop.

One event loop serves every request of a process: a photo that takes half a second to decode
there would stall every other worker's page for that half second. `run_heavy` runs the work
in a thread (Pillow, reportlab, pdfium and xlsxwriter's zlib release the GIL for their heavy
parts) and lets only a few such jobs run at once, so four decompression bombs arriving
together neither starve the loop nor take all the memory.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_LIMIT = 2
_limit = DEFAULT_LIMIT
# asyncio primitives belong to one loop: the CLI and tests may run several loops in turn.
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def configure(limit: int) -> None:
    """Set how many heavy jobs may run at once in this process (from the settings)."""
    global _limit
    if limit < 1:
        raise ValueError("the heavy-work limit must be at least 1")
    _limit = limit
    _gates.clear()


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(_limit)
    return gate


async def run_heavy(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in a worker thread, at most `limit` at a time per process.

    The context (the request's language) goes along, so gettext in `fn` translates as the
    caller would.
    """
    async with _gate():
        return await asyncio.to_thread(fn, *args, **kwargs)
