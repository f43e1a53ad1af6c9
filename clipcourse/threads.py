"""How many CPU threads torch may use when several kernels share a machine.

torch lets every process use every core it sees. On a workshop machine (a JupyterHub node with
more learners than cores, or a container with a CPU limit) that goes badly: with more busy
OpenMP threads than cores, each parallel region waits for threads that are not running, and
three lesson-06 trainings at once on 2 cores took 14 times as long as one after another. One
thread per process avoids that but makes a kernel alone 1.5 times slower. No fixed number wins
both cases, so clipcourse adapts:

* **Usable CPUs.** The CPUs this process may run on (``os.sched_getaffinity``), further capped
  by a cgroup v1 or v2 CPU quota (a container's ``--cpus``), which torch itself ignores.
* **Busy kernels take turns.** While a clipcourse loop does heavy work (``train_clip``, batched
  image encoding), its kernel keeps a small heartbeat file in a shared folder
  (``$CLIPCOURSE_CPU_DIR``, default ``<tmp>/clipcourse-cpu``). Every fraction of a second it
  counts the busy kernels and takes its share of the usable CPUs: all of them when alone, one
  thread each when there are at least as many busy kernels as cores. An idle kernel (a learner
  reading) counts for nothing, and a kernel that finished or died stops counting at once (its
  file is removed, or its process is gone) or after a minute without a heartbeat.
* **Explicit settings win.** ``CLIPCOURSE_THREADS=N`` fixes ``N`` threads, ``auto`` asks for
  the policy, ``off`` leaves torch alone. ``OMP_NUM_THREADS`` (the standard variable) is
  respected as a fixed setting. A ``torch.set_num_threads(n)`` of your own, or
  :func:`fixed_threads` (used by ``train_tiny`` to reproduce the shipped weights bit for bit), is
  never overridden.

The policy applies when :func:`clipcourse.start_lesson` runs or a model loads;
``python -m clipcourse doctor`` prints what it chose and why. ``benchmarks/shared_cpu.py``
measures it against fixed settings.

Introduced in the instructor guide (shared machines) and ``docs/troubleshooting.md``.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from ._report import warn as _warn

__all__ = ["ThreadChoice", "usable_cpus", "cgroup_cpu_limit", "choose_threads", "apply",
           "paced", "fixed_threads", "ENV_VAR"]

#: The environment variable that overrides the policy: a number, ``auto`` or ``off``.
ENV_VAR = "CLIPCOURSE_THREADS"
_CHECK_EVERY_S = 0.2  # how often a busy loop recounts the busy kernels
_HEARTBEAT_EVERY_S = 1.0  # how often it refreshes its own file
# A file this old belongs to a kernel that stopped without saying so. Generous: one paced step
# (a big image batch on 2 CPUs) can take many seconds between heartbeats, and a dead kernel on
# this host is noticed at once by its pid anyway.
_STALE_AFTER_S = 60.0
_SUFFIX = ".busy"

T = TypeVar("T")


@dataclass(frozen=True)
class ThreadChoice:
    """What the thread policy decided, and why (``python -m clipcourse doctor`` prints it).

    Attributes
    ----------
    threads : int
        The torch thread count chosen now.
    mode : str
        ``"auto"`` (adapts to other busy kernels), ``"fixed"`` (an explicit number) or
        ``"off"`` (torch's own choice, untouched).
    usable : int
        CPUs this process may use: its affinity, capped by a cgroup quota.
    busy : int
        Busy clipcourse kernels counted, this one included when it is busy.
    reason : str
        One sentence for a human.
    """

    threads: int
    mode: str
    usable: int
    busy: int
    reason: str


# -- what this process may use ------------------------------------------------------------------
def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def _mounts(mountinfo: Path) -> list[tuple[str, str, str, set[str]]]:
    """``(fstype, root, mount point, super options)`` of each line of a mountinfo file."""
    mounts = []
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return mounts
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        unescape = lambda s: s.replace("\\040", " ")  # noqa: E731 - mountinfo escapes spaces
        mounts.append((tail[0], unescape(fields[3]), unescape(fields[4]),
                       set(tail[2].split(","))))
    return mounts


def _cgroup_dirs(root: Path) -> list[tuple[str, Path, Path]]:
    """``(version, this process's cgroup folder, the hierarchy's mount point)`` for the CPU
    controller of cgroup v1 and v2, under ``root`` (``/`` normally; a fake tree in tests)."""
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    v1_path = v2_path = None
    for line in lines:
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2_path = path
        elif "cpu" in controllers.split(","):
            v1_path = path
    mounts = _mounts(root / "proc/self/mountinfo")
    found = []
    for version, path in (("v2", v2_path), ("v1", v1_path)):
        if path is None:
            continue
        candidates = [(mroot, point) for fstype, mroot, point, options in mounts
                      if (fstype == "cgroup2" if version == "v2"
                          else fstype == "cgroup" and "cpu" in options)]
        if not candidates:  # no mountinfo: the usual places
            candidates = [("/", "/sys/fs/cgroup")] if version == "v2" else [
                ("/", "/sys/fs/cgroup/cpu,cpuacct"), ("/", "/sys/fs/cgroup/cpu")]
        for mroot, point in candidates:
            mount = root / point.lstrip("/")
            # Inside a container the mount's root is the container's own cgroup, and the
            # path in /proc/self/cgroup may name it from the host's side: strip that prefix.
            relative = os.path.relpath(path, mroot) if path.startswith(mroot) else "."
            folder = (mount / relative).resolve() if relative != "." else mount
            if not str(folder).startswith(str(mount)):
                folder = mount
            if folder.is_dir():
                found.append((version, folder, mount))
                break
    return found


def _read_quota(version: str, folder: Path) -> float | None:
    """CPUs allowed by the quota file(s) in ``folder``, or None for no limit / no file."""
    try:
        if version == "v2":
            fields = (folder / "cpu.max").read_text().split()  # "max 100000" or "150000 100000"
            if not fields or fields[0] == "max":
                return None
            quota, period = int(fields[0]), int(fields[1]) if len(fields) > 1 else 100_000
            return quota / period if quota > 0 and period > 0 else None
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError, ZeroDivisionError):
        return None


def cgroup_cpu_limit(root: str | os.PathLike = "/") -> float | None:
    """CPUs allowed by this process's cgroup CPU quota (v1 or v2), or None when unlimited.

    Reads ``/proc/self/cgroup`` and ``/proc/self/mountinfo`` to find the process's cgroup,
    then ``cpu.max`` (v2: ``"200000 100000"`` means 2 CPUs, ``"max ..."`` none) or
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (v1; a quota of -1 means none) in it and in
    every parent up to the hierarchy's root; the smallest limit wins. ``root`` prefixes every
    path (tests point it at a fake tree).

    Examples
    --------
    >>> cgroup_cpu_limit()  # doctest: +SKIP
    1.5
    """
    limits = []
    for version, folder, mount in _cgroup_dirs(Path(root)):
        while True:
            limit = _read_quota(version, folder)
            if limit is not None:
                limits.append(limit)
            if folder == mount or mount not in folder.parents:
                break
            folder = folder.parent
    return min(limits) if limits else None


def usable_cpus(root: str | os.PathLike = "/") -> tuple[int, str]:
    """``(n, why)``: CPUs this process may keep busy, and a phrase saying where ``n`` came from.

    ``n`` is the size of the CPU affinity set, capped by the cgroup quota rounded down (at
    least 1): with ``--cpus=1.5`` on a 64-core host, ``n`` is 1, although torch sees 64.
    """
    affinity = _affinity()
    limit = cgroup_cpu_limit(root)
    if limit is None:
        return affinity, f"{affinity} CPUs in this process's affinity, no cgroup CPU quota"
    capped = max(1, min(affinity, math.floor(limit + 1e-9)))
    return capped, (f"{affinity} CPUs in this process's affinity, cgroup CPU quota "
                    f"{limit:g} CPUs")


# -- the shared folder of busy kernels ------------------------------------------------------------
def _registry() -> Path:
    folder = os.environ.get("CLIPCOURSE_CPU_DIR")
    return Path(folder) if folder else Path(tempfile.gettempdir()) / "clipcourse-cpu"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's process; or we may not ask: assume alive
        return True
    return True


def _host() -> str:
    return socket.gethostname().replace("-", "_")  # "-" separates the parts of a file name


def _busy_files(folder: Path, now: float) -> list[str]:
    """Names of the live heartbeat files, oldest registration first."""
    host = _host()
    live = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return live
    for entry in entries:
        if not entry.name.endswith(_SUFFIX):
            continue
        try:
            started, file_host, pid = entry.name[:-len(_SUFFIX)].rsplit("-", 2)
            age = now - entry.stat().st_mtime
            int(started)
        except (ValueError, OSError):
            continue
        if age > _STALE_AFTER_S or (file_host == host and pid.isdigit() and not _alive(int(pid))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)  # a kernel that died or hung: forget it
            continue
        live.append(entry.name)
    return sorted(live)


class _State:
    """This process's side of the policy (one per process)."""

    def __init__(self):
        self.applied = False  # start_lesson or load_model ran the policy
        self.set_to: int | None = None  # the count the policy last gave torch
        self.pinned = 0  # depth of fixed_threads() blocks
        self.initial: int | None = None  # torch's own count before the policy touched it
        self.file: Path | None = None  # our heartbeat file while busy
        self.depth = 0  # nested paced() loops
        self.last_check = 0.0
        self.last_beat = 0.0
        self.usable: tuple[float, tuple[int, str]] | None = None  # (when, usable_cpus())
        self.warned: set[str] = set()  # invalid CLIPCOURSE_THREADS values already reported


_state = _State()


def _usable_cached() -> tuple[int, str]:
    """usable_cpus(), read again at most every 10 s (busy loops ask 5 times a second)."""
    now = time.monotonic()
    if _state.usable is None or now - _state.usable[0] > 10.0:
        _state.usable = (now, usable_cpus())
    return _state.usable[1]


def _setting() -> tuple[str, int | None, str]:
    """``(mode, fixed count or None, where it came from)`` from the environment."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "auto"):
        omp = os.environ.get("OMP_NUM_THREADS", "").strip()
        if not value and omp:
            try:
                return "fixed", max(1, int(omp.split(",")[0])), f"OMP_NUM_THREADS={omp}"
            except ValueError:
                pass  # torch warns about it itself; the policy decides
        return "auto", None, f"{ENV_VAR}=auto" if value else "the default policy"
    if value in ("off", "torch", "none"):
        return "off", None, f"{ENV_VAR}={value}"
    try:
        threads = int(value)
        if threads < 1:
            raise ValueError
    except ValueError:
        if value not in _state.warned:
            _state.warned.add(value)
            _warn(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a number of threads (1, 2, ...), "
                  "'auto' or 'off'; using 'auto'. Fix the variable in the environment that "
                  "starts Jupyter.", RuntimeWarning)
        return "auto", None, f"{ENV_VAR} is invalid"
    return "fixed", threads, f"{ENV_VAR}={threads}"


def _share(usable: int, names: list[str], mine: str | None) -> int:
    """Our share of ``usable`` CPUs among the busy kernels ``names`` (earliest get the rest).

    A kernel that is not busy (``mine`` not in ``names``) gets the share it would have if it
    joined now, as the last one.
    """
    rank = names.index(mine) if mine in names else len(names)
    busy = max(len(names), rank + 1)
    return max(1, usable // busy + (1 if rank < usable % busy else 0))


def choose_threads(root: str | os.PathLike = "/") -> ThreadChoice:
    """What the policy would choose now, without changing anything.

    Examples
    --------
    >>> print(choose_threads().reason)  # doctest: +SKIP
    auto: all 2 usable CPUs while no other clipcourse kernel is busy (2 CPUs in this ...)
    """
    import torch

    usable, why = _usable_cached() if os.fspath(root) == "/" else usable_cpus(root)
    mode, count, source = _setting()
    busy_names = _busy_files(_registry(), time.time())
    mine = _state.file.name if _state.file is not None else None
    busy = len(busy_names)
    if mode == "off":
        return ThreadChoice(torch.get_num_threads(), "off", usable, busy,
                            f"off ({source}): torch's own {torch.get_num_threads()} threads")
    if mode == "fixed":
        return ThreadChoice(count, "fixed", usable, busy, f"fixed at {count} by {source}")
    if _state.pinned or _overridden():
        n = torch.get_num_threads()
        return ThreadChoice(n, "fixed", usable, busy,
                            f"fixed at {n} by an explicit torch.set_num_threads() in this process")
    base = usable if _state.initial is None else min(usable, max(_state.initial, 1))
    threads = _share(base, busy_names, mine)
    others = busy - (1 if mine in busy_names else 0)
    if others == 0:
        what = f"all {base} usable CPUs while no other clipcourse kernel is busy"
    else:
        what = (f"{threads} of {base} usable CPUs, as {others} other clipcourse kernel"
                f"{'s are' if others > 1 else ' is'} busy now (the share adapts as they come "
                "and go)")
    return ThreadChoice(threads, "auto", usable, busy, f"auto ({source}): {what} ({why}; "
                        f"busy kernels register in {_registry()})")


def _overridden() -> bool:
    """True when someone else called torch.set_num_threads after the policy did."""
    import torch

    return _state.set_to is not None and torch.get_num_threads() != _state.set_to


def apply() -> ThreadChoice:
    """Set torch's thread count by the policy; called by ``start_lesson`` and ``load_model``.

    Returns the :class:`ThreadChoice`. Changes nothing in ``off`` mode, under
    :func:`fixed_threads`, or after your own ``torch.set_num_threads``.
    """
    import torch

    if _state.initial is None:
        _state.initial = torch.get_num_threads()
    choice = choose_threads()
    _state.applied = True
    if choice.mode == "off" or _state.pinned or _overridden():
        return choice
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    _state.set_to = choice.threads
    return choice


def _register() -> None:
    folder = _registry()
    name = f"{time.time_ns()}-{_host()}-{os.getpid()}{_SUFFIX}"
    try:
        folder.mkdir(mode=0o777, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o1777)  # shared by every user of the machine, like /tmp
        (folder / name).touch()
    except OSError:
        return  # no shared folder: we just cannot tell the others
    _state.file = folder / name


def _unregister() -> None:
    if _state.file is not None:
        with contextlib.suppress(OSError):
            _state.file.unlink()
        _state.file = None


def _check(now: float) -> None:
    """Refresh our heartbeat, and retake our share if the policy owns the thread count."""
    if _state.file is not None and now - _state.last_beat >= _HEARTBEAT_EVERY_S:
        _state.last_beat = now
        try:
            os.utime(_state.file)
        except OSError:
            _register()  # someone cleaned the folder: register again
    if now - _state.last_check < _CHECK_EVERY_S:
        return
    _state.last_check = now
    if _state.applied and not _state.pinned and not _overridden():
        apply()


def paced(iterable: Iterable[T]) -> Iterator[T]:
    """Yield from ``iterable`` while registered as a busy kernel, rechecking the thread share.

    Wrap the loop of a long CPU computation: ``for step in paced(range(steps)):``. Other
    kernels see this one as busy until the loop ends; every fraction of a second the loop
    takes its share of the CPUs (only when the policy is in charge, see :func:`apply`).
    """
    _state.depth += 1
    if _state.depth == 1:
        _register()
        _state.last_beat = _state.last_check = 0.0
    try:
        for item in iterable:
            _check(time.monotonic())
            yield item
    finally:
        _state.depth -= 1
        if _state.depth == 0:
            _unregister()
            if _state.applied and not _state.pinned and not _overridden():
                apply()  # alone again (or fewer busy): take the CPUs back


@contextlib.contextmanager
def fixed_threads(threads: int):
    """Use exactly ``threads`` torch threads inside the block, whatever the policy says.

    ``train_tiny`` trains under ``fixed_threads(2)``: floating-point sums depend on how the
    work is split, so only the same count reproduces the shipped weights bit for bit. The
    previous count is restored afterwards.
    """
    import torch

    if int(threads) < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    _state.pinned += 1
    try:
        yield
    finally:
        _state.pinned -= 1
        torch.set_num_threads(before)
