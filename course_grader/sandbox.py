"""The submission sandbox: Debian's ``bubblewrap`` (``bwrap``) plus resource limits.

What the kernel of one submission sees (everything else does not exist for it):

==========================  ===========  ====================================================
path                        access       why
==========================  ===========  ====================================================
``notebooks/``, ``HOME``    read-write   its working directory and home: size-capped tmpfs
its ``run/`` folder         read-write   the host's folder: connection file and sockets only
``course_utils/`` only      read-only    the course package the chapters import
the virtualenv, base Python read-only    the interpreter and its packages
``data/``                   read-only    the chapters' data (also as ``../data``)
``/usr``, fonts, ld cache   read-only    shared libraries, ``dot``, fonts
``/tmp``                    private      a size-capped tmpfs
``/proc``                   own only     its own PID namespace
network                     none         ``--unshare-net``; the kernel protocol uses Unix sockets
==========================  ===========  ====================================================

Not there: the repository (instructor notebooks, other course files), the notebook being graded
(cells arrive over the kernel protocol), other submissions, the grader's output, ``/home``,
``/root``, other processes. Limits per process (``prlimit``): address space, processes, CPU
seconds, file size, open files, no core dumps. Limits for the whole sandbox (a cgroup of its own,
see :class:`Cgroup`): memory of all its processes and tmpfs files together, number of processes,
and an equal CPU weight, so a fork bomb of busy loops only eats its own share and one submission
cannot starve or out-of-memory the others graded at the same time. Where no cgroup can be made
(not root on cgroup v1, no systemd user session) a one-line warning says those limits are per
process only. When the grader runs as root the kernel runs as a dedicated unprivileged uid with
no capabilities; otherwise inside a user namespace as ``nobody``. ``--die-with-parent`` and
``--new-session``; at the end of the run every process it started is killed (its cgroup, the PID
namespace, and as root every process of its uid).
"""
from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

GiB = 1024 ** 3
INSTALL_HINT = ("install bubblewrap to isolate student code: sudo apt-get install -y bubblewrap "
                "(make setup does it when run as root)")
BASE_UID = 62000
UID_RANGE = 3000
UID_LOCKS = Path("/run/course-grader-uids") if os.path.isdir("/run") else Path("/tmp/course-grader-uids")


MiB = 1024 ** 2


@dataclass
class Limits:
    """Resource limits of one sandbox.

    Per process (``prlimit``): ``memory`` (address space), ``cpu_seconds``, ``file_size``,
    ``open_files``, no core dumps; ``processes`` as RLIMIT_NPROC too. For the whole sandbox (its
    cgroup, where there is one): ``sandbox_memory`` (all its processes and its tmpfs files
    together, no swap; default ``memory``), ``processes`` and an equal CPU weight. Its writable
    folders are size-capped tmpfs: ``work_size`` (working folder), ``home_size``, ``tmp_size``."""

    memory: int = 6 * GiB          # address space (RLIMIT_AS); torch alone maps ~1-2 GiB
    processes: int = 128           # the whole sandbox (cgroup pids.max) and RLIMIT_NPROC
    cpu_seconds: int = 1200        # RLIMIT_CPU per process
    file_size: int = 256 * MiB     # RLIMIT_FSIZE: largest file it may write
    open_files: int = 1024
    tmp_size: int = 256 * MiB      # the private /tmp
    work_size: int = 256 * MiB     # the working folder notebooks/ (a tmpfs)
    home_size: int = 64 * MiB      # HOME (a tmpfs)
    sandbox_memory: Optional[int] = None  # cgroup memory for everything in it; None: ``memory``

    def __post_init__(self):
        if self.sandbox_memory is None:
            self.sandbox_memory = self.memory

    @classmethod
    def for_jobs(cls, jobs: int, **overrides) -> "Limits":
        """Default limits for ``jobs`` sandboxes at once: each one's total memory is at most its
        equal part of 80 % of the machine's RAM (and at most ``memory``), so together they cannot
        run the host out of memory."""
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
        limits = cls(**overrides)
        ram = _ram_bytes()
        if ram and "sandbox_memory" not in overrides:
            limits.sandbox_memory = min(limits.sandbox_memory, int(ram * 0.8) // jobs)
        return limits

    def prlimit_args(self, nproc: Optional[int] = None) -> List[str]:
        args = ["prlimit", f"--as={self.memory}", f"--cpu={self.cpu_seconds}",
                f"--fsize={self.file_size}", f"--nofile={self.open_files}", "--core=0"]
        if nproc is not None:
            args.append(f"--nproc={nproc}")
        return args + ["--"]


def _ram_bytes() -> Optional[int]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def find_bwrap() -> Optional[str]:
    return shutil.which("bwrap")


def bwrap_version(bwrap: Optional[str] = None) -> Tuple[int, ...]:
    """``bwrap --version`` as a tuple (``(0, 8, 0)``), ``()`` if unknown."""
    bwrap = bwrap or find_bwrap()
    if not bwrap:
        return ()
    return _bwrap_version(bwrap)


@lru_cache(maxsize=8)
def _bwrap_version(bwrap: str) -> Tuple[int, ...]:
    try:
        text = subprocess.run([bwrap, "--version"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    import re

    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else ()


def _size(nbytes: int) -> List[str]:
    """``--size`` for the next tmpfs (bubblewrap 0.7+). Older bwrap (Ubuntu 22.04: 0.6.1) gets
    none: then the sandbox's cgroup memory limit is what caps its tmpfs."""
    return ["--size", str(nbytes)] if bwrap_version() >= (0, 7) else []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@lru_cache(maxsize=1)
def sandbox_problem() -> Optional[str]:
    """``None`` if bubblewrap can start a sandbox here, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    bwrap = find_bwrap()
    if bwrap is None:
        return "bwrap not found; " + INSTALL_HINT
    if not shutil.which("prlimit"):
        return "prlimit (util-linux) not found"
    if bwrap_version(bwrap) and bwrap_version(bwrap) < (0, 7) and cgroup_problem() is not None:
        return (f"bubblewrap {'.'.join(map(str, bwrap_version(bwrap)))} cannot cap the size of "
                f"the sandbox's tmpfs (--size needs 0.7) and there is no cgroup to cap it "
                f"({cgroup_problem()})")
    return _probe_sandbox(bwrap)


def _probe_sandbox(bwrap: str) -> Optional[str]:
    """Start the very command :meth:`Sandbox.wrap` builds (without a cgroup) around
    ``python -c pass``: an old bwrap that lacks an option it uses (``--size`` needs 0.7,
    ``--perms`` 0.5) or user namespaces that are off show up here, not as dead kernels."""
    import tempfile

    version = ""
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as tmp:
        box = None
        try:
            data = Path(tmp) / "data"
            data.mkdir()
            box = Sandbox(Path(tmp) / "w", data, cgroup=False)
            marker = box.run_dir / "probe.json"
            marker.write_text("{}")
            if box.root:
                os.chown(marker, box.uid, box.uid)
            argv = [a.replace("{connection_file}", str(marker))
                    for a in box.wrap([sys.executable, "-c", "pass"])]
            done = subprocess.run(argv, capture_output=True, timeout=60, cwd=str(box.cwd),
                                  env=box.env())
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            return f"bwrap does not start: {exc}"
        finally:
            if box is not None:
                box.kill_leftovers()
                box.release()
    if done.returncode != 0:
        err = " ".join(done.stderr.decode(errors="replace").split())[:200]
        hint = ("; bubblewrap 0.5 or newer is needed (--perms), 0.7 for --size"
                if "unknown option" in err.lower() or "unrecognized" in err.lower() else
                "; user namespaces off?" if "namespace" in err.lower() or "permission" in err.lower()
                else "")
        return f"bwrap ({version or 'unknown version'}) cannot start the sandbox: {err}{hint}"
    return None


def course_utils_dir() -> Path:
    spec = importlib.util.find_spec("course_utils")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("course_utils is not importable")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _python_dirs() -> List[Path]:
    dirs = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
            Path(os.path.realpath(sys.executable)).parent.parent}
    return sorted(dirs)


def _copy_font_cache(home: Path, flat: bool = False) -> None:
    """Matplotlib's font list, so each kernel does not rebuild it (seconds per run); into
    ``home/.mpl`` (or ``home`` itself with ``flat``)."""
    candidates = [os.environ.get("MPLCONFIGDIR"), Path.home() / ".cache" / "matplotlib",
                  Path.home() / ".matplotlib"]
    target = home if flat else home / ".mpl"
    target.mkdir(parents=True, exist_ok=True)
    for folder in candidates:
        if folder and Path(folder).is_dir():
            for f in Path(folder).glob("fontlist-*.json"):
                shutil.copy2(f, target / f.name)
            break


class Unsandboxed:
    """The fallback when bubblewrap is unavailable: same folder layout and ``prlimit`` limits
    (memory, CPU, file size; no process or file-system isolation). Student code is NOT isolated."""

    interrupt_mode = "signal"

    def __init__(self, work: Path, data_dir: Path, *, limits: Optional[Limits] = None, slot: int = 0):
        self.work = Path(work).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.limits = limits or Limits()
        for sub in ("notebooks", "home", "run"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        (self.work / "data").symlink_to(self.data_dir, target_is_directory=True)

    cwd = property(lambda self: self.work / "notebooks")
    run_dir = property(lambda self: self.work / "run")

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["COURSE_DATA_DIR"] = str(self.data_dir)
        return env

    def wrap(self, argv: List[str]) -> List[str]:
        return (self.limits.prlimit_args() if shutil.which("prlimit") else []) + list(argv)

    def kill_leftovers(self) -> int:
        return 0

    def release(self) -> None:
        pass


class Sandbox:
    """One bubblewrap sandbox around one kernel, rooted in the private folder ``work``.

    ``work`` gets ``notebooks/`` (the kernel's cwd), ``data/`` (mount point), ``home/`` and
    ``run/`` (kernel connection file and sockets). ``slot`` picks the uid when root."""

    interrupt_mode = "message"  # the kernel is not our child: it interrupts itself

    def __init__(self, work: Path, data_dir: Path, *, limits: Optional[Limits] = None, slot: int = 0,
                 cgroup: bool = True):
        self.work = Path(work).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.limits = limits or Limits()
        self.root = os.geteuid() == 0
        self._lock = None
        self.cgroup: Optional[Cgroup] = None
        self.uid = self._claim_uid(slot) if self.root else None
        for sub in ("notebooks", "data", "home", "run", "fonts"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        _copy_font_cache(self.work / "fonts", flat=True)
        if self.root:
            os.chown(self.run_dir, self.uid, self.uid)
            os.chmod(self.work, 0o700)
        if cgroup:
            try:
                self.cgroup = new_cgroup(self.limits, f"{self.uid}-" if self.root else "")
            except OSError as exc:  # worked in the probe, fails now: grade anyway, and say so
                print(f"WARNING: no cgroup for this sandbox ({exc}): its limits are per process "
                      "only", file=sys.stderr)
            except BaseException:
                self.release()
                raise

    def _claim_uid(self, slot: int) -> int:
        """A uid no other running sandbox uses (an exclusive lock per uid, held until
        :meth:`release`), so killing "every process of this uid" never hits another run."""
        import fcntl

        UID_LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
        for k in range(UID_RANGE):
            uid = BASE_UID + (slot + k) % UID_RANGE
            fh = open(UID_LOCKS / f"{uid}.lock", "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            if processes_of_uid(uid):  # someone else's leftovers: do not share
                fh.close()
                continue
            self._lock = fh
            return uid
        raise RuntimeError(f"no free sandbox uid in {BASE_UID}..{BASE_UID + UID_RANGE - 1}")

    def release(self) -> None:
        """Remove the cgroup and give the uid back (after :meth:`kill_leftovers`)."""
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def cwd(self) -> Path:
        return self.work / "notebooks"

    @property
    def run_dir(self) -> Path:
        return self.work / "run"

    def env(self) -> Dict[str, str]:
        home = self.work / "home"
        venv_bin = str(Path(sys.executable).parent)
        return {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
                "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
                "MPLCONFIGDIR": str(home / ".mpl"), "XDG_CACHE_HOME": str(home / ".cache"),
                "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
                "JUPYTER_DATA_DIR": str(home / ".jupyter-data"),
                "JUPYTER_RUNTIME_DIR": str(self.run_dir), "PYTHONDONTWRITEBYTECODE": "1",
                "COURSE_DATA_DIR": str(self.data_dir)}

    def _dirs(self, path: Path, made: set) -> List[str]:
        """``--dir`` for every parent of ``path`` not yet created, world-traversable."""
        args = []
        parents = list(reversed(path.parents))[1:]  # skip "/"
        for p in parents:
            if str(p) not in made:
                made.add(str(p))
                args += ["--perms", "0755", "--dir", str(p)]
        return args

    def wrap(self, argv: List[str]) -> List[str]:
        """``argv`` (the kernel command) run inside the sandbox with the limits."""
        made: set = {"/tmp", "/usr", "/proc", "/dev"}
        args = [find_bwrap() or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--hostname", "grader", "--ro-bind", "/usr", "/usr"]
        for name in ("bin", "lib", "lib64", "lib32", "sbin"):
            p = Path("/") / name
            if p.is_symlink():
                args += ["--symlink", os.readlink(p), str(p)]
            elif p.is_dir():
                args += ["--ro-bind", str(p), str(p)]
        for extra in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts",
                      "/etc/localtime", "/etc/alternatives", "/var/cache/fontconfig",
                      "/etc/passwd", "/etc/group"):
            if os.path.exists(extra):
                args += self._dirs(Path(extra), made) + ["--ro-bind", extra, extra]
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", *_size(self.limits.tmp_size), "--tmpfs", "/tmp"]
        for path in _python_dirs() + [course_utils_dir(), self.data_dir]:
            args += self._dirs(path, made) + ["--ro-bind", str(path), str(path)]
            made.add(str(path))
        # Only run/ (connection file, sockets) is the host's folder; the places the kernel
        # writes are size-capped tmpfs that vanish with it, so it cannot fill the host's disk.
        home, mpl = self.work / "home", self.work / "home" / ".mpl"
        args += self._dirs(self.work, made) + ["--perms", "0755", "--dir", str(self.work)]
        args += ["--bind", str(self.run_dir), str(self.run_dir),
                 "--ro-bind", str(self.data_dir), str(self.work / "data"),
                 "--perms", "0777", *_size(self.limits.work_size), "--tmpfs", str(self.cwd),
                 "--perms", "0777", *_size(self.limits.home_size), "--tmpfs", str(home),
                 "--perms", "0777", "--dir", str(mpl)]
        for font_list in sorted((self.work / "fonts").glob("fontlist-*.json")):
            args += ["--ro-bind", str(font_list), str(mpl / font_list.name)]
        args += ["--chdir", str(self.cwd), "--unsetenv", "JPY_PARENT_PID"]
        if self.root:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN",
                     "--", "/bin/sh", "-c",
                     'chown "$1" "$2" "$3" "$4" "$5" && chmod 0700 "$3" "$4" && shift 5 && exec "$@"',
                     "sh", f"{self.uid}:{self.uid}", "{connection_file}", str(self.cwd), str(home),
                     str(mpl), "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                     "--clear-groups", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]
            args += self.limits.prlimit_args(self.limits.processes)
        else:
            args += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--"]
            args += self.limits.prlimit_args(_nproc_for_user_namespace(self.limits.processes))
        prefix = self.cgroup.prefix() if self.cgroup is not None else []
        return prefix + args + list(argv)

    def kill_leftovers(self) -> int:
        """Kill every process still in the sandbox's cgroup and, as root, every process still
        running as its uid; return how many."""
        killed = self.cgroup.kill() if self.cgroup is not None else 0
        if not self.root:
            return killed
        for _ in range(20):
            pids = processes_of_uid(self.uid)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
            time.sleep(0.05)
        return killed


def processes_of_uid(uid: int) -> List[int]:
    """PIDs whose real uid is ``uid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except OSError:
            continue
    return found


def _own_process_count() -> int:
    return len(processes_of_uid(os.getuid()))


def _nproc_for_user_namespace(processes: int) -> int:
    """RLIMIT_NPROC for a sandbox in its own user namespace. Since Linux 5.14 each user
    namespace counts its own processes (ucounts), so the limit is ``processes`` itself; before,
    the count was per real uid, so the user's other processes are added."""
    return processes if _kernel_at_least(5, 14) else _own_process_count() + processes


# ---------------------------------------------------------------------------------------------
# cgroups: limits for the whole sandbox, not per process
# ---------------------------------------------------------------------------------------------
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "course-grader"
_CONTROLLERS = ("memory", "pids", "cpu")
_counter = itertools.count(1)


def _write(path: Path, value) -> None:
    with open(path, "w") as fh:
        fh.write(str(value))


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


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        nums = os.uname().release.split("-")[0].split(".")
        return (int(nums[0]), int(nums[1])) >= (major, minor)
    except (ValueError, IndexError):
        return False


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
    def prefix(self) -> List[str]:
        """Command prefix that puts the command (and so everything it starts) into the group."""
        if self.kind == "systemd":
            # the kernel's environment is the sandbox's, so systemd-run gets the user bus
            # explicitly, and the command inside does not inherit it
            bus = [f"{k}={os.environ[k]}" for k in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
                   if k in os.environ]
            return ["env", *bus, "systemd-run", "--user", "--scope", "--quiet", "--collect",
                    "--unit", self.unit, "-p", f"MemoryMax={self.limits.sandbox_memory}",
                    "-p", "MemorySwapMax=0", "-p", f"TasksMax={self.limits.processes}",
                    "-p", "CPUWeight=100", "--", "env", "-u", "XDG_RUNTIME_DIR",
                    "-u", "DBUS_SESSION_BUS_ADDRESS", "--"]
        procs = [str(d / "cgroup.procs") for d in self.dirs]
        return ["/bin/sh", "-c",
                'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"',
                "sh", *procs, "--"]

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
        killed = 0
        if self.kind == "v2" and self.dirs and (self.dirs[0] / "cgroup.kill").exists():
            try:
                _write(self.dirs[0] / "cgroup.kill", 1)
            except OSError:
                pass
        if self.kind == "systemd":
            subprocess.run(["systemctl", "--user", "kill", "--signal=SIGKILL", self.unit],
                           capture_output=True, timeout=10)
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
            time.sleep(0.02)
        return killed

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

