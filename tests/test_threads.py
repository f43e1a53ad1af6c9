"""The CPU thread policy: quota and affinity reading on fake cgroup trees, the shared folder of
busy kernels, and the settings that override it. Timings live in benchmarks/shared_cpu.py."""

import io
import os
import socket
import time
from pathlib import Path

import pytest
import torch

from clipcourse import cli, threads


# -- fake cgroup trees ---------------------------------------------------------------------------
def _tree(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
V1_MOUNTS = ("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
             "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")


def test_v2_container_quota(tmp_path):
    root = _tree(tmp_path, {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
                            "sys/fs/cgroup/cpu.max": "150000 100000\n"})
    assert threads.cgroup_cpu_limit(root) == 1.5


def test_v2_unlimited_and_nested_limits(tmp_path):
    root = _tree(tmp_path, {
        "proc/self/cgroup": "0::/user.slice/jupyter/kernel-7\n",
        "proc/self/mountinfo": V2_MOUNT,
        "sys/fs/cgroup/cpu.max": "max 100000\n",
        "sys/fs/cgroup/user.slice/cpu.max": "400000 100000\n",
        "sys/fs/cgroup/user.slice/jupyter/cpu.max": "200000 100000\n",  # the tightest wins
        "sys/fs/cgroup/user.slice/jupyter/kernel-7/cpu.max": "max 100000\n",
    })
    assert threads.cgroup_cpu_limit(root) == 2.0
    (root / "sys/fs/cgroup/user.slice/jupyter/cpu.max").write_text("max 100000\n")
    (root / "sys/fs/cgroup/user.slice/cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(root) is None


def test_v1_quota_with_a_host_side_path(tmp_path):
    """Docker on cgroup v1: /proc/self/cgroup names the host's path, the mount is the
    container's own cgroup (mount root /docker/abc)."""
    root = _tree(tmp_path, {
        "proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        "proc/self/mountinfo": V1_MOUNTS.replace(" / /sys", " /docker/abc /sys"),
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    })
    assert threads.cgroup_cpu_limit(root) == 3.0


def test_v1_no_quota_and_v1_subgroup(tmp_path):
    root = _tree(tmp_path, {
        "proc/self/cgroup": "3:cpu,cpuacct:/hub/alice\n",
        "proc/self/mountinfo": V1_MOUNTS,
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        "sys/fs/cgroup/cpu,cpuacct/hub/alice/cpu.cfs_quota_us": "-1\n",
        "sys/fs/cgroup/cpu,cpuacct/hub/alice/cpu.cfs_period_us": "100000\n",
    })
    assert threads.cgroup_cpu_limit(root) is None
    (root / "sys/fs/cgroup/cpu,cpuacct/hub/cpu.cfs_quota_us").write_text("50000\n")
    (root / "sys/fs/cgroup/cpu,cpuacct/hub/cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(root) == 0.5  # a parent's limit binds the child


def test_v1_without_mountinfo_uses_the_usual_place(tmp_path):
    root = _tree(tmp_path, {"proc/self/cgroup": "2:cpu:/\n",
                            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "200000",
                            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000"})
    assert threads.cgroup_cpu_limit(root) == 2.0


@pytest.mark.parametrize("files", [
    {},  # no /proc at all (macOS, Windows)
    {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT},  # no cpu.max file
    {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
     "sys/fs/cgroup/cpu.max": "garbage\n"},
    {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
     "sys/fs/cgroup/cpu.max": "100000 0\n"},
    {"proc/self/cgroup": "not a cgroup file", "proc/self/mountinfo": "nor this"},
])
def test_missing_or_garbled_files_mean_no_limit(tmp_path, files):
    assert threads.cgroup_cpu_limit(_tree(tmp_path, files)) is None


def test_usable_cpus_combines_affinity_and_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    root = _tree(tmp_path, {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": V2_MOUNT,
                            "sys/fs/cgroup/cpu.max": "250000 100000\n"})
    n, why = threads.usable_cpus(root)
    assert n == 2 and "6 CPUs" in why and "quota 2.5" in why  # rounded down
    (root / "sys/fs/cgroup/cpu.max").write_text("20000 100000\n")
    assert threads.usable_cpus(root)[0] == 1  # a fraction of a CPU still gets one thread
    (root / "sys/fs/cgroup/cpu.max").write_text("max 100000\n")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert threads.usable_cpus(root)[0] == 1  # taskset -c 3


def test_real_machine_reading_does_not_fail():
    n, why = threads.usable_cpus()
    assert 1 <= n <= (os.cpu_count() or 1) and why


# -- the policy ------------------------------------------------------------------------------------
@pytest.fixture
def policy(tmp_path, monkeypatch):
    """A private registry, no overrides, 4 usable CPUs; torch's thread count restored after."""
    before = torch.get_num_threads()
    monkeypatch.setenv("CLIPCOURSE_CPU_DIR", str(tmp_path / "registry"))
    for name in ("CLIPCOURSE_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_state", threads._State())
    monkeypatch.setattr(threads, "usable_cpus", lambda root="/": (4, "4 CPUs (test)"))
    threads._state.initial = 4
    yield tmp_path / "registry"
    torch.set_num_threads(before)


def _peer(registry: Path, pid: int, age: float = 0.0, started: int = 1) -> Path:
    """A heartbeat file of another kernel on this host."""
    registry.mkdir(exist_ok=True)
    path = registry / f"{started}-{threads._host()}-{pid}.busy"
    path.touch()
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_alone_a_kernel_takes_every_usable_cpu(policy):
    choice = threads.apply()
    assert (choice.mode, choice.threads, choice.busy) == ("auto", 4, 0)
    assert torch.get_num_threads() == 4
    assert "all 4 usable CPUs" in choice.reason


def test_busy_kernels_share_the_cpus_and_take_them_back(policy):
    threads.apply()
    parent = os.getppid()  # alive, so its file counts
    peers = [_peer(policy, parent, started=i) for i in (1, 2, 3)]
    seen = []
    for _ in threads.paced(range(3)):
        seen.append(torch.get_num_threads())
        threads._state.last_check = 0.0  # recheck at every step in this test
    assert seen == [1, 1, 1]  # 4 busy kernels on 4 CPUs: one thread each
    assert not list(policy.glob(f"*-{os.getpid()}.busy"))  # unregistered at the end
    for peer in peers[1:]:
        peer.unlink()
    for _ in threads.paced(range(2)):
        seen.append(torch.get_num_threads())
    assert seen[-1] == 2  # 2 busy kernels on 4 CPUs
    peers[0].unlink()
    threads.apply()
    assert torch.get_num_threads() == 4  # alone again


def test_uneven_shares_give_the_earliest_kernels_the_spare_cpu():
    names = ["1-h-1.busy", "2-h-2.busy", "3-h-3.busy"]
    assert [threads._share(4, names, n) for n in names] == [2, 1, 1]
    assert threads._share(2, names, names[2]) == 1  # never 0
    assert threads._share(4, names, None) == 1  # a newcomer would be the 4th


def test_stale_and_dead_kernels_do_not_count(policy):
    stale = _peer(policy, os.getppid(), age=threads._STALE_AFTER_S + 5)
    dead_pid = 2 ** 22 + 12345  # above pid_max on Linux: no such process
    dead = _peer(policy, dead_pid, started=2)
    (policy / "unrelated.txt").write_text("not ours")
    assert threads.choose_threads().busy == 0
    assert not stale.exists() and not dead.exists()  # cleaned up
    assert (policy / "unrelated.txt").exists()


@pytest.mark.parametrize("env, mode, count", [
    ({"CLIPCOURSE_THREADS": "1"}, "fixed", 1),
    ({"CLIPCOURSE_THREADS": "3"}, "fixed", 3),
    ({"OMP_NUM_THREADS": "2"}, "fixed", 2),
    ({"OMP_NUM_THREADS": "2", "CLIPCOURSE_THREADS": "auto"}, "auto", 4),
    ({"CLIPCOURSE_THREADS": "off"}, "off", None),
])
def test_settings_override_the_policy(policy, monkeypatch, env, mode, count):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    torch.set_num_threads(3)
    parent = os.getppid()
    _peer(policy, parent)  # a busy peer would make auto take 2 of 4
    choice = threads.apply()
    assert choice.mode == mode
    if mode == "off":
        assert torch.get_num_threads() == 3 and "off" in choice.reason
    elif mode == "fixed":
        assert torch.get_num_threads() == count
        for _ in threads.paced(range(2)):
            assert torch.get_num_threads() == count  # never adapted
    else:
        assert torch.get_num_threads() == 2


def test_an_invalid_setting_warns_once_and_falls_back_to_auto(policy, monkeypatch):
    monkeypatch.setenv("CLIPCOURSE_THREADS", "two")
    with pytest.warns(RuntimeWarning, match="CLIPCOURSE_THREADS='two'") as caught:
        assert threads.apply().mode == "auto"
        threads.apply()
    assert len(caught) == 1
    assert Path(caught[0].filename) == Path(__file__)  # points at the caller, not clipcourse


def test_an_explicit_set_num_threads_is_never_overridden(policy):
    threads.apply()
    torch.set_num_threads(3)  # the learner's own choice
    _peer(policy, os.getppid())
    for _ in threads.paced(range(2)):
        threads._state.last_check = 0.0
        assert torch.get_num_threads() == 3
    assert threads.apply().mode == "fixed"
    assert torch.get_num_threads() == 3


def test_fixed_threads_pins_even_when_the_policy_chose_the_same_count(policy):
    """train_tiny's 2 threads reproduce the shipped weights: the policy must not move them,
    even when it had itself chosen 2 and another kernel becomes busy."""
    torch.set_num_threads(2)
    threads._state.initial = 2
    threads.apply()
    assert torch.get_num_threads() == 2
    _peer(policy, os.getppid())
    with threads.fixed_threads(2):
        for _ in threads.paced(range(3)):
            threads._state.last_check = 0.0
            assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2  # restored (the peer is still busy: next loop adapts)
    for _ in threads.paced(range(1)):
        assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="at least 1"):
        with threads.fixed_threads(0):
            pass


def test_train_tiny_trains_under_fixed_threads(monkeypatch, policy, tmp_path):
    from clipcourse import train

    seen = {}

    def fake(out, seed, recipe, progress, evaluate):
        seen["threads"], seen["pinned"] = torch.get_num_threads(), threads._state.pinned
        return {}

    monkeypatch.setattr(train, "_train_tiny", fake)
    train.train_tiny(out=tmp_path / "x.pt", threads=3)
    assert seen == {"threads": 3, "pinned": 1}


def test_a_registry_folder_that_cannot_be_made_is_harmless(policy, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CLIPCOURSE_CPU_DIR", str(blocker / "registry"))
    threads.apply()
    assert list(threads.paced(range(3))) == [0, 1, 2]


def test_doctor_prints_the_choice(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CLIPCOURSE_THREADS", "1")
    before = torch.get_num_threads()
    out = io.StringIO()
    try:
        cli.doctor(out)
    finally:
        torch.set_num_threads(before)
    line = next(line for line in out.getvalue().splitlines() if "threads  " in line)
    assert "1 for torch" in line and "CLIPCOURSE_THREADS=1" in line


def test_host_names_with_dashes_still_parse():
    assert "-" not in threads._host()
    assert socket.gethostname().replace("-", "_") == threads._host()
