"""Stage 3 — validate: check a handed-in notebook's structure before anything else uses it.

A submission is untrusted JSON. :func:`load_submission` accepts only what the later stages can
handle: a JSON object with a ``cells`` list; each kept cell is an object with ``cell_type`` in
``code``/``markdown``/``raw`` and a ``source`` that is a string (or a list of strings, joined);
``metadata`` an object; ``metadata.nbgrader``, if present, an object whose ``grade_id`` is a
string and whose ``solution``/``grade``/``locked``/``task`` are booleans. A cell that breaks a
rule is dropped — its exercise then counts as not answered — and the notes say which and why.
Duplicated cell ids and duplicated grade_ids are reported (the first copy is used).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

import nbformat
from nbformat.notebooknode import NotebookNode

MAX_BYTES = 50 * 1024 ** 2
CELL_TYPES = ("code", "markdown", "raw")
_BOOL_KEYS = ("solution", "grade", "locked", "task")


def _source(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return None


def _cell_problem(cell) -> Tuple[str, dict]:
    """``(problem, clean cell)``; problem is "" when the cell is usable."""
    if not isinstance(cell, dict):
        return f"not an object ({type(cell).__name__})", {}
    ctype = cell.get("cell_type")
    if ctype not in CELL_TYPES:
        return ("without cell_type" if ctype is None else f"cell_type {str(ctype)[:20]!r}"), {}
    source = _source(cell.get("source", ""))
    if source is None:
        return f"source is {type(cell.get('source')).__name__}, not text", {}
    meta = cell.get("metadata", {})
    if not isinstance(meta, dict):
        return f"metadata is {type(meta).__name__}", {}
    meta = dict(meta)
    nbg = meta.get("nbgrader")
    if nbg is not None:
        if not isinstance(nbg, dict):
            return f"nbgrader metadata is {type(nbg).__name__}, not an object", {}
        gid = nbg.get("grade_id")
        if gid is not None and not isinstance(gid, str):
            return f"grade_id is {type(gid).__name__}, not text", {}
        for key in _BOOL_KEYS:
            if key in nbg and not isinstance(nbg[key], bool):
                return f"nbgrader {key} is {type(nbg[key]).__name__}, not true/false", {}
        if "points" in nbg and (isinstance(nbg["points"], bool)
                                or not isinstance(nbg["points"], (int, float))):
            return f"nbgrader points is {type(nbg['points']).__name__}", {}
    clean = {"cell_type": ctype, "source": source, "metadata": meta}
    if ctype == "code":
        clean.update(outputs=[], execution_count=None)
    cid = cell.get("id")
    if isinstance(cid, str) and 0 < len(cid) <= 64:
        clean["id"] = cid
    return "", clean


def validate_cells(raw) -> Tuple[NotebookNode, List[str]]:
    """Validate a parsed notebook; return ``(clean notebook, notes)``. Raises ``ValueError`` if
    it is not a notebook at all (not an object, no ``cells`` list)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise ValueError("not a notebook (no list of cells)")
    notes: List[str] = []
    cells, dropped = [], []
    ids, dup_ids = set(), set()
    for i, cell in enumerate(raw["cells"]):
        problem, clean = _cell_problem(cell)
        if problem:
            dropped.append(f"cell {i} {problem}")
            continue
        cid = clean.get("id")
        if cid is not None:
            if cid in ids:
                dup_ids.add(cid)
                clean.pop("id")
            ids.add(cid)
        cells.append(clean)
    if dropped:
        shown = "; ".join(dropped[:5]) + (f"; and {len(dropped) - 5} more" if len(dropped) > 5 else "")
        notes.append(f"invalid cells ignored: {shown}")
    if dup_ids:
        notes.append(f"{len(dup_ids)} duplicated cell ids")
    nb = nbformat.v4.new_notebook()
    for clean in cells:
        maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                 "raw": nbformat.v4.new_raw_cell}[clean["cell_type"]]
        kw = {"source": clean["source"], "metadata": clean["metadata"]}
        cell = maker(**kw)
        if "id" in clean:
            cell["id"] = clean["id"]
        nb.cells.append(cell)
    return nb, notes


def load_submission(path: Path) -> Tuple[NotebookNode, List[str]]:
    """Read and validate a submission file. Raises ``ValueError`` ("unreadable notebook: ...")
    when it is too large, not UTF-8 JSON, or not a notebook; ``FileNotFoundError`` if absent."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{size} bytes, over the {MAX_BYTES // 1024 ** 2} MB limit")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__})") from None
    return validate_cells(raw)
