"""Stage 6 — score: nbgrader's rule per grade cell, summed per exercise.

A grade cell scores its points when it ran without an error *and without any stderr output*
(:func:`nbgrader.utils.determine_grade`), otherwise 0. A grade cell that did not run, or whose
run the tamper check rejected, scores 0.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from nbformat.notebooknode import NotebookNode

from .chapters import exercise_key, nbgrader_meta, short


def score_notebook(nb: NotebookNode, executed: set, rejected: Optional[Dict[int, str]] = None
                   ) -> Tuple[Dict[str, float], Dict[str, float], List[str]]:
    """``(scores, maxima, notes)`` per exercise id for executed notebook ``nb``.

    ``executed``: indices of code cells that ran; ``rejected``: ``{cell index: reason}`` for grade
    cells whose result must not count (tampering)."""
    from nbgrader.utils import determine_grade

    rejected = rejected or {}
    scores: Dict[str, float] = {}
    maxima: Dict[str, float] = {}
    failed, manual = [], []
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        key = exercise_key(meta["grade_id"])
        points = float(meta.get("points", 0))
        maxima[key] = maxima.get(key, 0.0) + points
        if cell.cell_type == "code" and index not in executed:
            got = 0.0
            failed.append(f"{short(meta['grade_id'])} not run")
        elif index in rejected:
            got = 0.0
            failed.append(f"{short(meta['grade_id'])} tampering")
        else:
            got, _ = determine_grade(cell)
            if got is None:
                manual.append(short(meta["grade_id"]))
                got = 0.0
            elif got < points and cell.cell_type == "code":
                reason = next((o.get("ename") for o in cell.outputs if o.get("output_type") == "error"),
                              None)
                if reason is None and any(o.get("name") == "stderr" for o in cell.outputs):
                    text = next(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")
                    reason = "stderr: " + (text.strip().splitlines() or [""])[0][:60]
                if reason in ("KeyboardInterrupt", "TimeoutError"):
                    reason = "time limit"
                failed.append(f"{short(meta['grade_id'])} {reason or 'partial'}")
        scores[key] = scores.get(key, 0.0) + float(got)
    notes = []
    if failed:
        notes.append("failed: " + ", ".join(failed))
    if manual:
        notes.append("needs manual grading (scored 0 here): " + ", ".join(manual))
    return scores, maxima, notes
