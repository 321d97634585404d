"""CPU-heavy work (photo decoding, posters, spreadsheets) off the event loop.

One event loop serves every request of a process: a photo that takes a second to decode
there would stall every other worker's page for that second. `run_heavy` runs the work in
a small pool of its own threads (Pillow, reportlab, pdfium and zlib release the GIL for
their heavy parts) and lets only a few such jobs run at once, so four decompression bombs
arriving together neither starve the loop nor take all the memory.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_LIMIT = 2
# Heavy threads yield the CPU to the event loop's thread: on a busy two-core machine an
# answer to /healthz must not wait for a decode's time slice to end.
HEAVY_NICENESS = 10

_limit = DEFAULT_LIMIT
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
# asyncio primitives belong to one loop: the CLI and tests may run several loops in turn.
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def configure(limit: int) -> None:
    """Set how many heavy jobs may run at once in this process (from the settings)."""
    global _limit, _executor
    if limit < 1:
        raise ValueError("the heavy-work limit must be at least 1")
    with _lock:
        _limit = limit
        _gates.clear()
        if _executor is not None:
            _executor.shutdown(wait=False)
            _executor = None


def _lower_priority() -> None:
    # Linux applies nice values per thread; elsewhere this is only a wish.
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
                       + HEAVY_NICENESS)
    except (AttributeError, OSError):
        pass


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_limit, thread_name_prefix="heavy",
                                           initializer=_lower_priority)
        return _executor


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(_limit)
    return gate


async def run_heavy(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in a heavy-work thread, at most `limit` at a time per process.

    The context (the request's language) goes along, so gettext in `fn` translates as the
    caller would.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    async with _gate():
        return await loop.run_in_executor(_pool(), call)
