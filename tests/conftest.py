"""Shared test set-up: the unit tests run with the network cut off.

Every socket connection to an address outside the loopback range raises, so a test that
would quietly depend on a download fails instead (Jupyter kernels talk over loopback and
keep working). `make test-offline` additionally runs the whole suite in a network namespace.
"""
import importlib.util
import ipaddress
import os
import socket
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("COURSE_OFFLINE", "1")

_real_connect = socket.socket.connect


class NetworkBlocked(OSError):
    pass


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise NetworkBlocked(f"network access blocked in tests: {address}")
        except ValueError:  # a host name: resolving it is already network access
            if host not in ("localhost",):
                raise NetworkBlocked(f"network access blocked in tests: {address}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", _blocked_getaddrinfo(socket.getaddrinfo))
    yield


def _blocked_getaddrinfo(real):
    def guarded(host, *args, **kwargs):
        if host in (None, "localhost") or (isinstance(host, str) and _is_loopback(host)):
            return real(host, *args, **kwargs)
        raise NetworkBlocked(f"name resolution blocked in tests: {host}")
    return guarded


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_benchmark(name: str):
    """Import ``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
