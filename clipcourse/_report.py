"""How clipcourse talks to the learner: warnings at their own cell, progress that reads well saved.

* :func:`warn` issues a warning attributed to the first caller outside the ``clipcourse``
  package, so a notebook shows the learner's cell, not ``clipcourse/search.py``, however deep
  the call (``stacklevel`` counted by hand breaks whenever the call path changes).
* :func:`progress` is a progress bar. In a terminal it is ``tqdm``'s text bar on stderr. In a
  notebook it is one line of text that is *updated in place* (IPython's ``update_display``), so
  the saved notebook keeps its final state, e.g. ``Encoding images: 100%|...| 240/240 [00:03]``,
  where a ``tqdm`` widget would be saved as ``0%| 0/240`` and the lesson would look stalled.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from tqdm.std import tqdm as _text_tqdm

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_UPDATE_EVERY_S = 0.5


def _stacklevel() -> int:
    """The ``stacklevel`` that points ``warnings.warn`` (called from :func:`warn`) at the first
    frame outside this package."""
    frame = sys._getframe(2)  # the caller of warn()
    level = 2  # warnings.warn(stacklevel=2) would name warn()'s caller
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
            _PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` pointing at the learner's code (the first frame outside clipcourse)."""
    warnings.warn(message, category, stacklevel=_stacklevel())


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


class progress:
    """A progress bar: ``with progress(total=n, desc="Encoding images", unit="img") as bar:``
    then ``bar.update(k)``. ``disable=True`` shows nothing. See the module docstring."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", *, disable: bool = False,
                 initial: int = 0, unit_scale: bool = False):
        self.total, self.desc, self.unit, self.unit_scale = total, desc, unit, unit_scale
        self.n = initial
        self.disable = disable
        self._start = self._last = time.monotonic()
        self._handle = self._bar = None
        if disable:
            return
        if _in_notebook():
            from IPython.display import display

            self._handle = display({"text/plain": self._line()}, raw=True, display_id=True)
        else:
            self._bar = _text_tqdm(total=total, desc=desc, unit=unit, initial=initial,
                                   unit_scale=unit_scale, unit_divisor=1024 if unit_scale else 1000)

    def _line(self) -> str:
        return _text_tqdm.format_meter(self.n, self.total, time.monotonic() - self._start,
                                       ncols=90, prefix=self.desc, unit=self.unit,
                                       unit_scale=self.unit_scale,
                                       unit_divisor=1024 if self.unit_scale else 1000)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._handle is not None and time.monotonic() - self._last >= _UPDATE_EVERY_S:
            self._last = time.monotonic()
            self._handle.update({"text/plain": self._line()}, raw=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._handle is not None:
            self._handle.update({"text/plain": self._line()}, raw=True)  # the final state
            self._handle = None

    def __enter__(self) -> "progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
