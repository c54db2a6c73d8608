"""The standard nbgrader course flow, with the real `nbgrader` command line, on a real chapter.

A JupyterHub class uses nbgrader's own course directory (README, instructors' section):
source/<assignment>/ → `nbgrader generate_assignment` → release/, handed-in copies collected into
submitted/<student>/<assignment>/ → `nbgrader autograde` → `nbgrader generate_feedback`. The
chapter goes in unchanged; the instructor's notebook scores full marks, the untouched release 0,
and each student gets a feedback HTML page.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_grader.chapters import exercise_index, find_chapters, read_notebook

NBGRADER = Path(sys.executable).with_name("nbgrader")
CHAPTERS = find_chapters()


def _kernels_dir(course: Path) -> Path:
    """A Jupyter data folder whose ``python3`` kernel is this venv's Python, so nbgrader never
    picks up a ``python3`` kernel the user registered elsewhere (the runner's kernel)."""
    import json

    from course_grader.runner import KERNELSPEC, kernel_argv

    folder = course.parent / "jupyter-data"
    spec = folder / "kernels" / KERNELSPEC["name"]
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": kernel_argv(), "display_name": KERNELSPEC["display_name"], "language": "python"}))
    return folder


def _nbgrader(course: Path, *args: str) -> None:
    data = _kernels_dir(course)
    env = dict(os.environ, COURSE_OFFLINE="1", JUPYTER_PATH=str(data), JUPYTER_DATA_DIR=str(data),
               PATH=f"{NBGRADER.parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([str(NBGRADER), *args, "--force"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.mark.skipif(not NBGRADER.exists() or not CHAPTERS, reason="nbgrader or chapters missing")
def test_nbgrader_course_flow_on_a_real_chapter(tmp_path):
    chapter = CHAPTERS[0]  # chapter 00, the quickest to run
    assignment = f"ch{chapter.name[:2]}"
    course = tmp_path / "course"
    (course / "source" / assignment).mkdir(parents=True)
    shutil.copy(chapter, course / "source" / assignment / chapter.name)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'dl-fundamentals'\n"
        f"c.CourseDirectory.root = {str(course)!r}\n", encoding="utf-8")
    _nbgrader(course, "generate_assignment", assignment)
    released = course / "release" / assignment / chapter.name
    text = released.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    for student, source in (("kim", chapter), ("lee", released)):
        target = course / "submitted" / student / assignment
        target.mkdir(parents=True)
        shutil.copy(source, target / chapter.name)
    _nbgrader(course, "autograde", assignment)
    _nbgrader(course, "generate_feedback", assignment)

    from nbgrader.api import Gradebook

    points = sum(ex.points for ex in exercise_index(read_notebook(chapter)))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        kim = gb.find_submission(assignment, "kim")
        lee = gb.find_submission(assignment, "lee")
        assert (kim.score, kim.max_score) == (points, points)
        assert (lee.score, lee.max_score) == (0, points)
    for student in ("kim", "lee"):
        html = course / "feedback" / student / assignment / chapter.with_suffix(".html").name
        assert html.exists() and html.stat().st_size > 10_000
