"""Editorial checks over every chapter: one glossary, no machine paths, no tooling jargon.

- ``notebooks/glossary.md`` is the course glossary (Korean term, English term, meaning, chapter
  of first use, rejected variants). Markdown cells may not use a rejected variant, and the
  "chapter of first use" column must be true of the stored notebooks.
- No stored output may show an absolute path of the machine that executed it.
- Learner-facing markdown has no tooling jargon (nbval, sanitize, CI), except chapter 00's one
  note on how the course checks itself.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
GLOSSARY = NOTEBOOKS / "glossary.md"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

# Chapter references are written 4장 / 3.8절, never zero-padded.
ZERO_PADDED_CHAPTER = re.compile(r"(?<![\d.])0\d장")
JARGON = re.compile(r"nbval|sanitiz|sanitis|\bCI\b", re.I)
# An absolute path with at least two folders (a URL's path is excluded by the look-behind),
# or a Windows user folder.
MACHINE_PATH = re.compile(r"(?<![\w.:/~\\-])/(?:[\w.-]+/){2,}[\w.-]*|[A-Za-z]:\\Users\\")


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _markdown(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [_source(c) for c in cells if c["cell_type"] == "markdown"]


def parse_glossary(text):
    """Rows of the glossary table as dicts: ko, en, meaning, chapter (int), file, rejected (list)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith(("| 한국어", "| ---")):
            continue
        cols = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cols) == 5, f"glossary row needs 5 columns: {line!r}"
        ko, en, meaning, first, rejected = cols
        m = re.fullmatch(r"\[(\d+)장\]\((\d\d_[a-z0-9_]+\.ipynb)\)", first)
        assert m, f"glossary: chapter of first use must be a link like [3장](03_x.ipynb): {line!r}"
        rows.append({
            "ko": ko, "en": en, "meaning": meaning, "chapter": int(m.group(1)), "file": m.group(2),
            "rejected": [] if rejected == "—" else [r.strip() for r in rejected.split("·")],
        })
    return rows


def variant_findings(markdown_cells, rows):
    """(cell index, variant, preferred term) for every rejected variant used in the cells."""
    found = []
    for i, text in enumerate(markdown_cells):
        for row in rows:
            for variant in row["rejected"]:
                if variant in text:
                    found.append((i, variant, row["ko"]))
        for m in ZERO_PADDED_CHAPTER.finditer(text):
            found.append((i, m.group(0), m.group(0).lstrip("0")))
    return found


@pytest.fixture(scope="module")
def glossary():
    assert GLOSSARY.exists(), "notebooks/glossary.md (the course glossary) is missing"
    return parse_glossary(GLOSSARY.read_text(encoding="utf-8"))


def test_glossary_is_well_formed(glossary):
    assert len(glossary) >= 40
    terms = [r["ko"] for r in glossary]
    assert len(terms) == len(set(terms)), "a term is listed twice"
    for row in glossary:
        assert row["en"] and row["meaning"], row
        assert (NOTEBOOKS / row["file"]).exists(), row["file"]
        assert int(row["file"][:2]) == row["chapter"], row
        for variant in row["rejected"]:
            assert variant not in terms, f"{variant} is both a term and a rejected variant"


def test_chapter_of_first_use_is_true(glossary):
    markdown = {p.name: "\n".join(_markdown(p)) for p in CHAPTERS}
    wrong = []
    for row in glossary:
        first = next((name for name, md in markdown.items() if row["ko"] in md), None)
        if first != row["file"]:
            wrong.append(f"{row['ko']}: glossary says {row['file']}, first used in {first}")
    assert not wrong, "\n".join(wrong)


def test_variant_check_can_fail(glossary):
    cells = ["경사 하강법으로 학습합니다", "04장에서 본 것처럼", "4장과 3.8절"]
    found = variant_findings(cells, glossary)
    assert (0, "경사 하강법", "경사하강법") in found
    assert (1, "04장", "4장") in found
    assert not [f for f in found if f[0] == 2]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_markdown_uses_glossary_terms(path, glossary):
    found = variant_findings(_markdown(path), glossary)
    assert not found, f"{path.name}: " + "; ".join(
        f"markdown cell {i} uses '{v}' (write '{t}')" for i, v, t in found)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_machine_path_in_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] + [v for k, v in out.get("data", {}).items()
                                              if k.startswith("text/")]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                m = MACHINE_PATH.search(text)
                assert not m, f"{path.name} cell {i} shows a machine path: {m.group(0)[:80]}"


def test_machine_path_pattern_catches_paths_not_urls():
    assert MACHINE_PATH.search("data at /home/kim/course/data/x.npz")
    assert MACHINE_PATH.search("C:\\Users\\kim\\course")
    assert not MACHINE_PATH.search("see https://pytorch.org/get-started/locally/ and ../data/x")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_tooling_jargon_in_prose(path):
    hits = [i for i, text in enumerate(_markdown(path)) if JARGON.search(text)]
    allowed = 1 if path.name.startswith("00_") else 0
    assert len(hits) <= allowed, (
        f"{path.name}: markdown cells {hits} use tooling jargon (nbval, sanitize, CI); "
        "only chapter 00's note on how the course checks itself may")
