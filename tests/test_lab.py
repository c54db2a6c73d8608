"""`make lab`'s server: JupyterLab answers on /lab and lists the chapters (loopback only)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_serves_the_notebooks(tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--notebook-dir", str(ROOT / "notebooks"), "--ip", "127.0.0.1",
           "--port", str(port), "--no-browser", "--IdentityProvider.token=", "--ServerApp.password="]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 120
        status = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=5) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(1)
        assert status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=10) as r:
            names = {item["name"] for item in json.load(r)["content"]}
        chapters = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert chapters and chapters <= names
    finally:
        server.terminate()
        server.wait(timeout=30)
