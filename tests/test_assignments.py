"""Tests of course_grader (releases, merging, autograding): student releases leak nothing, the autograder scores right.

Two kinds of test:
- a small synthetic chapter generated in tmp_path (fast): release, leak detection, authoring
  checks, rebuilding tampered submissions, and autograding wrong / crashing / never-ending /
  tampered / unreadable submissions within their time limits;
- every real chapter in notebooks/ that has exercises (discovered at collection time): its form
  is valid, its release leaks nothing, and one autograde run scores the instructor's own copy at
  full marks and the untouched release at zero (each chapter is executed exactly twice).
"""
from __future__ import annotations

import copy
import csv
import re
import time
from pathlib import Path

import nbformat
import pytest

from course_grader import chapters as C
from course_grader import grade as G
from course_grader import merge as M
from course_grader import release as R
from course_grader import report as REP
from course_grader import runner as RUN
from course_grader.__main__ import main as cli_main

v4 = nbformat.v4

# ----------------------------------------------------------------------------- synthetic chapter
SECRET_LINES = ["secret_twice = 2 * x", "return secret_twice", "return float(np.sum(xs))",
                "return x * x", "assert double(BASE) == 6  # hidden_check_one",
                "assert total([]) == 0.0", "assert square(-2) == 4"]


def _meta(gid, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _demo_notebook(lesson_code="BASE = int(Path('../data/demo.txt').read_text())\nprint(BASE)"):
    cells = [
        v4.new_markdown_cell("# 01. 데모\n\n한 줄 소개."),
        v4.new_code_cell("import numpy as np\nfrom pathlib import Path"),
        v4.new_code_cell(lesson_code),
        v4.new_markdown_cell("## 연습문제"),
        v4.new_markdown_cell("### 연습문제 1. 두 배 (2점)", metadata=_meta("ch01_ex1_task", locked=True)),
        v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    secret_twice = 2 * x\n"
                         "    return secret_twice\n    ### END SOLUTION",
                         metadata=_meta("ch01_ex1_solution", solution=True)),
        v4.new_code_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\n"
                         "assert double(BASE) == 6  # hidden_check_one\n### END HIDDEN TESTS",
                         metadata=_meta("ch01_ex1_test", grade=True, locked=True, points=2)),
        v4.new_markdown_cell("### 연습문제 2. 합 (3점)", metadata=_meta("ch01_ex2_task", locked=True)),
        v4.new_code_cell("def total(xs):\n    ### BEGIN SOLUTION\n    return float(np.sum(xs))\n"
                         "    ### END SOLUTION", metadata=_meta("ch01_ex2_solution", solution=True)),
        v4.new_code_cell("assert total([1, 2]) == 3.0\n### BEGIN HIDDEN TESTS\n"
                         "assert total([]) == 0.0\n### END HIDDEN TESTS",
                         metadata=_meta("ch01_ex2_test", grade=True, locked=True, points=3)),
        v4.new_markdown_cell("### 연습문제 3. 제곱 (1점)", metadata=_meta("ch01_ex3_task", locked=True)),
        v4.new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                         metadata=_meta("ch01_ex3_solution", solution=True)),
        v4.new_code_cell("assert square(3) == 9\n### BEGIN HIDDEN TESTS\n"
                         "assert square(-2) == 4\n### END HIDDEN TESTS",
                         metadata=_meta("ch01_ex3_test", grade=True, locked=True, points=1)),
        v4.new_markdown_cell("## 다음 장\n끝."),
    ]
    nb = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    # stored outputs, as chapters are committed executed
    nb.cells[2].outputs = [v4.new_output("stream", name="stdout", text="3\n")]
    nb.cells[2].execution_count = 3
    return nb


def _make_course(root: Path, nb=None) -> Path:
    """A repository-like folder: root/notebooks/01_demo.ipynb reading ../data/demo.txt."""
    (root / "notebooks").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "demo.txt").write_text("3\n")
    path = root / "notebooks" / "01_demo.ipynb"
    nbformat.write(nb if nb is not None else _demo_notebook(), str(path))
    return path


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


GOOD = {"ch01_ex1_solution": "def double(x):\n    return x + x",
        "ch01_ex2_solution": "def total(xs):\n    return float(sum(xs))",
        "ch01_ex3_solution": "def square(x):\n    return x ** 2"}


def _answer(student_nb, **override):
    nb = copy.deepcopy(student_nb)
    for gid, source in {**GOOD, **override}.items():
        _cell(nb, gid).source = source
    return nb


def _scan_release(student, instructor):
    """Independent leak scan: markers, outputs, and every non-trivial secret line."""
    text = "\n".join(c.source for c in student.cells)
    problems = [m for m in C.MARKERS if m in text]
    problems += [f"output in cell {i}" for i, c in enumerate(student.cells)
                 if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    lines = {line.strip() for line in text.splitlines()}
    public = {line.strip() for c in instructor.cells for line in _public_lines(c.source)}
    for cell in instructor.cells:
        for line in _secret_region_lines(cell.source):
            if len(line) >= 4 and not line.startswith("#") and line not in public and line in lines:
                problems.append(f"secret line leaked: {line!r}")
    return problems


def _regions(source):
    """Yield (inside_a_secret_region, line) for every line between the BEGIN/END markers' lines."""
    inside = False
    for raw in source.splitlines():
        if re.search(r"BEGIN (SOLUTION|HIDDEN TESTS|MARK SCHEME)", raw):
            inside = True
        elif re.search(r"END (SOLUTION|HIDDEN TESTS|MARK SCHEME)", raw):
            inside = False
        else:
            yield inside, raw


def _secret_region_lines(source):
    return (raw.strip() for inside, raw in _regions(source) if inside)


def _public_lines(source):
    return (raw for inside, raw in _regions(source) if not inside)


@pytest.fixture()
def course(tmp_path):
    chapter = _make_course(tmp_path / "course")
    release_dir = tmp_path / "course" / "release"
    R.release(notebooks_dir=chapter.parent, out=release_dir, quiet=True)
    return chapter, release_dir / chapter.name


# ----------------------------------------------------------------------------- release
def test_release_of_demo_chapter_leaks_nothing_and_keeps_nbgrader_form(course):
    chapter, released = course
    instructor = nbformat.read(str(chapter), 4)
    student = nbformat.read(str(released), 4)
    assert _scan_release(student, instructor) == []
    text = "\n".join(c.source for c in student.cells)
    for line in SECRET_LINES:
        assert line not in text
    assert "BASE = int(Path('../data/demo.txt').read_text())" in text  # lesson code kept
    assert _cell(student, "ch01_ex1_solution").source == (
        "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    assert _cell(student, "ch01_ex1_test").source == "assert double(2) == 4"  # visible test kept
    test = _cell(student, "ch01_ex1_test")
    assert test.metadata["editable"] is False and test.metadata["deletable"] is False
    assert test.metadata["nbgrader"]["points"] == 2
    assert len(test.metadata["nbgrader"]["checksum"]) == 32
    assert _cell(student, "ch01_ex1_solution").metadata["deletable"] is False
    assert "editable" not in _cell(student, "ch01_ex1_solution").metadata
    assert len(student.cells) == len(instructor.cells)


def test_release_index_lists_exercises_and_points_only(course):
    chapter, released = course
    index_md = (released.parent / "index.md").read_text(encoding="utf-8")
    rows = list(csv.DictReader(open(released.parent / "index.csv", encoding="utf-8")))
    assert [(r["exercise"], r["points"]) for r in rows] == [("ch01_ex1", "2"), ("ch01_ex2", "3"),
                                                             ("ch01_ex3", "1")]
    assert "| 01_demo | 3 | 6 |" in index_md
    assert "연습문제 2. 합 (3점)" in index_md
    for line in SECRET_LINES:
        assert line not in index_md


def test_find_leaks_catches_what_a_broken_release_would_give_away(course):
    chapter, released = course
    instructor = nbformat.read(str(chapter), 4)
    student = nbformat.read(str(released), 4)
    assert R.find_leaks(student, instructor) == []
    leaky = copy.deepcopy(student)
    _cell(leaky, "ch01_ex2_test").source += "\nassert total([]) == 0.0"
    assert any("total([]) == 0.0" in p for p in R.find_leaks(leaky, instructor))
    leaky = copy.deepcopy(student)
    _cell(leaky, "ch01_ex1_solution").source = "def double(x):\n    ### BEGIN SOLUTION\n    pass"
    assert any("BEGIN SOLUTION" in p for p in R.find_leaks(leaky, instructor))
    leaky = copy.deepcopy(student)
    leaky.cells[2].outputs = [v4.new_output("stream", name="stdout", text="3\n")]
    assert any("outputs" in p for p in R.find_leaks(leaky, instructor))
    assert "return secret_twice" in R.secret_lines(instructor)
    assert "import numpy as np" not in R.secret_lines(instructor)


def test_check_chapter_reports_authoring_mistakes():
    nb = _demo_notebook()
    assert C.check_chapter(nb, "01_demo.ipynb") == []
    nb.cells[3].source += "\n`### BEGIN SOLUTION` 과 `### END SOLUTION` 사이를 채우세요."
    _cell(nb, "ch01_ex3_task").metadata["nbgrader"]["grade_id"] = "ch01_ex1_task"
    _cell(nb, "ch01_ex2_test").metadata["nbgrader"].pop("points")
    _cell(nb, "ch01_ex3_test").metadata["nbgrader"]["locked"] = False
    problems = "\n".join(C.check_chapter(nb, "01_demo.ipynb"))
    assert "outside a solution cell" in problems
    assert "'ch01_ex1_task' used twice" in problems
    assert "needs positive points" in problems
    assert "must be locked" in problems
    assert "should start with 'ch02_exK_'" in "\n".join(C.check_chapter(_demo_notebook(), "02_x.ipynb"))
    with pytest.raises(ValueError, match="cannot release"):
        R.make_release(nb, "01_demo.ipynb")
    with pytest.raises(TypeError, match="NotebookNode"):
        R.make_release({"cells": []})


def test_release_writes_good_chapters_and_reports_bad_ones(tmp_path):
    chapter = _make_course(tmp_path / "c")
    bad = _demo_notebook()
    bad.cells[3].source = "## 연습문제\n### BEGIN SOLUTION 사이를 채우세요"
    nbformat.write(bad, str(chapter.parent / "02_bad.ipynb"))
    with pytest.raises(ValueError, match=r"1 chapter\(s\) not released:[\s\S]*02_bad.ipynb cell 3"):
        R.release(notebooks_dir=chapter.parent, out=tmp_path / "rel", quiet=True)
    assert (tmp_path / "rel" / "01_demo.ipynb").exists()
    assert not (tmp_path / "rel" / "02_bad.ipynb").exists()


def test_chapter_discovery_and_resolution(tmp_path):
    chapter = _make_course(tmp_path / "c")
    folder = chapter.parent
    nbformat.write(v4.new_notebook(cells=[v4.new_markdown_cell("# 02. no exercises")]),
                   str(folder / "02_plain.ipynb"))
    assert C.find_chapters(folder) == [chapter]
    for spec in ("01", "1", "ch01", "01_demo", "01_demo.ipynb", str(chapter)):
        assert C.resolve_chapter(spec, folder) == chapter
    with pytest.raises(ValueError, match="matches 0 notebooks"):
        C.resolve_chapter("07", folder)
    with pytest.raises(TypeError):
        C.resolve_chapter(7, folder)
    with pytest.raises(ValueError, match="must be a folder"):
        C.find_chapters(tmp_path / "nope")
    with pytest.raises(ValueError, match="no chapter notebooks"):
        R.release(notebooks_dir=tmp_path / "c" / "data", out=tmp_path / "r", quiet=True)


# ----------------------------------------------------------------------------- rebuilding
def test_build_submission_takes_only_solution_cells_and_restores_the_rest(course):
    chapter, released = course
    instructor = nbformat.read(str(chapter), 4)
    student = nbformat.read(str(released), 4)
    handed = _answer(student)
    _cell(handed, "ch01_ex1_test").source = "assert True"            # edits a locked cell
    handed.cells.remove(_cell(handed, "ch01_ex2_test"))               # deletes a test cell
    handed.cells.remove(_cell(handed, "ch01_ex3_solution"))           # deletes a solution cell
    task = _cell(handed, "ch01_ex3_task")
    handed.cells.remove(task)
    handed.cells.insert(1, task)                                      # reorders
    handed.cells.append(v4.new_code_cell("double = lambda x: 4"))     # adds a cell
    handed.cells[2].source = "BASE = 99"                              # edits a lesson cell
    nb, notes = M.build_submission(instructor, handed, student)
    joined = "; ".join(notes)
    assert "locked cell deleted: ex2_test (restored)" in joined
    assert "solution cell missing: ex3_solution (stub used)" in joined
    assert "locked cell edited: ex1_test (restored)" in joined
    assert "cells reordered" in joined
    assert "2 other cells added or edited" in joined
    assert [c.source for c in nb.cells if not c.metadata.get("nbgrader")] == \
        [c.source for c in instructor.cells if not c.metadata.get("nbgrader")]
    assert _cell(nb, "ch01_ex1_test").source == _cell(instructor, "ch01_ex1_test").source  # hidden tests back
    assert _cell(nb, "ch01_ex2_test").source == _cell(instructor, "ch01_ex2_test").source
    assert _cell(nb, "ch01_ex1_solution").source == GOOD["ch01_ex1_solution"]
    assert "raise NotImplementedError()" in _cell(nb, "ch01_ex3_solution").source
    assert len(nb.cells) == len(instructor.cells)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    # the instructor's own copy is not "tampered"
    _, notes = M.build_submission(instructor, instructor, student)
    assert notes == []


# ----------------------------------------------------------------------------- autograding
def test_autograde_scores_right_wrong_crashing_looping_and_tampered_submissions(course, tmp_path):
    chapter, released = course
    student = nbformat.read(str(released), 4)
    subs = tmp_path / "subs"
    subs.mkdir()
    cases = {
        "right": _answer(student),
        "wrong": _answer(student, ch01_ex1_solution="def double(x):\n    return x + 1"),
        "crash": _answer(student, ch01_ex2_solution="raise RuntimeError('boom')"),
        "loop": _answer(student, ch01_ex3_solution="def square(x):\n    while True:\n        pass"),
        "stubborn": _answer(student, ch01_ex3_solution=(
            "import time\ndef square(x):\n    while True:\n        try:\n            time.sleep(0.05)\n"
            "        except BaseException:\n            pass")),
        "tamper": _answer(student),
    }
    _cell(cases["tamper"], "ch01_ex1_test").source = "assert True"
    cases["tamper"].cells.remove(_cell(cases["tamper"], "ch01_ex2_test"))
    paths = []
    for name, nb in cases.items():
        nbformat.write(nb, str(subs / f"{name}.ipynb"))
        paths.append(subs / f"{name}.ipynb")
    (subs / "garbage.ipynb").write_text("{not a notebook")
    paths += [subs / "garbage.ipynb", subs / "absent.ipynb", chapter, released]
    csv_path = tmp_path / "scores.csv"
    started = time.monotonic()
    results = G.autograde(chapter, paths, timeout=120, cell_timeout=3, csv_path=csv_path,
                          out=tmp_path / "graded", quiet=True)
    elapsed = time.monotonic() - started
    by = {r.student: r for r in results}
    scores = {name: [by[name].scores[k] for k in ("ch01_ex1", "ch01_ex2", "ch01_ex3")] for name in by}
    assert scores == {
        "right": [2, 3, 1], "wrong": [0, 3, 1], "crash": [2, 0, 1], "loop": [2, 3, 0],
        "stubborn": [2, 3, 0], "tamper": [2, 3, 1], "garbage": [0, 0, 0], "absent": [0, 0, 0],
        "notebooks": [2, 3, 1], "release": [0, 0, 0]}
    assert by["right"].notes == [] and by["notebooks"].notes == []
    assert by["wrong"].notes == ["failed: ex1_test AssertionError"]
    assert "ex2_test NameError" in "; ".join(by["crash"].notes)
    assert any("ex3_test interrupted after" in n for n in by["loop"].notes)
    assert any("kernel did not respond" in n for n in by["stubborn"].notes)
    assert any("locked cell edited: ex1_test" in n for n in by["tamper"].notes)
    assert any("locked cell deleted: ex2_test" in n for n in by["tamper"].notes)
    assert "unreadable notebook" in by["garbage"].notes[0]
    assert "file not found" in by["absent"].notes[0]
    assert any("unanswered: ex1_solution, ex2_solution, ex3_solution" in n for n in by["release"].notes)
    assert by["right"].seconds < 60 and by["loop"].seconds < 60 and by["stubborn"].seconds < 90
    assert elapsed < 400
    # graded notebooks keep the evidence; the CSV has a max row and one row per submission
    graded = nbformat.read(str(tmp_path / "graded" / "01_demo" / "wrong.ipynb"), 4)
    assert _cell(graded, "ch01_ex1_test").outputs[0]["ename"] == "AssertionError"
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert rows[0]["student"] == "(max)" and rows[0]["total"] == "6"
    assert {r["student"]: r["total"] for r in rows[1:]}["crash"] == "3"
    table = REP.format_table(results)
    assert table.splitlines()[0].startswith("student") and "ex2 /3" in table and "total /6" in table


def test_autograde_notebook_time_limit_and_stderr_rule(tmp_path):
    """A lesson cell that never ends hits the notebook limit: nothing after it scores. A grade
    cell that writes to stderr scores 0, as in nbgrader."""
    chapter = _make_course(tmp_path / "slow", _demo_notebook(
        "import time\nBASE = 3\nif Path('../data/demo.txt').exists():\n    time.sleep(600)"))
    started = time.monotonic()
    [result] = G.autograde(chapter, [chapter], timeout=8, cell_timeout=3,
                           out=tmp_path / "g", quiet=True)
    assert time.monotonic() - started < 60
    assert result.total == 0
    assert any("notebook time limit 8 s reached" in n for n in result.notes)

    nb = _demo_notebook()
    _cell(nb, "ch01_ex2_test").source = ("import sys\nassert total([1, 2]) == 3.0\n"
                                         "print('careful', file=sys.stderr)")
    chapter = _make_course(tmp_path / "err", nb)
    [result] = G.autograde(chapter, [chapter], out=tmp_path / "g2", quiet=True)
    assert result.scores == {"ch01_ex1": 2, "ch01_ex2": 0, "ch01_ex3": 1}
    assert any("ex2_test stderr: careful" in n for n in result.notes)


def test_autograde_and_cli_argument_errors(course, tmp_path, capsys):
    chapter, released = course
    with pytest.raises(ValueError, match="at least one"):
        G.autograde(chapter, [], quiet=True)
    with pytest.raises(ValueError, match="timeout must be a positive"):
        RUN.execute_notebook(_demo_notebook(), chapter, timeout=0)
    assert cli_main(["index", str(chapter)]) == 0
    assert "| 01_demo | ch01_ex2 | 연습문제 2. 합 (3점) | 3 |" in capsys.readouterr().out
    assert cli_main(["autograde", "99", str(released)]) == 2
    assert "chapter '99' matches 0 notebooks" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the real chapters
CHAPTERS = C.find_chapters() if C.NOTEBOOKS.is_dir() else []


def test_the_course_has_chapters_with_exercises():
    assert CHAPTERS, f"no chapter notebook with nbgrader exercises in {C.NOTEBOOKS}"
    for path in CHAPTERS:
        assert len(C.exercise_index(nbformat.read(str(path), 4))) >= 3, f"{path.name}: < 3 exercises"


class _ChapterTests:
    """The tests of one real chapter. Each chapter is its own test class (made below), so
    ``pytest -n 2 --dist loadscope`` can hand different chapters to different workers."""

    chapter: Path

    def test_release_leaks_nothing(self, tmp_path):
        chapter = self.chapter
        instructor = nbformat.read(str(chapter), 4)
        assert C.check_chapter(instructor, chapter.name) == []
        [path] = R.release([chapter], out=tmp_path, quiet=True)
        student = nbformat.read(str(path), 4)
        assert _scan_release(student, instructor) == []
        assert R.find_leaks(student, instructor) == []
        stubs = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert stubs and all("raise NotImplementedError()" in c.source
                             for c in stubs if c.cell_type == "code")

    def test_autogrades_full_marks_for_solutions_and_zero_for_the_release(self, tmp_path):
        chapter = self.chapter
        [released] = R.release([chapter], out=tmp_path / "release", quiet=True)
        full, zero = G.autograde(chapter, [chapter, released], out=tmp_path / "graded",
                                 csv_path=tmp_path / "scores.csv", quiet=True)
        assert full.max_total > 0
        assert full.total == full.max_total, \
            f"instructor solutions scored {full.total}/{full.max_total}: {full.notes}"
        assert full.notes == []
        assert zero.total == 0, f"untouched release scored {zero.scores}: {zero.notes}"
        graded = nbformat.read(str(full.graded), 4)
        for cell in graded.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade")):
                stderr = [o for o in cell.outputs if o.get("name") == "stderr"]
                assert not stderr, f"{meta['grade_id']} writes to stderr: {stderr[0]['text'][:200]}"


for _chapter in CHAPTERS:  # TestChapter00 ... TestChapter11
    _name = "TestChapter" + _chapter.stem[:2]
    globals()[_name] = type(_name, (_ChapterTests,), {"chapter": _chapter, "__doc__": _chapter.stem})
