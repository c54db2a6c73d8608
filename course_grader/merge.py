"""Stage 4 — merge: rebuild a handed-in notebook on the instructor copy.

Only solution cells come from the submission (matched by ``grade_id``, code stays code); a
missing one gets the student stub back. Every other cell — lesson code, task text, tests *with*
their hidden part — is the instructor's, in the instructor's order, so deleted, edited or
reordered locked cells are restored, and the notes say so. Cells a student added are ignored.
"""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Tuple

from nbformat.notebooknode import NotebookNode

from .chapters import nbgrader_meta, short


def build_submission(instructor: NotebookNode, submission: Optional[NotebookNode],
                     student: Optional[NotebookNode] = None) -> Tuple[NotebookNode, List[str]]:
    """Rebuild a handed-in notebook on the instructor copy; return ``(notebook, notes)``.

    ``submission`` must already have passed :func:`course_grader.validate.load_submission`
    (cells are dicts with a str ``source``). ``student`` is the release (default: made here).
    ``submission=None`` means "nothing usable was handed in". Outputs are cleared."""
    from nbgrader.preprocessors import ClearOutput

    if student is None:
        from .release import student_edition

        student = student_edition(instructor)
    nb = copy.deepcopy(instructor)
    nb, _ = ClearOutput().preprocess(nb, {})
    notes: List[str] = []
    stub = {nbgrader_meta(c).get("grade_id"): c for c in student.cells if nbgrader_meta(c).get("grade_id")}
    handed: Dict[str, NotebookNode] = {}
    order: List[str] = []
    duplicated = set()
    if submission is not None:
        for cell in submission.cells:
            gid = nbgrader_meta(cell).get("grade_id")
            if not gid or not isinstance(gid, str):
                continue
            if gid in handed:
                duplicated.add(gid)
                continue
            handed[gid] = cell
            order.append(gid)
    ids = [nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c).get("grade_id")]
    missing, lost, edited, unanswered = [], [], [], []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        got = handed.get(gid)
        if meta.get("solution"):
            if submission is None:
                cell.source = stub[gid].source
            elif (got is None or not nbgrader_meta(got).get("solution")
                  or got.get("cell_type") != cell.cell_type):
                lost.append(gid)
                cell.source = stub[gid].source
            else:
                cell.source = got.source
                if got.source.strip() == stub[gid].source.strip():
                    unanswered.append(gid)
        elif submission is not None:
            if got is None:
                missing.append(gid)
            elif (got.source.strip() not in (stub[gid].source.strip(), cell.source.strip())
                  or got.get("cell_type") != cell.cell_type):
                edited.append(gid)
    if submission is not None:
        if lost:
            notes.append("solution cell missing: " + ", ".join(map(short, lost)) + " (stub used)")
        if missing:
            notes.append("locked cell deleted: " + ", ".join(map(short, missing)) + " (restored)")
        if edited:
            notes.append("locked cell edited: " + ", ".join(map(short, edited)) + " (restored)")
        present = [g for g in order if g in ids]
        expected = [g for g in ids if g in handed]
        if present != expected:
            notes.append("cells reordered (instructor order used)")
        if duplicated:
            notes.append("duplicated cells: " + ", ".join(map(short, sorted(duplicated)))
                         + " (first copy used)")
        public = {c.source.strip() for c in student.cells if not nbgrader_meta(c).get("grade_id")}
        extra = [c for c in submission.cells
                 if not nbgrader_meta(c).get("grade_id") and c.source.strip() not in public]
        if extra:
            notes.append(f"{len(extra)} other cells added or edited (ignored)")
        if unanswered:
            notes.append("unanswered: " + ", ".join(map(short, unanswered)))
    return nb, notes
