"""Unit tests of course_grader's small stages: validate, report, tamper, run (sandbox choice),
release (keep_lesson_outputs) and the one notebook runner (kernel, environment, time limits)."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import nbformat
import pytest

from course_grader import chapters as C
from course_grader import release as R
from course_grader import report as REP
from course_grader import run as RUN
from course_grader import runner as RN
from course_grader import tamper as T
from course_grader import validate as V
from test_assignments import _cell, _demo_notebook

v4 = nbformat.v4


# ----------------------------------------------------------------------------- validate
def _raw():
    return json.loads(nbformat.writes(_demo_notebook()))


def test_validate_keeps_good_cells_and_drops_each_kind_of_malformed_one():
    nb, notes = V.validate_cells(_raw())
    assert notes == [] and len(nb.cells) == len(_demo_notebook().cells)
    raw = _raw()
    raw["cells"][5]["metadata"]["nbgrader"] = "oops"
    raw["cells"][6]["source"] = 42
    del raw["cells"][8]["cell_type"]
    raw["cells"][9]["metadata"]["nbgrader"]["grade_id"] = ["a"]
    raw["cells"][11]["metadata"]["nbgrader"]["solution"] = "yes"
    raw["cells"][2]["id"] = raw["cells"][1]["id"]
    raw["cells"].append(["not", "a", "cell"])
    raw["cells"].append({"cell_type": "code", "source": ["a = ", "1"], "metadata": {}})
    nb, notes = V.validate_cells(raw)
    text = "; ".join(notes)
    for expected in ("cell 5 nbgrader metadata is str", "cell 6 source is int", "cell 8 without cell_type",
                     "cell 9 grade_id is list", "cell 11 nbgrader solution is str",
                     "and 1 more", "1 duplicated cell ids"):
        assert expected in text, text
    assert len(nb.cells) == len(raw["cells"]) - 6
    assert nb.cells[-1].source == "a = 1"
    assert all(c.get("outputs", []) == [] for c in nb.cells)


@pytest.mark.parametrize("content, why", [(b"{not json", "not JSON"), (b"[1, 2]", "not a notebook"),
                                          (b'{"cells": 3}', "not a notebook"), (b"\xff\xfe", "not JSON")])
def test_load_submission_rejects_what_is_not_a_notebook(tmp_path, content, why):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=why):
        V.load_submission(path)


# ----------------------------------------------------------------------------- report
def test_clean_makes_one_safe_line():
    assert REP.clean("a\nb\r|c\x00d\u2028e") == "a b /c d e"
    assert REP.clean("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert len(REP.clean("x" * 1000)) == REP.MAX_NOTE
    assert REP.notes_text(["one\n| forged | 9 |", "two"]) == "one / forged / 9 /; two"


def test_csv_writer_rows_survive_commas_quotes_and_newlines(tmp_path):
    maxima = {"ch01_ex1": 2.0, "ch01_ex2": 3.0}
    result = REP.GradeResult('kim,"lee"\nx', "a,b.ipynb", {"ch01_ex1": 2.0, "ch01_ex2": 0.0}, maxima,
                             ['failed: ex2_test Bad\nName,9,9', "ok"], 1.25, sha256="ab" * 32)
    path = tmp_path / "s.csv"
    with REP.CsvWriter(path, "01_demo", maxima) as writer:
        writer.write(result)
        assert len(path.read_text(encoding="utf-8").splitlines()) == 3  # flushed per row
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[0] == ["student", "submission", "chapter", "ch01_ex1", "ch01_ex2", "total",
                       "max_total", "seconds", "notes", "sha256"]
    assert rows[1][:7] == ["(max)", "", "01_demo", "2", "3", "5", "5"]
    assert rows[2] == ['kim,"lee" x', "a,b.ipynb", "01_demo", "2", "0", "2", "5", "1.2",
                       "failed: ex2_test Bad Name,9,9; ok", "ab" * 32]
    assert len(rows) == 3


# ----------------------------------------------------------------------------- tamper
def test_compare_reports_replaced_removed_and_added_hooks():
    base = {"builtins.abs": "f:1", "numpy.allclose": "f:2", "ip.ast_transformers": [], "x": "1"}
    now = {"builtins.abs": "f:9", "ip.ast_transformers": ["t:3"], "x": "1", "ip.events.post": ["c:4"]}
    assert T.compare(base, now) == ["builtins.abs replaced", "numpy.allclose removed",
                                    "ip.ast_transformers changed (0 -> 1)", "ip.events.post added"]
    assert T.compare(base, dict(base)) == []
    assert T.compare({f"k{i}": "1" for i in range(9)}, {}, limit=2)[-1] == "and 7 more"


def test_strip_nonce_removes_only_the_nonce_line():
    cell = v4.new_code_cell("x")
    cell.outputs = [v4.new_output("stream", name="stdout", text="keep\nnonce-abc\n")]
    assert T.strip_nonce(cell, "nonce-abc") is True
    assert cell.outputs[0]["text"] == "keep\n"
    assert T.strip_nonce(cell, "nonce-abc") is False


# ----------------------------------------------------------------------------- sandbox choice
def test_without_bubblewrap_grading_warns_loudly_but_fails_in_ci(monkeypatch, capsys):
    monkeypatch.setattr(RUN, "sandbox_problem", lambda: "bwrap not found")
    monkeypatch.delenv("CI", raising=False)
    assert RUN.use_sandbox(None) is False
    assert "student code is NOT isolated (bwrap not found)" in capsys.readouterr().err
    assert RUN.use_sandbox(False) is False
    with pytest.raises(RuntimeError, match="not available"):
        RUN.use_sandbox(True)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="bwrap not found"):
        RUN.use_sandbox(None)


# ----------------------------------------------------------------------------- release API
def test_student_edition_can_keep_lesson_outputs_only():
    nb = _demo_notebook()
    _cell(nb, "ch01_ex1_solution").outputs = [v4.new_output("stream", name="stdout", text="6\n")]
    plain = R.student_edition(nb, name="01_demo.ipynb")
    assert all(not c.get("outputs") for c in plain.cells if c.cell_type == "code")
    kept = R.student_edition(nb, keep_lesson_outputs=True, name="01_demo.ipynb")
    assert kept.cells[2].outputs[0]["text"] == "3\n" and kept.cells[2].execution_count == 3
    assert _cell(kept, "ch01_ex1_solution").outputs == []
    assert R.find_leaks(kept, nb, lesson_outputs_allowed=True) == []
    assert any("has outputs" in p for p in R.find_leaks(kept, nb))
    leaky = nbformat.reads(nbformat.writes(kept), 4)
    leaky.cells[2].outputs = [v4.new_output("stream", name="stdout", text="secret_twice = 2 * x\n")]
    assert any("in an output" in p for p in R.find_leaks(leaky, nb, lesson_outputs_allowed=True))
    with pytest.raises(TypeError):
        R.student_edition({"cells": []})


# ----------------------------------------------------------------------------- the runner
def test_runner_uses_this_venv_not_a_registered_python3_kernel(tmp_path, monkeypatch):
    bogus = tmp_path / "jupyter" / "kernels" / "python3"
    bogus.mkdir(parents=True)
    (bogus / "kernel.json").write_text(json.dumps(
        {"argv": ["/bin/false", "{connection_file}"], "display_name": "wrong", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    nb = v4.new_notebook(cells=[v4.new_code_cell(
        "import os, sys\nprint(sys.executable)\nprint(os.environ['COURSE_OFFLINE'], os.environ['OMP_NUM_THREADS'])\n"
        "print(os.getcwd())")])
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, str(path))
    RN.execute_in_place(path)
    done = nbformat.read(str(path), 4)
    assert done.cells[0].outputs[0]["text"].splitlines() == [sys.executable, "1 1", str(tmp_path)]
    assert done.metadata["kernelspec"]["name"] == "python3"


def test_runner_time_limits_and_failures_leave_the_file_unchanged(tmp_path):
    meta = {"nbgrader": {"solution": True, "grade": False, "grade_id": "ch01_ex1_solution",
                         "locked": False, "schema_version": 3}}
    nb = v4.new_notebook(cells=[v4.new_code_cell("import time\ntime.sleep(60)", metadata=meta)])
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, str(path))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="interrupted after"):
        RN.execute_in_place(path, cell_timeout=2)
    assert path.read_bytes() == before
    nb = v4.new_notebook(cells=[v4.new_code_cell("1/0"), v4.new_code_cell("x = 1")])
    nb.cells[0].metadata["tags"] = ["raises-exception"]
    nbformat.write(nb, str(path))
    RN.execute_in_place(path)
    assert nbformat.read(str(path), 4).cells[0].outputs[0]["ename"] == "ZeroDivisionError"
    with pytest.raises(ValueError, match="timeout must be a positive"):
        RN.execute_notebook(nb, tmp_path, timeout=0)


def test_chapters_helpers_tolerate_broken_metadata():
    assert C.nbgrader_meta({"metadata": {"nbgrader": "oops"}}) == {}
    assert C.nbgrader_meta({"metadata": []}) == {}
    assert C.is_exercise_cell({"metadata": {"nbgrader": {"grade": True}}})
    assert C.short("ch05_ex1_test") == "ex1_test" and C.exercise_key("ch05_ex1_test") == "ch05_ex1"


# ----------------------------------------------------------------------------- benchmark builder
def test_grade_class_builds_a_mixed_class_from_the_release(tmp_path):
    from conftest import load_benchmark
    from test_assignments import _make_course

    bench = load_benchmark("grade_class")
    assert bench.class_mix(40).count("honest") == 20 and bench.class_mix(40).count("looping") == 8
    with pytest.raises(ValueError):
        bench.class_mix(3)
    chapter = _make_course(tmp_path / "c")
    paths = bench.build_class(chapter, 8, tmp_path / "subs")
    assert [p.stem.split("_", 1)[1] for p in paths] == bench.class_mix(8)
    honest = nbformat.read(str(paths[0]), 4)
    assert _cell(honest, "ch01_ex1_solution").source.strip() == (
        "def double(x):\n    secret_twice = 2 * x\n    return secret_twice")
    stub = nbformat.read(str(next(p for p in paths if "stub" in p.name)), 4)
    assert "raise NotImplementedError()" in _cell(stub, "ch01_ex2_solution").source
    altered = nbformat.read(str(next(p for p in paths if "altered" in p.name)), 4)
    assert "return None" in _cell(altered, "ch01_ex3_solution").source
    looping = nbformat.read(str(next(p for p in paths if "looping" in p.name)), 4)
    assert sum("while True" in c.source for c in looping.cells) == 1


# ----------------------------------------------------------------------------- grade: intake, names, workers
from course_grader import grade as G  # noqa: E402


def test_intake_takes_regular_files_only(tmp_path):
    import os

    good = tmp_path / "good.ipynb"
    good.write_text(nbformat.writes(_demo_notebook()), encoding="utf-8")
    link = tmp_path / "link.ipynb"
    link.symlink_to(good)
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as fh:  # sparse: large without using the disk
        fh.truncate(V.MAX_BYTES + 1)
    private = tmp_path / "private"
    private.mkdir()
    rows = G.intake([good, link, fifo, huge, tmp_path / "missing.ipynb", tmp_path], private)
    notes = [note for _, _, note in rows]
    assert rows[0][0] is not None and rows[0][2] == ""
    import hashlib
    assert rows[0][1] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert notes[1].startswith("a symbolic link")
    assert notes[2].startswith("not a regular file")  # returned at once: a FIFO does not hang
    assert notes[3].startswith("larger than 50 MB")
    assert notes[4].startswith("file not found")
    assert notes[5].startswith("not a regular file")  # a folder
    assert [p.name for p in private.iterdir()] == ["0000.ipynb"]


def _fake_task(i, name):
    return G.Task(i, name, f"{name}.ipynb", None, "", "", "", "", 1.0, 1.0, False, "")


def _die_on_second(task):
    """Worker body for the test below: the second submission kills its worker process."""
    import os

    if task.index == 1:
        os._exit(9)
    return REP.GradeResult(task.name, task.original, {"a": 1.0}, {"a": 1.0}, [], 0.0, None, "")


def test_a_dying_worker_costs_only_the_submission_that_killed_it():
    tasks = [_fake_task(i, f"s{i}") for i in range(4)]
    got = {}
    G._grade_in_workers(tasks, 2, lambda t, r: got.__setitem__(t.index, r), {"a": 1.0},
                        work=_die_on_second)
    assert sorted(got) == [0, 1, 2, 3]
    assert [got[i].total for i in range(4)] == [1.0, 0.0, 1.0, 1.0]
    assert "the grading process died" in got[1].notes[0] and "s1.ipynb" in got[1].notes[0]


def test_same_names_get_distinct_rows(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(G, "_grade_in_workers",
                        lambda tasks, jobs, record, maxima: seen.extend(t.name for t in tasks)
                        or [record(t, _fake_result(t)) for t in tasks])
    chapter = tmp_path / "notebooks" / "01_demo.ipynb"
    chapter.parent.mkdir()
    nbformat.write(_demo_notebook(), str(chapter))
    subs = []
    for folder, stem in (("a", "kim"), ("b", "kim"), ("c", "kim-2")):
        (tmp_path / folder).mkdir()
        subs.append(tmp_path / folder / f"{stem}.ipynb")
        subs[-1].write_text("{}", encoding="utf-8")
    G.autograde(chapter, subs, out=tmp_path / "out", quiet=True, sandbox=False)
    assert seen == ["kim", "kim-2", "kim-2-2"]


def _fake_result(task):
    return REP.GradeResult(task.name, task.original, {}, {}, [], 0.0, None, task.sha256)


def test_the_sandbox_never_mounts_the_chapters_own_folder(tmp_path, monkeypatch):
    course = tmp_path / "course" / "source" / "ch05"  # nbgrader's layout: no data/ next to it
    course.mkdir(parents=True)
    chapter = course / "05_demo.ipynb"
    chapter.write_text("{}", encoding="utf-8")
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    repo_data = (Path(RUN.__file__).resolve().parents[1] / "data").resolve()
    assert RUN.data_dir_for(chapter) == (repo_data if repo_data.is_dir() else None)
    (tmp_path / "course" / "data").mkdir()  # the repository's layout: notebooks/ + data/
    assert RUN.data_dir_for(chapter.parent.parent / "x.ipynb") == (tmp_path / "course" / "data").resolve()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "course"))
    with pytest.raises(RuntimeError, match="contains the chapter notebook"):
        RUN.data_dir_for(chapter)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nowhere"))
    assert RUN.data_dir_for(chapter) is None
