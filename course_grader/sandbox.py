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
``/tmp``, ``/dev/shm``      private      size-capped tmpfs
everything else             read-only    ``/`` and ``/dev`` are remounted read-only at the end
``/proc``                   own only     its own PID namespace
network                     none         ``--unshare-net``; the kernel protocol uses Unix sockets
==========================  ===========  ====================================================

Not there: the repository (instructor notebooks, other course files), the notebook being graded
(cells arrive over the kernel protocol), other submissions, the grader's output, ``/home``,
``/root``, other processes. Limits per process (``prlimit``): address space, processes, CPU
seconds, file size, open files, no core dumps. Limits for the whole sandbox (a cgroup of its own,
see :mod:`course_grader.cgroups`): memory of all its processes and tmpfs files together, number of
processes, and an equal CPU weight, so a fork bomb of busy loops only eats its own share and one
submission cannot starve or out-of-memory the others graded at the same time. Where no cgroup can
be made (not root on cgroup v1, no systemd user session) a one-line warning says those limits are
per process only; a second one where bubblewrap is also older than 0.7 (no ``--size``: nothing
caps its tmpfs then). When the grader runs as root the kernel runs as a dedicated unprivileged uid
with no capabilities; otherwise inside a user namespace as ``nobody``. ``--die-with-parent`` and
``--new-session``; at the end of the run every process it started is killed (its cgroup, the PID
namespace, and as root every process of its uid).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import cgroups
# re-exported: other modules and the tests import these from here
from .cgroups import (CGROUP_PARENT, CGROUP_ROOT, CGROUP_WARNING, Cgroup, cgroup_problem,  # noqa: F401
                      new_cgroup)

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
    folders are size-capped tmpfs: ``work_size`` (working folder), ``home_size``, ``tmp_size``,
    ``shm_size`` (``/dev/shm``)."""

    memory: int = 6 * GiB          # address space (RLIMIT_AS); torch alone maps ~1-2 GiB
    processes: int = 128           # the whole sandbox (cgroup pids.max) and RLIMIT_NPROC
    cpu_seconds: int = 1200        # RLIMIT_CPU per process
    file_size: int = 256 * MiB     # RLIMIT_FSIZE: largest file it may write
    open_files: int = 1024
    tmp_size: int = 256 * MiB      # the private /tmp
    work_size: int = 256 * MiB     # the working folder notebooks/ (a tmpfs)
    home_size: int = 64 * MiB      # HOME (a tmpfs)
    shm_size: int = 64 * MiB       # /dev/shm (a tmpfs; POSIX semaphores, shared memory)
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


def can_cap_tmpfs() -> bool:
    """Whether this bwrap has ``--size`` (0.7+) to cap the size of a tmpfs."""
    return bwrap_version() >= (0, 7)


def _size(nbytes: int) -> List[str]:
    """``--size`` for the next tmpfs (bubblewrap 0.7+). Older bwrap (Ubuntu 22.04: 0.6.1) gets
    none: then only the sandbox's cgroup memory limit, if there is one, caps its tmpfs."""
    return ["--size", str(nbytes)] if can_cap_tmpfs() else []


SIZE_WARNING = ("WARNING: bubblewrap {version} cannot cap the size of the grader sandboxes' "
                "tmpfs (--size needs 0.7) and there is no cgroup to cap them ({why}): a "
                "submission can fill the host's memory with files. Install bubblewrap 0.7 or newer.")
_SIZE_WARNED = "COURSE_GRADER_SIZE_WARNED"


def warn_if_no_cgroup() -> Optional[str]:
    """The one-line warnings (each once per batch) for limits this host cannot give each
    sandbox: no cgroup (:func:`course_grader.cgroups.warn_if_no_cgroup`) and, with bubblewrap
    older than 0.7 and no cgroup either, no size cap on its tmpfs (:data:`SIZE_WARNING`).
    Return why there is no cgroup, or ``None``."""
    why = cgroups.warn_if_no_cgroup()
    version = bwrap_version()
    if why is not None and version and not can_cap_tmpfs() and not os.environ.get(_SIZE_WARNED):
        print(SIZE_WARNING.format(version=".".join(map(str, version)), why=why), file=sys.stderr)
        os.environ[_SIZE_WARNED] = "1"
    return why


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
    # bubblewrap < 0.7 (no --size) is still used: uncapped tmpfs are a far smaller risk than no
    # isolation at all; warn_if_no_cgroup() says so when no cgroup caps them either.
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

    @property
    def cgroup_entered(self) -> Optional[bool]:
        """``None`` without a cgroup; ``False`` if the kernel could not enter it when it started
        (it then ran with per-process limits only: :meth:`release` prints a warning line);
        else ``True``. Valid once the kernel has started, until :meth:`release`."""
        if self.cgroup is None:
            return None
        return cgroups.entered(self.work)

    def release(self) -> None:
        """Remove the cgroup and give the uid back (after :meth:`kill_leftovers`)."""
        if self.cgroup is not None:
            if not self.cgroup_entered:
                print("WARNING: a sandboxed kernel could not enter its cgroup and ran with "
                      "per-process limits only", file=sys.stderr)
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
        args += ["--proc", "/proc", "--dev", "/dev"]
        if can_cap_tmpfs():  # else /dev/shm stays a folder of /dev: read-only, see the end
            args += ["--perms", "1777", *_size(self.limits.shm_size), "--tmpfs", "/dev/shm"]
        args += ["--perms", "1777", *_size(self.limits.tmp_size), "--tmpfs", "/tmp"]
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
        # Last of the mounts: bwrap's root tmpfs (with the --dir folders made in it) and the
        # tmpfs of --dev have no size cap, and without root they belong to the sandbox's uid.
        # Read-only, they hold nothing it writes; the mounts on top of them keep their own mode.
        args += ["--remount-ro", "/dev", "--remount-ro", "/"]
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
        # the kernel starts even if it cannot enter its cgroup: self.work (not in the sandbox)
        # then gets a marker, see cgroup_entered
        prefix = self.cgroup.prefix(self.work) if self.cgroup is not None else []
        return prefix + args + list(argv)

    def kill_leftovers(self) -> int:
        """Kill every process still in the sandbox's cgroup and, as root, every process still
        running as its uid; return how many."""
        killed = self.cgroup.kill() if self.cgroup is not None else 0
        if not self.root:
            return killed
        return killed + cgroups.kill_until_gone(lambda: processes_of_uid(self.uid), rounds=20, pause=0.05)


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


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        nums = os.uname().release.split("-")[0].split(".")
        return (int(nums[0]), int(nums[1])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def _nproc_for_user_namespace(processes: int) -> int:
    """RLIMIT_NPROC for a sandbox in its own user namespace. Since Linux 5.14 each user
    namespace counts its own processes (ucounts), so the limit is ``processes`` itself; before,
    the count was per real uid, so the user's other processes are added."""
    return processes if _kernel_at_least(5, 14) else _own_process_count() + processes
