"""The submission sandbox: Debian's ``bubblewrap`` (``bwrap``) plus resource limits.

What the kernel of one submission sees (everything else does not exist for it):

==========================  ===========  ====================================================
path                        access       why
==========================  ===========  ====================================================
its work folder             read-write   working directory ``notebooks/``, ``HOME``, sockets
``course_utils/`` only      read-only    the course package the chapters import
the virtualenv, base Python read-only    the interpreter and its packages
``data/``                   read-only    the chapters' data (also as ``../data``)
``/usr``, fonts, ld cache   read-only    shared libraries, ``dot``, fonts
``/tmp``                    private      a small tmpfs
``/proc``                   own only     its own PID namespace
network                     none         ``--unshare-net``; the kernel protocol uses Unix sockets
==========================  ===========  ====================================================

Not there: the repository (instructor notebooks, other course files), the notebook being graded
(cells arrive over the kernel protocol), other submissions, the grader's output, ``/home``,
``/root``, other processes. Limits (``prlimit``): address space, processes, CPU seconds, file
size, open files, no core dumps. When the grader runs as root the kernel runs as a dedicated
unprivileged uid with no capabilities; otherwise inside a user namespace as ``nobody``.
``--die-with-parent`` and ``--new-session``; at the end of the run every process it started is
killed (the PID namespace goes, and as root every process of its uid is killed too).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

GiB = 1024 ** 3
INSTALL_HINT = ("install bubblewrap to isolate student code: sudo apt-get install -y bubblewrap "
                "(make setup does it when run as root)")
BASE_UID = 62000
UID_RANGE = 3000
UID_LOCKS = Path("/run/course-grader-uids") if os.path.isdir("/run") else Path("/tmp/course-grader-uids")


@dataclass
class Limits:
    """Per-kernel resource limits (``prlimit`` inside the sandbox)."""

    memory: int = 6 * GiB          # address space (RLIMIT_AS); torch alone maps ~1-2 GiB
    processes: int = 128           # RLIMIT_NPROC for the sandbox's own uid
    cpu_seconds: int = 1200        # RLIMIT_CPU per process
    file_size: int = 256 * 1024 ** 2  # RLIMIT_FSIZE: largest file it may write
    open_files: int = 1024
    tmp_size: int = 256 * 1024 ** 2   # the private /tmp

    def prlimit_args(self, nproc: Optional[int] = None) -> List[str]:
        args = ["prlimit", f"--as={self.memory}", f"--cpu={self.cpu_seconds}",
                f"--fsize={self.file_size}", f"--nofile={self.open_files}", "--core=0"]
        if nproc is not None:
            args.append(f"--nproc={nproc}")
        return args + ["--"]


def find_bwrap() -> Optional[str]:
    return shutil.which("bwrap")


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
    args = [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent"]
    if os.geteuid() != 0:
        args += ["--unshare-user"]
    try:
        done = subprocess.run(args + ["true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not start: {exc}"
    if done.returncode != 0:
        return ("bwrap cannot create namespaces here (user namespaces off?): "
                + done.stderr.decode(errors="replace").strip()[:200])
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


def _copy_font_cache(home: Path) -> None:
    """Matplotlib's font list, so each kernel does not rebuild it (seconds per run)."""
    candidates = [os.environ.get("MPLCONFIGDIR"), Path.home() / ".cache" / "matplotlib",
                  Path.home() / ".matplotlib"]
    target = home / ".mpl"
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

    def __init__(self, work: Path, data_dir: Path, *, limits: Optional[Limits] = None, slot: int = 0):
        self.work = Path(work).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.limits = limits or Limits()
        self.root = os.geteuid() == 0
        self._lock = None
        self.uid = self._claim_uid(slot) if self.root else None
        for sub in ("notebooks", "data", "home", "run", "home/.cache"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        _copy_font_cache(self.work / "home")
        if self.root:
            for dirpath, dirnames, filenames in os.walk(self.work):
                for name in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                    os.chown(name, self.uid, self.uid)
            os.chmod(self.work, 0o700)

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
        """Give the uid back (after :meth:`kill_leftovers`)."""
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
                 "--perms", "1777", "--size", str(self.limits.tmp_size), "--tmpfs", "/tmp"]
        for path in _python_dirs() + [course_utils_dir(), self.data_dir]:
            args += self._dirs(path, made) + ["--ro-bind", str(path), str(path)]
            made.add(str(path))
        args += self._dirs(self.work, made) + ["--bind", str(self.work), str(self.work)]
        args += ["--ro-bind", str(self.data_dir), str(self.work / "data")]
        args += ["--chdir", str(self.cwd), "--unsetenv", "JPY_PARENT_PID"]
        if self.root:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN",
                     "--", "/bin/sh", "-c", 'chown "$1" "$2" && shift 2 && exec "$@"', "sh",
                     f"{self.uid}:{self.uid}", "{connection_file}",
                     "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                     "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]
            args += self.limits.prlimit_args(self.limits.processes)
        else:
            args += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--"]
            args += self.limits.prlimit_args(_own_process_count() + self.limits.processes)
        return args + list(argv)

    def kill_leftovers(self) -> int:
        """Kill every process still running as the sandbox's uid (root only); return how many."""
        if not self.root:
            return 0
        killed = 0
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
