"""Structural checks of the stored chapter notebooks (nbval checks their outputs)."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name)]


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_chapters_exist_and_are_numbered_without_gaps():
    assert NOTEBOOKS == CHAPTERS, "every notebook is named NN_ascii_slug.ipynb"
    numbers = [int(p.name[:2]) for p in CHAPTERS]
    assert numbers and numbers == list(range(len(numbers))), numbers


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_code_cell_is_stored_executed(path):
    """nbval silently skips comparing cells stored without outputs: none may be unexecuted."""
    cells = [c for c in load(path)["cells"] if c["cell_type"] == "code" and source(c).strip()]
    unexecuted = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} are stored unexecuted (run `make execute NB={path}`)"
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not executed top to bottom in one run"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_outputs_are_clean(path):
    for i, cell in enumerate(load(path)["cells"]):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name} cell {i} stored an error"
            if out["output_type"] == "stream":
                assert out["name"] == "stdout", f"{path.name} cell {i} wrote to stderr: {out['text'][:200]!r}"
            text = json.dumps(out.get("data", {})) + "".join(out.get("text", ""))
            for symptom in ("Glyph", "missing from font", "does not have a glyph"):
                assert symptom not in text, f"{path.name} cell {i}: missing glyph ({symptom})"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_shape(path):
    nb = load(path)
    md = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    number = path.name[:2]
    assert re.search(rf"^# {number}\. \S", md, re.M), f"{path.name}: title '# {number}. 제목' missing"
    for heading in ("학습 목표", "정리", "연습문제", "다음 장"):
        assert re.search(rf"^##\s*{heading}", md, re.M), f"{path.name}: section '{heading}' missing"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    first_code = next(source(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert "notebook_setup(" in first_code, f"{path.name}: the first code cell must call notebook_setup"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_graded_exercises(path):
    cells = load(path)["cells"]
    meta = [c.get("metadata", {}).get("nbgrader") for c in cells]
    graded = [m for m in meta if m and m.get("grade")]
    solutions = [m for m in meta if m and m.get("solution")]
    assert len(graded) >= 3 and len(solutions) >= 3, f"{path.name}: needs at least three graded exercises"
    for m in graded:
        assert m.get("locked") and m.get("points", 0) > 0 and m["grade_id"].startswith(f"ch{path.name[:2]}_")
    for c in cells:
        m = c.get("metadata", {}).get("nbgrader")
        if m and m.get("solution"):
            assert "### BEGIN SOLUTION" in source(c) and "### END SOLUTION" in source(c)
