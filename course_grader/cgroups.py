"""Control groups for the grader's sandboxes: limits for the whole sandbox, not per process.

One :class:`Cgroup` per sandbox caps the memory of all its processes and tmpfs files together
(no swap), the number of its processes, and gives it an equal CPU weight, so a fork bomb of busy
loops only eats its own share. Which kind works here is probed once (:func:`cgroup_problem`):

* root on cgroup v2: ``/sys/fs/cgroup/course-grader/box-<pid>-<n>``;
* root on cgroup v1: a group of that name in the ``memory``, ``pids`` and ``cpu`` hierarchies,
  under the grader's own group;
* not root on cgroup v2: a transient ``systemd-run --user --scope``;
* otherwise none: :func:`warn_if_no_cgroup` prints one line, and the limits are per process only.

The sandboxed command enters its group before it starts (:meth:`Cgroup.prefix`). If that fails at
start (a group removed under it, systemd refusing a scope), the command runs without the group
and a marker file says so (:data:`NOT_ENTERED`), instead of the kernel not starting at all.
Groups left behind by a grader process that was killed (``box-<pid>-…`` of a dead pid) are
removed when the next group is made next to them.
"""
from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

if TYPE_CHECKING:  # sandbox.py imports this module: no import of it at run time
    from .sandbox import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "course-grader"
_CONTROLLERS = ("memory", "pids", "cpu")
_counter = itertools.count(1)
NOT_ENTERED = "cgroup-not-entered"  # marker file: the command started without its group
_ENTERED = "cgroup-entered"         # marker file (systemd): the scope was made and entered
_OURS = re.compile(r"^(?:box|probe)-(\d+)(?:-|$)")


def _write(path: Path, value) -> None:
    with open(path, "w") as fh:
        fh.write(str(value))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def remove_stale(parent: Path) -> List[Path]:
    """Remove the empty groups in ``parent`` left by grader processes that are gone
    (``box-<pid>-…``/``probe-<pid>`` whose pid is not alive, e.g. a worker that was SIGKILLed
    before it could clean up); return the ones removed. A group with processes still in it stays
    (rmdir fails), so does any group of a live pid."""
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        match = _OURS.match(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False) or int(match.group(1)) == os.getpid():
            continue
        if _pid_alive(int(match.group(1))):
            continue
        try:
            os.rmdir(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _v1_mounts() -> Dict[str, Path]:
    """cgroup v1 hierarchy mount point per controller we use (``memory``, ``pids``, ``cpu``)."""
    found: Dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "cgroup":
            opts = parts[3].split(",")
            for ctl in _CONTROLLERS:
                if ctl in opts and ctl not in found:
                    found[ctl] = Path(parts[1])
    return found


def _own_v1_path(controller: str) -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctls, path = line.split(":", 2)
            if controller in ctls.split(","):
                return path
    except (OSError, ValueError):
        pass
    return "/"


def _v2_controllers(path: Path) -> List[str]:
    try:
        return (path / "cgroup.controllers").read_text().split()
    except OSError:
        return []


def kill_until_gone(find_pids, rounds: int, pause: float) -> int:
    """SIGKILL every pid ``find_pids()`` lists, again and again (up to ``rounds`` times, ``pause``
    seconds apart) until it lists none; return how many kills were sent."""
    killed = 0
    for _ in range(rounds):
        pids = find_pids()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(pause)
    return killed


class Cgroup:
    """One control group around one sandbox: total memory (including its tmpfs files, no swap),
    number of processes and an equal CPU weight, whatever it forks.

    ``kind`` is ``"v2"`` (root: ``/sys/fs/cgroup/course-grader/<name>``), ``"v1"`` (root: a
    group of that name in the ``memory``, ``pids`` and ``cpu`` hierarchies, under the grader's
    own group) or ``"systemd"`` (not root, cgroup v2: a transient ``systemd-run --user --scope``).
    The sandboxed command enters it before it starts (:meth:`prefix`); :meth:`kill` kills every
    process in it, :meth:`remove` deletes it."""

    def __init__(self, kind: str, name: str, limits: "Limits"):
        self.kind, self.name, self.limits = kind, name, limits
        self.dirs: List[Path] = []
        self.unit = f"{name}.scope"
        if kind not in ("v2", "v1", "systemd"):
            raise ValueError(f"unknown cgroup kind {kind!r}")
        try:
            if kind == "v2":
                self._make_v2()
            elif kind == "v1":
                self._make_v1()
        except BaseException:
            self.remove()
            raise

    # -- creation -------------------------------------------------------------------------
    def _make_v2(self) -> None:
        parent = CGROUP_ROOT / CGROUP_PARENT
        try:
            self._make_v2_in(parent)
        except OSError:
            try:
                parent.rmdir()
            except OSError:
                pass
            raise

    def _make_v2_in(self, parent: Path) -> None:
        wanted = [c for c in _CONTROLLERS if c in _v2_controllers(CGROUP_ROOT)]
        for attempt in range(5):
            try:
                parent.mkdir(exist_ok=True)
                remove_stale(parent)
                for where in (CGROUP_ROOT, parent):
                    have = (where / "cgroup.subtree_control").read_text().split()
                    missing = [c for c in wanted if c not in have]
                    if missing:
                        _write(where / "cgroup.subtree_control", " ".join("+" + c for c in missing))
                box = parent / self.name
                box.mkdir()
                self.dirs = [box]
                break
            except FileNotFoundError:  # parent removed by another sandbox just now
                if attempt == 4:
                    raise
        total = self.limits.sandbox_memory
        _write(box / "memory.max", total)
        if (box / "memory.swap.max").exists():
            _write(box / "memory.swap.max", 0)
        _write(box / "pids.max", self.limits.processes)
        if (box / "cpu.weight").exists():
            _write(box / "cpu.weight", 100)

    def _make_v1(self) -> None:
        mounts = _v1_mounts()
        for ctl in ("memory", "pids", "cpu"):
            base = mounts[ctl] / _own_v1_path(ctl).lstrip("/")
            if not base.is_dir():  # a container shows its own group as the mount's root
                base = mounts[ctl]
            parent = base / CGROUP_PARENT
            for attempt in range(5):
                try:
                    parent.mkdir(exist_ok=True)
                    remove_stale(parent)
                    if ctl == "cpu":  # all sandboxes together weigh like one task per core
                        _write(parent / "cpu.shares", 1024 * (os.cpu_count() or 1))
                    box = parent / self.name
                    box.mkdir()
                    break
                except FileNotFoundError:
                    if attempt == 4:
                        raise
            self.dirs.append(box)
            if ctl == "memory":
                total = self.limits.sandbox_memory
                _write(box / "memory.limit_in_bytes", total)
                if (box / "memory.memsw.limit_in_bytes").exists():
                    _write(box / "memory.memsw.limit_in_bytes", total)
            elif ctl == "pids":
                _write(box / "pids.max", self.limits.processes)
            else:
                _write(box / "cpu.shares", 1024)

    # -- use ------------------------------------------------------------------------------
    def prefix(self, fallback: Optional[Path] = None) -> List[str]:
        """Command prefix that puts the command (and so everything it starts) into the group.

        Without ``fallback`` a failure to enter the group means the command does not run (exit
        status 125; the probe wants that). With a folder ``fallback`` (one only the grader can
        write to) the command then runs without the group and ``fallback/NOT_ENTERED`` is
        created: see :func:`entered`."""
        if self.kind == "systemd":
            # the kernel's environment is the sandbox's, so systemd-run gets the user bus
            # explicitly, and the command inside does not inherit it
            bus = [f"{k}={os.environ[k]}" for k in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
                   if k in os.environ]
            run = ["env", *bus, "systemd-run", "--user", "--scope", "--quiet", "--collect",
                   "--unit", self.unit, "-p", f"MemoryMax={self.limits.sandbox_memory}",
                   "-p", "MemorySwapMax=0", "-p", f"TasksMax={self.limits.processes}",
                   "-p", "CPUWeight=100", "--", "env", "-u", "XDG_RUNTIME_DIR",
                   "-u", "DBUS_SESSION_BUS_ADDRESS", "--"]
            if fallback is None:
                return run
            # systemd-run execs the command once it is in the scope, so its exit status is the
            # command's: the command first marks that it got there. No mark and a failure:
            # systemd-run itself failed, so run the command without the scope.
            script = (f'd=$1; shift; {shlex.join(run)} /bin/sh -c \'echo > "$0/{_ENTERED}"; '
                      f'exec "$@"\' "$d" "$@"; rc=$?; '
                      f'if [ "$rc" != 0 ] && [ ! -e "$d/{_ENTERED}" ]; then '
                      f'echo systemd-run failed > "$d/{NOT_ENTERED}"; exec "$@"; fi; exit "$rc"')
            return ["/bin/sh", "-c", script, "sh", str(fallback)]
        procs = [str(d / "cgroup.procs") for d in self.dirs]
        if fallback is None:
            return ["/bin/sh", "-c",
                    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; '
                    'exec "$@"', "sh", *procs, "--"]
        return ["/bin/sh", "-c",
                'd=$1; shift; while [ "$1" != -- ]; do '
                f'echo $$ 2>/dev/null > "$1" || echo "$1" >> "$d/{NOT_ENTERED}"; shift; done; '
                'shift; exec "$@"', "sh", str(fallback), *procs, "--"]

    def _systemd_dir(self) -> Optional[Path]:
        if self.dirs:
            return self.dirs[0] if self.dirs[0].is_dir() else None
        try:
            done = subprocess.run(["systemctl", "--user", "show", "-p", "ControlGroup", "--value",
                                   self.unit], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        path = done.stdout.strip()
        if not path:
            return None
        self.dirs = [CGROUP_ROOT / path.lstrip("/")]
        return self.dirs[0]

    def pids(self) -> List[int]:
        dirs = self.dirs
        if self.kind == "systemd":
            found = self._systemd_dir()
            dirs = [found] if found else []
        out: set = set()
        for d in dirs:
            try:
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill(self) -> int:
        """SIGKILL every process in the group (until it is empty); return how many were seen."""
        if self.kind == "v2" and self.dirs and (self.dirs[0] / "cgroup.kill").exists():
            try:
                _write(self.dirs[0] / "cgroup.kill", 1)
            except OSError:
                pass
        if self.kind == "systemd":
            subprocess.run(["systemctl", "--user", "kill", "--signal=SIGKILL", self.unit],
                           capture_output=True, timeout=10)
        return kill_until_gone(self.pids, rounds=100, pause=0.02)

    def remove(self) -> None:
        """Kill what is left and delete the group (and the shared parent once it is empty)."""
        self.kill()
        if self.kind == "systemd":
            subprocess.run(["systemctl", "--user", "stop", self.unit], capture_output=True, timeout=10)
            self.dirs = []
            return
        for d in self.dirs:
            for _ in range(100):  # a process that was just killed may hold it for a moment
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            try:
                d.parent.rmdir()  # only succeeds when no other sandbox uses it
            except OSError:
                pass
        self.dirs = []


@lru_cache(maxsize=1)
def _cgroup_choice() -> Tuple[Optional[str], Optional[str]]:
    """``(kind, None)`` where a per-sandbox cgroup works here, else ``(None, why not)``."""
    if not sys.platform.startswith("linux"):
        return None, f"no cgroups on {sys.platform}"
    v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
    kinds = []
    if os.geteuid() == 0:
        if v2:
            if not {"memory", "pids"} <= set(_v2_controllers(CGROUP_ROOT)):
                return None, "cgroup v2 without the memory and pids controllers"
            kinds = ["v2"]
        else:
            mounts = _v1_mounts()
            if not {"memory", "pids", "cpu"} <= set(mounts):
                return None, ("no writable cgroup v1 memory/pids/cpu hierarchies "
                              f"(found {', '.join(sorted(mounts)) or 'none'})")
            kinds = ["v1"]
    elif v2 and shutil.which("systemd-run") and shutil.which("systemctl"):
        kinds = ["systemd"]
    else:
        return None, ("not root, and cgroup v1 cannot be delegated to a user" if not v2 else
                      "not root, and systemd-run (to get a delegated cgroup) not found")
    kind = kinds[0]
    probe = None
    try:
        from .sandbox import Limits

        probe = Cgroup(kind, f"probe-{os.getpid()}", Limits(sandbox_memory=256 * 1024 ** 2,
                                                              processes=16))
        done = subprocess.run(probe.prefix() + ["/bin/sh", "-c", "cat /proc/self/cgroup"],
                              capture_output=True, text=True, timeout=30,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        if done.returncode != 0:
            return None, f"cannot enter a {kind} cgroup: {done.stderr.strip()[:200]}"
        if kind == "systemd":
            path = next((ln.split(":", 2)[2] for ln in done.stdout.splitlines()
                         if ln.startswith("0::")), "")
            folder = CGROUP_ROOT / path.lstrip("/")
            if not (folder / "memory.max").exists() or not (folder / "pids.max").exists():
                return None, ("systemd does not delegate the memory and pids controllers to "
                              "user scopes here")
        elif probe.name not in done.stdout:
            return None, f"the {kind} cgroup was not entered"
    except (OSError, subprocess.SubprocessError, KeyError) as exc:
        return None, f"cannot create a {kind} cgroup: {exc}"
    finally:
        if probe is not None:
            try:
                probe.remove()
            except (OSError, subprocess.SubprocessError):
                pass
    return kind, None


def cgroup_problem() -> Optional[str]:
    """``None`` if each sandbox gets its own cgroup here, else why not (one line)."""
    return _cgroup_choice()[1]


CGROUP_WARNING = ("WARNING: no cgroup for the grader sandboxes ({why}): memory, process and CPU "
                  "limits are per process only, so one submission can slow down or starve the "
                  "others graded at the same time.")


_WARNED = "COURSE_GRADER_CGROUP_WARNED"


def warn_if_no_cgroup() -> Optional[str]:
    """Print :data:`CGROUP_WARNING` (one line, once: also not again in worker processes started
    afterwards) if sandboxes get no cgroup here; return the reason or ``None``."""
    why = cgroup_problem()
    if why is not None and not os.environ.get(_WARNED):
        print(CGROUP_WARNING.format(why=why), file=sys.stderr)
        os.environ[_WARNED] = "1"
    return why


def new_cgroup(limits: "Limits", hint: str = "") -> Optional[Cgroup]:
    """A fresh cgroup for one sandbox, or ``None`` (with a one-time warning) where there is none."""
    kind, why = _cgroup_choice()
    if kind is None:
        warn_if_no_cgroup()
        return None
    return Cgroup(kind, f"box-{os.getpid()}-{hint}{next(_counter)}", limits)


def entered(fallback: Path) -> bool:
    """``False`` if a command started with ``prefix(fallback)`` could not enter its group (and so
    ran with per-process limits only), else ``True``."""
    return not (Path(fallback) / NOT_ENTERED).exists()
