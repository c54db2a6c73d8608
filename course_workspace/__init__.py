"""course_workspace — the learner's side of the course: a workspace of student editions and
self-checking.

- :func:`build_workspace` (``make lab`` / ``python -m course_workspace build``): ``workspace/``
  with the student edition of every chapter, never overwriting the learner's edits;
- :func:`check` (``make check CHAPTER=05``; in a notebook
  ``import course_workspace; course_workspace.check("05")``): grade one's own copy with the
  hidden tests, per exercise, without showing them;
- :func:`course_workspace.lab.lab_command`: the learner's JupyterLab (no instructor tooling).

It uses the instructor's package :mod:`course_grader` (and so nbgrader, the ``instructor``
extra); without nbgrader both say how to install it.
"""
from __future__ import annotations

from .build import NbgraderMissing, build_workspace  # noqa: F401
from .check import check  # noqa: F401

__all__ = ["build_workspace", "check", "NbgraderMissing"]
