"""Limits for the whole sandbox, not per process (course_grader.sandbox, course_grader.cgroups):
one submission graded
next to another must not be able to starve its CPU, exhaust the host's memory, fork without end
or fill the host's disk. Kernels run through course_grader.runner.KernelRun in a Sandbox.

Needs bubblewrap (skipped with one line when it is missing, except under CI=true, where it
fails); the tests of cgroup limits also need a cgroup the grader can create (root on cgroup v1
or v2, or a systemd user session on v2) and are skipped with one line where there is none.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import nbformat
import pytest

import subprocess

from course_grader import cgroups as C
from course_grader import sandbox as S
from course_grader.runner import KernelRun
from course_grader.sandbox import Limits, Sandbox, in_ci, sandbox_problem

PROBLEM = sandbox_problem()
if PROBLEM and not in_ci():
    pytest.skip(f"grader limit tests need bubblewrap ({PROBLEM})", allow_module_level=True)
CGROUP_PROBLEM = S.cgroup_problem()
needs_cgroup = pytest.mark.skipif(CGROUP_PROBLEM is not None,
                                  reason=f"no cgroup for the sandbox ({CGROUP_PROBLEM})")
MiB = 1024 ** 2


def _our_cgroups():
    """cgroup folders this test process created (``box-<pid>-…``) that still exist."""
    tag = f"box-{os.getpid()}-"
    roots = [C.CGROUP_ROOT / C.CGROUP_PARENT] + [m for m in C._v1_mounts().values()]
    found = []
    for root in roots:
        if root.is_dir():
            for dirpath, dirnames, _ in os.walk(root):
                found += [os.path.join(dirpath, d) for d in dirnames if d.startswith(tag)]
    return found


@pytest.fixture(autouse=True)
def nothing_left():
    yield
    assert _our_cgroups() == [], "a sandbox's cgroup was not removed"


class Box:
    """A sandbox plus a kernel in it; ``cell(code)`` runs code, returns its stdout (errors
    raise AssertionError). Everything is killed and removed on exit."""

    def __init__(self, tmp: Path, name: str, limits=None, cgroup=True):
        data = tmp / "data"
        data.mkdir(exist_ok=True)
        self.box = Sandbox(tmp / name, data, limits=limits, cgroup=cgroup,
                           slot=abs(hash(name)) % 100)
        self.nb = nbformat.v4.new_notebook()
        self.run = None

    def __enter__(self):
        try:
            self.run = KernelRun(self.nb, self.box.cwd, sandbox=self.box, run_dir=self.box.run_dir,
                                 env=self.box.env()).__enter__()
        except BaseException:
            self.close()
            raise
        return self

    def cell(self, code: str, timeout: float = 60, allow_error: bool = False) -> str:
        cell = nbformat.v4.new_code_cell(code)
        self.nb.cells.append(cell)
        reply = self.run.run_cell(cell, len(self.nb.cells) - 1, timeout)
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        if not allow_error:
            assert reply.get("status") == "ok", (reply.get("ename"), reply.get("evalue"), text)
        return text

    def kernel_pid(self) -> int:
        return self.run.client.km.provisioner.process.pid

    def close(self):
        try:
            if self.run is not None:
                self.run.__exit__(None, None, None)
        finally:
            self.box.kill_leftovers()
            pids = self.box.cgroup.pids() if self.box.cgroup is not None else []
            uid = self.box.uid
            self.box.release()
            assert pids == [], "processes left in the sandbox's cgroup"
            if uid is not None:
                assert S.processes_of_uid(uid) == [], "processes of the sandbox uid left"

    def __exit__(self, *exc):
        self.close()


def _value(text: str, key: str) -> float:
    match = re.search(rf"{key}=([-0-9.e]+)", text)
    assert match, text
    return float(match.group(1))


# ------------------------------------------------------------------------------ the probe
def _fake_bwrap(tmp_path, monkeypatch, version):
    """A ``bwrap`` first in PATH that says it is ``version`` and rejects ``--size``."""
    real = S.find_bwrap()
    if real is None:
        pytest.skip("no bwrap")
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    f"if [ \"$1\" = --version ]; then echo 'bubblewrap {version}'; exit 0; fi\n"
                    "for a in \"$@\"; do\n"
                    "  if [ \"$a\" = --size ]; then echo 'bwrap: Unknown option --size' >&2; exit 1; fi\n"
                    "done\n"
                    f"exec {real} \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    sandbox_problem.cache_clear()


def test_probe_names_a_bwrap_that_lacks_an_option(tmp_path, monkeypatch):
    _fake_bwrap(tmp_path, monkeypatch, "0.8.0")  # says it is new enough, yet rejects --size
    try:
        problem = sandbox_problem()
    finally:
        monkeypatch.undo()
        sandbox_problem.cache_clear()
    assert problem is not None
    assert "bubblewrap 0.8.0" in problem and "--size" in problem and "0.7" in problem, problem
    assert sandbox_problem() is None  # the real one passes the same probe


@pytest.mark.parametrize("cgroup", [None, "no cgroups here"], ids=["cgroup", "no-cgroup"])
def test_an_old_bwrap_without_size_still_sandboxes_and_warns_where_nothing_caps_its_tmpfs(
        tmp_path, monkeypatch, capsys, cgroup):
    # An uncapped tmpfs is a far smaller risk than no isolation: bubblewrap < 0.7 is used
    # (without --size), with one warning line where no cgroup caps the tmpfs either.
    from course_grader.run import use_sandbox

    _fake_bwrap(tmp_path, monkeypatch, "0.6.1")  # Ubuntu 22.04's
    monkeypatch.setattr(C, "_cgroup_choice", lambda: ("v2", None) if cgroup is None else (None, cgroup))
    for marker in (C._WARNED, S._SIZE_WARNED):
        monkeypatch.delenv(marker, raising=False)
    try:
        problem = sandbox_problem()  # the probe starts the sandbox through the old bwrap
        capsys.readouterr()
        sandboxed = use_sandbox(None)
        again = use_sandbox(None)
        err = capsys.readouterr().err
        data = tmp_path / "data"
        data.mkdir()
        box = Sandbox(tmp_path / "w", data, cgroup=False)
        try:
            argv = box.wrap(["true"])
        finally:
            box.release()
    finally:
        monkeypatch.undo()
        sandbox_problem.cache_clear()
    assert problem is None and sandboxed and again
    assert "--size" not in argv and "/dev/shm" not in argv and "--tmpfs" in argv
    if cgroup is None:
        assert err == "", err
    else:
        lines = err.splitlines()
        assert len(lines) == 2, err  # the no-cgroup line and the size line, once each
        assert "no cgroups here" in lines[0] and "per process only" in lines[0], err
        assert "bubblewrap 0.6.1" in lines[1] and "--size" in lines[1] and "0.7" in lines[1], err


def test_nproc_in_a_user_namespace_is_the_limit_itself_on_new_kernels(monkeypatch):
    monkeypatch.setattr(S, "_kernel_at_least", lambda major, minor: True)
    assert S._nproc_for_user_namespace(128) == 128
    monkeypatch.setattr(S, "_kernel_at_least", lambda major, minor: False)
    monkeypatch.setattr(S, "_own_process_count", lambda: 40)
    assert S._nproc_for_user_namespace(128) == 168


def test_limits_default_sandbox_memory_to_memory():
    assert Limits(memory=3 * MiB).sandbox_memory == 3 * MiB
    assert Limits(memory=3 * MiB, sandbox_memory=2 * MiB).sandbox_memory == 2 * MiB


def test_limits_for_jobs_share_the_machines_memory(monkeypatch):
    monkeypatch.setattr(S, "_ram_bytes", lambda: 10 * 1024 * MiB)
    assert Limits.for_jobs(1).sandbox_memory == 6 * 1024 * MiB
    assert Limits.for_jobs(4).sandbox_memory == int(10 * 1024 * MiB * 0.8) // 4
    assert Limits.for_jobs(4, sandbox_memory=5 * MiB).sandbox_memory == 5 * MiB
    with pytest.raises(ValueError):
        Limits.for_jobs(0)


def test_no_cgroup_gives_one_warning_line(monkeypatch, capsys):
    monkeypatch.setattr(C, "_cgroup_choice", lambda: (None, "no cgroups here"))
    monkeypatch.delenv(C._WARNED, raising=False)
    assert S.new_cgroup(Limits()) is None and S.new_cgroup(Limits()) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no cgroups here" in err and "per process only" in err, err


def test_sandbox_re_exports_the_cgroup_names_other_modules_use():
    for name in ("warn_if_no_cgroup", "new_cgroup", "cgroup_problem", "Cgroup", "CGROUP_ROOT",
                 "CGROUP_PARENT", "CGROUP_WARNING"):
        assert hasattr(S, name), name
    assert S.Cgroup is C.Cgroup and S.new_cgroup is C.new_cgroup


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_stale_groups_of_dead_grader_processes_are_removed(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    names = [f"box-{dead}-1", f"box-{dead}-62000-2", f"probe-{dead}", f"box-{dead}-3",
             f"box-{live}-1", f"box-{os.getpid()}-1", "box-x-1", f"other-{dead}"]
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / f"box-{dead}-3" / "busy").write_text("")  # like a group with processes: rmdir fails
    removed = C.remove_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:])


@needs_cgroup
def test_a_new_cgroup_removes_the_empty_groups_of_a_dead_worker():
    if C._cgroup_choice()[0] == "systemd":
        pytest.skip("systemd collects its own scopes")
    first = S.new_cgroup(Limits())
    stale = []
    try:
        dead = _dead_pid()
        for d in first.dirs:
            (d.parent / f"box-{dead}-7").mkdir()
            stale.append(d.parent / f"box-{dead}-7")
        second = S.new_cgroup(Limits())
        second.remove()
        left = [p for p in stale if p.exists()]
    finally:
        for p in stale:
            if p.exists():
                p.rmdir()
        first.remove()
    assert stale and left == []


def _bare_cgroup(kind, dirs):
    group = object.__new__(C.Cgroup)
    group.kind, group.name, group.limits, group.dirs = kind, "box-test", Limits(), dirs
    group.unit = "box-test.scope"
    return group


def test_a_command_that_cannot_enter_its_cgroup_still_runs_and_says_so(tmp_path):
    gone = _bare_cgroup("v1", [tmp_path / "removed-group"])  # its cgroup.procs cannot be written
    cmd = ["/bin/sh", "-c", "echo ran; exit 3"]
    strict = subprocess.run(gone.prefix() + cmd, capture_output=True, text=True)
    assert strict.returncode == 125 and strict.stdout == ""  # the probe's way: does not run
    marks = tmp_path / "marks"
    marks.mkdir()
    assert C.entered(marks)
    done = subprocess.run(gone.prefix(marks) + cmd, capture_output=True, text=True)
    assert done.returncode == 3 and done.stdout == "ran\n"
    assert not C.entered(marks)
    ok = tmp_path / "ok"
    ok.mkdir()
    (tmp_path / "fine").mkdir()
    (tmp_path / "fine" / "cgroup.procs").write_text("")
    done = subprocess.run(_bare_cgroup("v1", [tmp_path / "fine"]).prefix(ok) + cmd,
                          capture_output=True, text=True)
    assert done.returncode == 3 and done.stdout == "ran\n" and C.entered(ok)


def test_release_says_when_the_kernel_ran_outside_its_cgroup(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    box = Sandbox(tmp_path / "w", data, cgroup=False)
    assert box.cgroup_entered is None
    box.cgroup = _bare_cgroup("v1", [tmp_path / "gone"])
    assert box.cgroup_entered is True
    (box.work / C.NOT_ENTERED).write_text("")
    assert box.cgroup_entered is False
    box.release()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not enter its cgroup" in err, err


@needs_cgroup
def test_a_kernel_whose_cgroup_vanished_before_it_started_still_runs(tmp_path):
    if C._cgroup_choice()[0] == "systemd":
        pytest.skip("a systemd scope is made when the kernel starts (see the systemd-run test)")
    b = Box(tmp_path, "vanished")
    group = b.box.cgroup
    dirs = list(group.dirs)
    group.remove()  # like a cgroup removed between the sandbox's creation and the kernel's start
    group.dirs = dirs
    with b:
        assert b.cell("print('alive=1')") == "alive=1\n"
        assert b.box.cgroup_entered is False


@pytest.mark.parametrize("works", [True, False], ids=["scope", "systemd-run-fails"])
def test_a_kernel_whose_systemd_scope_fails_still_runs_and_says_so(tmp_path, monkeypatch, works):
    fake = tmp_path / "bin" / "systemd-run"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n" + ('while [ "$1" != -- ]; do shift; done; shift; exec "$@"\n'
                                       if works else "echo 'Failed to start scope' >&2; exit 1\n"))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    marks = tmp_path / "marks"
    marks.mkdir()
    done = subprocess.run(_bare_cgroup("systemd", []).prefix(marks) +
                          ["/bin/sh", "-c", "echo ran; exit 3"], capture_output=True, text=True)
    assert done.returncode == 3 and done.stdout == "ran\n", done
    assert C.entered(marks) == works


# ------------------------------------------------------------------------------ disk
def test_the_mounts_end_with_root_and_dev_read_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    box = Sandbox(tmp_path / "w", data, cgroup=False)
    try:
        argv = box.wrap(["true"])
    finally:
        box.release()
    argv = argv[:argv.index("--")]
    mounts = [i for i, a in enumerate(argv) if a in ("--bind", "--ro-bind", "--tmpfs", "--dir",
                                                      "--symlink", "--proc", "--dev")]
    ro = [i for i, a in enumerate(argv) if a == "--remount-ro"]
    assert [argv[i + 1] for i in ro] == ["/dev", "/"] and max(mounts) < min(ro), argv
    if S.can_cap_tmpfs():
        shm = argv.index("/dev/shm")
        assert argv[shm - 1] == "--tmpfs" and argv[shm - 2] == str(Limits().shm_size), argv


# Kernel-side helper: write ``per_file`` bytes into each of ``names`` in ``chunk``-byte writes;
# returns (errno name or 'none', bytes written before the error).
FILL = ("import errno, os\n"
        "def fill(names, per_file, chunk=2**20):\n"
        "    block = b'x' * chunk\n"
        "    written = 0\n"
        "    try:\n"
        "        for name in names:\n"
        "            with open(name, 'wb') as fh:\n"
        "                for _ in range(per_file // chunk):\n"
        "                    fh.write(block); fh.flush(); written += chunk\n"
        "    except OSError as exc:\n"
        "        return errno.errorcode[exc.errno], written\n"
        "    return 'none', written\n")


def test_only_the_capped_folders_are_writable_and_dev_shm_is_small(tmp_path):
    # Without root the sandbox's / (bwrap's tmpfs), /dev and the folders made in / belong to
    # its uid and have no size cap: they must be read-only. /dev/shm is a small tmpfs.
    with Box(tmp_path, "rootfs") as b:
        out = b.cell(
            FILL + "import multiprocessing\n"
            "for name in ('/x', '/etc/x', '/var/x', '/dev/x'):\n"
            "    print('%s=%s,%d' % ((name,) + fill([name], 2**20)))\n"
            "print('shm=%s,%d' % fill(['/dev/shm/big'], 200 * 2**20))\n"
            "os.remove('/dev/shm/big')\n"
            "lock = multiprocessing.Lock()\n"
            "print('lock=ok,0')\n", allow_error=not S.can_cap_tmpfs())
    for name in ("/x", "/etc/x", "/var/x", "/dev/x"):
        assert re.search(rf"^{name}=(EROFS|EACCES),0$", out, re.M), out
    shm = re.search(r"shm=(\w+),(\d+)", out).groups()
    if S.can_cap_tmpfs():
        assert shm[0] == "ENOSPC" and int(shm[1]) <= 64 * MiB, out
        assert "lock=ok" in out
    else:  # bubblewrap < 0.7: no capped tmpfs for it, so it is read-only
        assert shm[0] in ("EROFS", "EACCES") and shm[1] == "0", out


def test_writing_300_mb_in_the_working_folder_fails_inside_and_lands_nowhere(tmp_path):
    with Box(tmp_path, "disk") as b:
        out = b.cell(
            FILL + "big = 10 * 2**20\n"
            "print('one=%s,%d' % fill(['big.bin'], 300 * 2**20, big))\n"
            "os.remove('big.bin')\n"
            "print('three=%s,%d' % fill(['a.bin', 'b.bin', 'c.bin'], 100 * 2**20, big))\n"
            "print('home=%s,%d' % fill([os.path.expanduser('~/h.bin')], 300 * 2**20, big))\n")
        host_files = [p for p in (b.box.work).rglob("*") if p.is_file()]
        assert not any(p.stat().st_size > MiB for p in host_files), host_files
    one, three, home = (re.search(rf"{k}=(\w+),(\d+)", out).groups() for k in ("one", "three", "home"))
    assert one[0] in ("EFBIG", "ENOSPC") and int(one[1]) <= 256 * MiB, out
    assert three[0] == "ENOSPC" and int(three[1]) <= 256 * MiB, out
    assert home[0] in ("EFBIG", "ENOSPC") and int(home[1]) <= 64 * MiB, out


# ------------------------------------------------------------------------------ cgroups
@needs_cgroup
def test_the_kernel_runs_inside_the_sandboxs_cgroup(tmp_path):
    with Box(tmp_path, "where") as b:
        assert b.box.cgroup is not None
        assert b.kernel_pid() in b.box.cgroup.pids()
        b.cell("import subprocess\np = subprocess.Popen(['sleep', '600'], start_new_session=True)")
        assert len(b.box.cgroup.pids()) >= 2


HOG = ("import os, signal, time\n"
       "def hog(n, size):\n"
       "    kids = []\n"
       "    for _ in range(n):\n"
       "        pid = os.fork()\n"
       "        if pid == 0:\n"
       "            os.setsid()\n"
       "            block = b'\\x01' * size\n"
       "            time.sleep(3)\n"
       "            os._exit(0)\n"
       "        kids.append(pid)\n"
       "    killed = 0\n"
       "    for pid in kids:\n"
       "        _, status = os.waitpid(pid, 0)\n"
       "        killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL\n"
       "    return killed\n")


@needs_cgroup
def test_memory_of_all_processes_together_is_capped(tmp_path):
    limits = Limits(sandbox_memory=512 * MiB)
    with Box(tmp_path, "mem", limits=limits) as b:
        b.cell(HOG)
        one = _value(b.cell("print('killed=%d' % hog(1, 200 * 2**20))"), "killed")
        four = _value(b.cell("print('killed=%d' % hog(4, 200 * 2**20))"), "killed")
        assert b.cell("print('alive=1')") == "alive=1\n"
    assert one == 0, "one 200 MB child fits in 512 MiB"
    assert four >= 1, "4 x 200 MB children together went past the 512 MiB sandbox limit"


@pytest.mark.parametrize("cgroup", [True, False], ids=["cgroup", "rlimit-only"])
def test_process_cap_counts_the_whole_sandbox(tmp_path, cgroup):
    # Without a cgroup RLIMIT_NPROC has to do it: as root the sandbox's own uid; otherwise its
    # own user namespace, which counts its own processes since Linux 5.14.
    if cgroup and CGROUP_PROBLEM:
        pytest.skip(f"no cgroup for the sandbox ({CGROUP_PROBLEM})")
    if not cgroup and os.geteuid() != 0 and not S._kernel_at_least(5, 14):
        pytest.skip("before Linux 5.14 RLIMIT_NPROC counts all of the user's processes")
    limits = Limits(processes=24)
    with Box(tmp_path, "pids", limits=limits, cgroup=cgroup) as b:
        out = b.cell(
            "import os, time\n"
            "started = 0\n"
            "for _ in range(60):\n"
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError:\n"
            "        break\n"
            "    if pid == 0:\n"
            "        os.setsid()\n"
            "        time.sleep(600)\n"
            "        os._exit(0)\n"
            "    started += 1\n"
            "print('started=%d' % started)\n")
        inside = len(b.box.cgroup.pids()) if cgroup else None
    started = _value(out, "started")
    assert 5 <= started < 24, out
    assert inside is None or inside <= 24


SPIN = ("import os, resource, time\n"
        "def spin_children(n, seconds):\n"
        "    end = time.time() + seconds\n"
        "    kids = []\n"
        "    for _ in range(n):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            os.setsid()\n"
        "            while time.time() < end:\n"
        "                pass\n"
        "            os._exit(0)\n"
        "        kids.append(pid)\n"
        "    return kids, time.time()\n"
        "def reap(kids, since):\n"
        "    for pid in kids:\n"
        "        os.waitpid(pid, 0)\n"
        "    use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "    print('rate=%.4f' % ((use.ru_utime + use.ru_stime) / (time.time() - since)))\n")
VICTIM = ("import time\n"
          "c0, w0 = time.process_time(), time.time()\n"
          "while time.time() - w0 < {seconds}:\n"
          "    pass\n"
          "print('rate=%.4f' % ((time.process_time() - c0) / (time.time() - w0)))\n")


def cpu_rates(tmp_path, cgroup: bool, children: int = 20, seconds: float = 7.0):
    """CPU cores used by a busy victim kernel while another sandbox's kernel runs ``children``
    busy children (each in its own session) at the same time, and by those children together."""
    with Box(tmp_path, "attacker", cgroup=cgroup) as attacker, \
            Box(tmp_path, "victim", cgroup=cgroup) as victim:
        attacker.cell(SPIN)
        victim.cell("pass")
        attacker.cell(f"kids, since = spin_children({children}, {seconds})")
        victim_rate = _value(victim.cell(VICTIM.format(seconds=seconds - 2)), "rate")
        attacker_rate = _value(attacker.cell("reap(kids, since)"), "rate")
    return victim_rate, attacker_rate


@needs_cgroup
def test_a_fork_bomb_of_busy_loops_only_eats_its_own_share_of_cpu(tmp_path):
    # Fair share: the victim's one process gets about as much CPU as the attacker's 20 together
    # (each sandbox one equal weight). Per process (no cgroup) it would get about 1/20 of theirs.
    # A ratio of the two, measured at the same time, does not depend on other load on the host.
    victim, attacker = cpu_rates(tmp_path, cgroup=True)
    print(f"victim {victim:.2f} cores, attacker's 20 children {attacker:.2f} cores")
    assert victim >= 0.25 * attacker, (victim, attacker)
