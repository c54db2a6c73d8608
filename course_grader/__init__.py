"""course_grader — the instructor's side of the course: student releases and a sandboxed autograder.

Learners never import this package (it is not part of ``course_utils``). Grading is a pipeline
of named stages, one small module each::

    chapters  find chapter notebooks with nbgrader exercises, index them
    release   student editions (nbgrader's preprocessors) checked for leaks
    validate  check a handed-in notebook's structure before anything uses it
    merge     rebuild the submission on the instructor copy (only solution cells are taken)
    run       execute it, sandboxed, with time limits and tamper checks
    score     nbgrader's scoring rule per grade cell
    report    the printed table and the CSV (escaped, row by row)

    grade     the pipeline for one chapter: intake (copy + sha256), stages, --jobs workers
    runner    the one notebook runner (make execute, the grader, the tests): venv kernel,
              ipc sockets, environment, time limits, output cap
    sandbox   bubblewrap + prlimit around one kernel (or a loud unsandboxed fallback)
    tamper    fingerprint + nonce checks between student cells and test cells

Command line: ``python -m course_grader index|release|autograde`` (``make assignments``,
``make autograde``).
"""
from __future__ import annotations

from .chapters import exercise_index, find_chapters, resolve_chapter  # noqa: F401
from .release import find_leaks, secret_lines, student_edition  # noqa: F401

__all__ = ["find_chapters", "resolve_chapter", "exercise_index", "student_edition",
           "find_leaks", "secret_lines"]
