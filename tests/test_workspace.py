"""The learner's workspace (`make lab`) and self-check (`make check`).

- every chapter's workspace copy leaks no solution and no hidden test, keeps the lesson's
  outputs, links to the other copies by their new names, and the landing page lists them;
- a learner's edited copy survives later builds (a changed chapter goes beside it);
- `check` scores the instructor solution full and the untouched copy zero, reports a failed
  hidden test by its message only (no source, no traceback);
- the learner's JupyterLab has nbgrader's tools switched off (page config, server extension).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

from course_grader.chapters import is_exercise_cell, nbgrader_meta  # noqa: E402
from course_grader.release import _output_text, find_leaks, secret_lines  # noqa: E402
from course_workspace import build as ws  # noqa: E402
from course_workspace.check import check, learner_copies, main as check_main, pick_copy  # noqa: E402
from course_workspace.lab import LAB_SETTINGS, lab_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


# --- every real chapter -----------------------------------------------------------------

@pytest.fixture(scope="module")
def real_workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ws") / "workspace"
    changes = ws.build_workspace(folder, NOTEBOOKS, quiet=True)
    return folder, changes


def test_every_chapter_gets_a_copy_with_its_korean_title(real_workspace):
    folder, changes = real_workspace
    sources = ws.chapter_sources(NOTEBOOKS)
    assert len(sources) >= 12
    by_source = {c.source: c for c in changes}
    for src in sources:
        change = by_source[src.name]
        assert change.status == "new"
        assert (folder / change.name).is_file()
        title = ws.chapter_title(nbformat.read(str(src), as_version=4))
        assert re.search(r"[가-힣]", title), src.name
        assert change.name == f"{src.name[:2]}_{title.replace(' ', '_')}.ipynb"
    assert (folder / "00_시작하기.ipynb").is_file() and (folder / "05_계산_그래프와_연쇄법칙.ipynb").is_file()


def test_copies_leak_no_solution_or_hidden_test_and_keep_lesson_outputs(real_workspace):
    folder, changes = real_workspace
    checked = 0
    for change in changes:
        if not change.source.endswith(".ipynb"):
            continue
        instructor = nbformat.read(str(NOTEBOOKS / change.source), as_version=4)
        copy = nbformat.read(str(folder / change.name), as_version=4)
        assert find_leaks(copy, instructor, lesson_outputs_allowed=True) == []
        secrets = secret_lines(instructor)
        text = "\n".join(c.source + "\n" + "\n".join(_output_text(o) for o in c.get("outputs", []))
                         for c in copy.cells)
        lines = {line.strip() for line in text.splitlines()}
        assert not secrets & lines, (change.name, sorted(secrets & lines)[:3])
        assert not any(m in text for m in MARKERS), change.name
        lesson_outputs = 0
        for original, cell in zip(instructor.cells, copy.cells):
            if cell.cell_type != "code":
                continue
            if is_exercise_cell(original):
                assert not cell.outputs and cell.execution_count is None, nbgrader_meta(cell)
            else:
                assert len(cell.outputs) == len(original.outputs)
                lesson_outputs += bool(cell.outputs)
        assert lesson_outputs > 0, change.name
        if any(nbgrader_meta(c).get("solution") for c in instructor.cells):
            assert "raise NotImplementedError()" in text
        checked += 1
    assert checked >= 12


def test_links_point_at_the_workspace_names_and_the_index_lists_every_chapter(real_workspace):
    folder, changes = real_workspace
    links = []
    for path in folder.iterdir():
        if path.suffix == ".ipynb":
            nb = nbformat.read(str(path), as_version=4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        elif path.suffix == ".md":
            text = path.read_text(encoding="utf-8")
        else:
            continue
        links += [(path.name, t.split("#")[0]) for t in re.findall(r"\]\(([^)\s]+)\)", text)
                  if re.match(r"\d{2}_.*\.ipynb|.*\.md", t.split("#")[0])]
    assert len(links) > 20
    broken = [(where, target) for where, target in links if not (folder / target).is_file()]
    assert broken == []
    index = (folder / ws.INDEX).read_text(encoding="utf-8")
    for change in changes:
        assert f"]({change.name})" in index
    assert "시작하기" in index and "계산 그래프와 연쇄법칙" in index and "용어집" in index
    assert (folder / "용어집.md").is_file()


# --- a small chapter: survival of a learner's work, and self-check ----------------------

def _cell(kind, source, **meta):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if meta:
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False,
                                     "locked": False, "task": False, **meta}
    return cell


def tiny_chapter(number="05", note="첫 판"):
    """A chapter with one lesson cell and two exercises (visible + hidden tests)."""
    ch = f"ch{number}"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("md", f"# {number}. 작은 장 (tiny chapter)\n\n{note}. [다음 장](06_next.ipynb)"),
        _cell("code", "base = 2\nprint('lesson output', base)"),
        _cell("md", "### 연습문제 1. 두 배 (2점)", grade_id=f"{ch}_ex1_task", locked=True),
        _cell("code", "def double(v):\n    ### BEGIN SOLUTION\n    return base * v\n    ### END SOLUTION",
              grade_id=f"{ch}_ex1_solution", solution=True),
        _cell("code", "assert double(3) == 6, 'double(3) should be 6'\n### BEGIN HIDDEN TESTS\n"
                      "assert double(-4) == -8, 'negative numbers double too'\n### END HIDDEN TESTS",
              grade_id=f"{ch}_ex1_test", grade=True, locked=True, points=2),
        _cell("md", "### 연습문제 2. 제곱 (1점)", grade_id=f"{ch}_ex2_task", locked=True),
        _cell("code", "def square(v):\n    ### BEGIN SOLUTION\n    return v * v\n    ### END SOLUTION",
              grade_id=f"{ch}_ex2_solution", solution=True),
        _cell("code", "### BEGIN HIDDEN TESTS\nhidden_probe_value = square(5)\nassert hidden_probe_value == 25\n"
                      "### END HIDDEN TESTS",
              grade_id=f"{ch}_ex2_test", grade=True, locked=True, points=1),
    ]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    return nb


@pytest.fixture
def tiny(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "data").mkdir()
    nbformat.write(tiny_chapter("05"), str(repo / "notebooks" / "05_tiny.ipynb"))
    nbformat.write(tiny_chapter("06"), str(repo / "notebooks" / "06_next.ipynb"))
    return repo


def test_an_edited_copy_survives_and_a_changed_chapter_goes_beside_it(tiny, capsys):
    notebooks, folder = tiny / "notebooks", tiny / "workspace"
    first = {c.source: c for c in ws.build_workspace(folder, notebooks, quiet=True)}
    assert first["05_tiny.ipynb"].name == "05_작은_장.ipynb" and first["05_tiny.ipynb"].status == "new"
    mine = folder / "05_작은_장.ipynb"
    untouched = folder / "06_작은_장.ipynb"
    assert "](06_작은_장.ipynb)" in mine.read_text(encoding="utf-8")

    # the learner answers exercise 1 and saves
    nb = nbformat.read(str(mine), as_version=4)
    nb.cells[3].source = "def double(v):\n    return v + v  # my answer"
    nbformat.write(nb, str(mine))
    edited = mine.read_bytes()

    second = {c.source: c.status for c in ws.build_workspace(folder, notebooks, quiet=True)}
    assert second == {"05_tiny.ipynb": "unchanged", "06_next.ipynb": "unchanged"}
    assert mine.read_bytes() == edited

    # both chapters change in the course; the edited copy stays, the untouched one is updated
    for number, name in (("05", "05_tiny.ipynb"), ("06", "06_next.ipynb")):
        nbformat.write(tiny_chapter(number, note="둘째 판"), str(notebooks / name))
    third = {c.source: c for c in ws.build_workspace(folder, notebooks)}
    assert third["05_tiny.ipynb"].status == "beside" and third["05_tiny.ipynb"].beside == "05_작은_장_new.ipynb"
    assert third["06_next.ipynb"].status == "updated"
    assert mine.read_bytes() == edited
    assert "둘째 판" in (folder / "05_작은_장_new.ipynb").read_text(encoding="utf-8")
    assert "둘째 판" in untouched.read_text(encoding="utf-8")
    out = capsys.readouterr().out
    assert "05_작은_장_new.ipynb" in out and "새 판으로 바꿈" in out

    # a deleted copy comes back; nothing else moves
    untouched.unlink()
    fourth = {c.source: c.status for c in ws.build_workspace(folder, notebooks, quiet=True)}
    assert fourth == {"05_tiny.ipynb": "unchanged", "06_next.ipynb": "restored"}
    assert mine.read_bytes() == edited
    # the copy to grade is the learner's edited one, not the fresh edition beside it
    assert pick_copy(folder, notebooks / "05_tiny.ipynb") == mine
    assert len(learner_copies(folder, notebooks / "05_tiny.ipynb")) == 2


def test_a_lost_manifest_never_costs_the_learner_their_work(tiny):
    notebooks, folder = tiny / "notebooks", tiny / "workspace"
    ws.build_workspace(folder, notebooks, quiet=True)
    mine = folder / "05_작은_장.ipynb"
    mine.write_text(mine.read_text(encoding="utf-8").replace("lesson output", "my notes"), encoding="utf-8")
    edited = mine.read_bytes()
    (folder / ws.MANIFEST).unlink()
    changes = {c.source: c.status for c in ws.build_workspace(folder, notebooks, quiet=True)}
    assert changes["05_tiny.ipynb"] == "beside" and mine.read_bytes() == edited


def _answer(path: Path, ex1: str = None, ex2: str = None) -> None:
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id", "")
        if gid.endswith("ex1_solution") and ex1 is not None:
            cell.source = ex1
        if gid.endswith("ex2_solution") and ex2 is not None:
            cell.source = ex2
    nbformat.write(nb, str(path))


def test_check_scores_solution_full_untouched_zero_and_never_shows_test_source(tiny, capsys):
    notebooks, folder = tiny / "notebooks", tiny / "workspace"
    ws.build_workspace(folder, notebooks, quiet=True)
    instructor = nbformat.read(str(notebooks / "05_tiny.ipynb"), as_version=4)
    secrets = secret_lines(instructor)
    assert "assert double(-4) == -8, 'negative numbers double too'" in secrets

    # the untouched copy, graded with the documented line from inside a notebook
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        f'import course_workspace; r = course_workspace.check("05", workspace=r"{folder}", '
        f'notebooks_dir=r"{notebooks}")\nprint("points", r.points, r.max_points, '
        f'sorted({{t.error for e in r.exercises for t in e.tests}}))')]
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    outputs = nb.cells[0].outputs
    assert [(o.output_type, o.get("name")) for o in outputs] == [("stream", "stdout")]  # no red stderr
    assert "합계 0/3점" in outputs[0].text
    assert "points 0.0 3.0 ['NotImplementedError']" in outputs[0].text

    full = check("05", folder, copy=notebooks / "05_tiny.ipynb", notebooks_dir=notebooks, cell_timeout=60)
    assert (full.points, full.max_points) == (3.0, 3.0)
    assert all(t.status == "passed" for e in full.exercises for t in e.tests)

    # passes the visible test, fails the hidden one; exercise 2 left as it was
    mine = folder / "05_작은_장.ipynb"
    _answer(mine, ex1="def double(v):\n    return abs(2 * v)")
    wrong = check("05", folder, notebooks_dir=notebooks, cell_timeout=60)
    assert wrong.copy == mine and wrong.points == 0.0
    ex1 = wrong.exercises[0].tests[0]
    assert (ex1.error, ex1.message) == ("AssertionError", "negative numbers double too")

    out = capsys.readouterr().out
    assert "[통과] 연습문제 1. 두 배: 2/2점" in out and "합계 3/3점" in out
    assert "negative numbers double too" in out and "힌트:" in out
    assert "Traceback" not in out and "hidden_probe_value" not in out
    for line in secrets:
        assert line not in out, line


def test_check_command_line_says_what_is_wrong(tiny, capsys):
    assert check_main(["99", "--workspace", str(tiny / "workspace")]) == 2
    assert "chapter '99'" in capsys.readouterr().err
    empty = tiny / "empty"
    empty.mkdir()
    assert check_main(["05", "--workspace", str(empty)]) == 2
    assert "make lab" in capsys.readouterr().err


# --- the learner's JupyterLab -----------------------------------------------------------

def test_lab_command_hides_instructor_tooling_only_for_the_learner(tmp_path):
    (tmp_path / ws.INDEX).write_text("# index\n", encoding="utf-8")
    learner = lab_command(tmp_path, "127.0.0.1", 8899, allow_root=False, python="py")
    assert learner[:3] == ["py", "-m", "jupyterlab"] and f"--notebook-dir={tmp_path}" in learner
    assert f"--LabApp.app_settings_dir={LAB_SETTINGS}" in learner
    assert "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=False" in learner
    assert "--LabApp.default_url=/lab/tree/00_%EB%AA%A9%EC%B0%A8.md" in learner
    page = json.loads((LAB_SETTINGS / "page_config.json").read_text())
    assert "@jupyter/nbgrader" in page["disabledExtensions"]
    teacher = lab_command(None, instructor=True, allow_root=False, python="py")
    assert f"--notebook-dir={NOTEBOOKS}" in teacher
    assert not any("app_settings_dir" in a or "jpserver_extensions" in a for a in teacher)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_learner_jupyterlab_disables_nbgrader(tmp_path):
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / ws.INDEX).write_text("# 목차\n", encoding="utf-8")
    port = _free_port()
    cmd = lab_command(folder, "127.0.0.1", port, python=sys.executable) + [
        "--IdentityProvider.token=", "--ServerApp.password="]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lw"))
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        html = None
        deadline = time.time() + 120
        while time.time() < deadline and html is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=5) as r:
                    html = r.read().decode("utf-8")
            except OSError:
                time.sleep(1)
        assert html is not None
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', html, re.S).group(1))
        assert "@jupyter/nbgrader" in config["disabledExtensions"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab/api/settings/"
                                    "@jupyterlab/docmanager-extension:plugin", timeout=10) as r:
            settings = json.load(r)
        assert settings["schema"]["properties"]["defaultViewers"]["default"]["markdown"] == "Markdown Preview"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/formgrader", timeout=10)
        assert missing.value.code == 404
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.geturl().endswith("/lab/tree/00_%EB%AA%A9%EC%B0%A8.md")
    finally:
        server.terminate()
        server.wait(timeout=30)
