"""A fair scheduler in front of one worker thread (the embedding engine's, see :mod:`hilo.nlu.embed`).

Work arrives as *requests*: a caller's list of *slices*, each a callable with a cost (for the
embedder, the tokens it feeds the model; :data:`hilo.nlu.embed.SLICE_TOKENS` bounds it, so no
slice holds the thread for long). The worker runs one slice at a time. Each caller has a
**usage**: the cost of the slices it was given, decayed with a half-life of
:attr:`FairScheduler.half_life_s` (decay-usage scheduling, as Unix schedulers favour interactive
processes). Before each slice the worker takes, of every caller's request with the least work
left, the one whose caller would have **the least usage once that request is done** (usage +
work left; ties: the oldest request), and runs its next slice:

* a user who sends a short message now and then has little usage and a small request, so it
  waits at most for the slice in flight, whatever long questions other users queued, and
  however many of them arrived at once;
* users whose long questions keep the thread busy have much usage: they take turns, request by
  request (a capped query is at most three slices);
* a caller's own short request goes before its own long one (its least work left first).

Usage is remembered across a caller's idle moments (it decays, it is not reset), so a heavy user
gains nothing by pausing between requests, and a waiting caller's usage keeps decaying until it
is the least: nobody starves. A caller idle long enough to have decayed to nothing is forgotten.

A caller is whatever hashable key the submitter passes; :data:`CALLER` is the context variable
the run engine sets for each run (``user:<id>``, or ``thread:<id>`` when auth is off and every
request is the one local admin). Work submitted with no caller is a caller of its own.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# Who the work is for: set per run by the run engine (hilo.runs.engine); None: nobody in particular.
CALLER: ContextVar[Hashable | None] = ContextVar("hilo_caller", default=None)

Slice = tuple[float, Callable[[], Any]]  # (cost, the work)


@dataclass(eq=False, slots=True)
class _Request:
    caller: Hashable
    seq: int
    slices: list[Slice]
    future: Future
    done: int = 0  # slices run
    left: float = 0.0  # cost of the slices not run yet
    results: list[Any] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class _Caller:
    usage: float = 0.0  # decayed cost, as of `stamp`
    stamp: float = 0.0
    pending: list[_Request] = field(default_factory=list)


class FairScheduler:
    """Runs submitted slices on one thread, in the order described in the module docstring.

    ``start=False`` creates no thread: :meth:`step` then runs the next slice on the calling
    thread (tests use it with an injected ``clock`` to check the order deterministically).
    """

    def __init__(self, name: str = "hilo-fair", *, half_life_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 initializer: Callable[[], None] | None = None, start: bool = True):
        self.half_life_s = half_life_s
        self.clock = clock
        self._callers: dict[Hashable, _Caller] = {}
        self._seq = itertools.count()
        self._anonymous = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._initializer = initializer
        self.name = name
        if start:
            self._thread = threading.Thread(target=self._work, name=name, daemon=True)
            self._thread.start()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    # ------------------------------------------------------------------ submitting
    def submit(self, slices: Sequence[Slice], caller: Hashable | None = None) -> Future:
        """Queue a request; its future resolves to the list of its slices' results, in order
        (or to the first exception a slice raised; its later slices are then skipped)."""
        future: Future = Future()
        if not slices:
            future.set_result([])
            return future
        if caller is None:
            caller = CALLER.get()
        if caller is None:
            caller = ("anonymous", next(self._anonymous))
        request = _Request(caller, next(self._seq), list(slices), future)
        request.left = sum(cost for cost, _ in request.slices)
        with self._cond:
            now = self.clock()
            entry = self._callers.get(caller)
            if entry is None or not entry.pending and self._usage(entry, now) < 0.5:
                entry = self._callers[caller] = _Caller(stamp=now)  # new, or idle until forgotten
            entry.pending.append(request)
            self._cond.notify()
        return future

    # ------------------------------------------------------------------ choosing
    def _usage(self, entry: _Caller, now: float) -> float:
        if entry.usage and now > entry.stamp:
            return entry.usage * 0.5 ** ((now - entry.stamp) / self.half_life_s)
        return entry.usage

    def _pick(self) -> tuple[_Request, Slice] | None:
        """The next slice (called with the lock held); charges its caller for it."""
        now = self.clock()
        best: tuple[float, int] | None = None
        chosen: tuple[_Caller, _Request] | None = None
        for key, entry in list(self._callers.items()):
            if not entry.pending:
                if self._usage(entry, now) < 0.5:  # decayed to nothing: forget the caller
                    del self._callers[key]
                continue
            request = min(entry.pending, key=lambda r: (r.left, r.seq))
            rank = (self._usage(entry, now) + request.left, request.seq)
            if best is None or rank < best:
                best, chosen = rank, (entry, request)
        if chosen is None:
            return None
        entry, request = chosen
        if request.done == 0 and not request.future.set_running_or_notify_cancel():
            entry.pending.remove(request)  # cancelled before it started: drop it, choose again
            return self._pick()
        cost, work = request.slices[request.done]
        entry.usage, entry.stamp = self._usage(entry, now) + cost, now
        return request, (cost, work)

    def queued(self) -> int:
        """Requests waiting or in progress."""
        with self._cond:
            return sum(len(e.pending) for e in self._callers.values())

    # ------------------------------------------------------------------ running
    def step(self) -> bool:
        """Run the next slice here (``start=False`` schedulers); False when nothing is queued."""
        with self._cond:
            picked = self._pick()
        if picked is None:
            return False
        self._run(*picked)
        return True

    def _run(self, request: _Request, piece: Slice) -> None:
        cost, work = piece
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001  (handed to the waiter)
            self._finish(request, exc)
            return
        request.results.append(result)
        request.done += 1
        request.left -= cost
        if request.done == len(request.slices):
            self._finish(request, None)

    def _finish(self, request: _Request, exc: BaseException | None) -> None:
        with self._cond:
            entry = self._callers.get(request.caller)
            if entry is not None and request in entry.pending:
                entry.pending.remove(request)
        if exc is None:
            request.future.set_result(request.results)
        else:
            request.future.set_exception(exc)

    def _work(self) -> None:
        if self._initializer is not None:
            self._initializer()
        while True:
            with self._cond:
                picked = self._pick()
                while picked is None:
                    self._cond.wait()
                    picked = self._pick()
            self._run(*picked)
