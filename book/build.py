#!/usr/bin/env python3
"""Build the course's web book from the stored notebooks (no re-execution): `make book`.

    .venv/bin/python book/build.py                        # student edition -> book/_build/html/
    .venv/bin/python book/build.py --edition instructor   # with solutions -> book/_build/instructor/html/

Steps: (1) write the Sphinx sources into <work>/src: every chapter as the student edition
(``course_grader.release.student_edition(nb, keep_lesson_outputs=True)``: solutions replaced by
the stub, hidden tests removed, exercise outputs cleared, lesson outputs kept) or as stored for
the instructor edition, with a line under the title that links to the notebook file and says how
to run it; the intro page (book/intro.md + the chapter list); notebooks/glossary.md if present.
Files are rewritten only when their content changes, so a second build is incremental.
(2) run Sphinx (myst-nb, sphinx-book-theme, book/_ext) with book/conf.py. Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
NOTEBOOKS = ROOT / "notebooks"
EDITIONS = ("student", "instructor")
INSTRUCTOR_PARAGRAPH = (
    "이 사이트는 연습문제의 답과 채점용 숨은 테스트가 그대로 들어 있는 **강사용 판**입니다. 혼자 공부하며 답을\n"
    "맞춰 보는 용도로 쓰고, 수업 중인 학생에게는 학생용 판(`make book`)을 공개하세요. 학생용 판에서는 답 자리가\n"
    "`# YOUR CODE HERE`와 `raise NotImplementedError()`로 비어 있고 숨은 테스트와 연습문제 셀의 출력이 없습니다.\n\n"
)


def work_dir(edition: str) -> Path:
    """Folder holding src/, html/, doctrees/ of one edition (git-ignored book/_build/)."""
    return BOOK / "_build" if edition == "student" else BOOK / "_build" / edition


def site_dir(edition: str = "student") -> Path:
    return work_dir(edition) / "html"


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if m:
                return m.group(1).strip()
    return ""


def source_line(name: str, edition: str) -> str:
    which = "학생용, 연습문제의 답이 비어 있음" if edition == "student" else "강사용, 답 포함"
    return (
        "\n\n```{container} chapter-source\n"
        f"이 장의 노트북 파일: <a href=\"notebooks/{name}\" download=\"{name}\">{name}</a> ({which}) · "
        f"내 컴퓨터에서 실행하기: 저장소 폴더에서 `make lab`을 실행하고 JupyterLab에서 "
        f"`notebooks/{name}`을 엽니다.\n```\n"
    )


def add_source_line(nb, name: str, edition: str):
    """Insert the notebook link + how-to-run line right under the chapter's H1 title."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.split("\n")
            for i, line in enumerate(lines):
                if re.match(r"^#\s+", line):
                    head, tail = "\n".join(lines[: i + 1]), "\n".join(lines[i + 1:])
                    cell.source = head + source_line(name, edition) + tail
                    return nb
            break
    raise ValueError(f"{name}: no '# title' line in the first markdown cell")


def edition_of(nb, name: str, edition: str):
    if edition == "instructor":
        return nb
    sys.path.insert(0, str(ROOT))
    from course_grader.release import student_edition

    return student_edition(nb, keep_lesson_outputs=True, name=name)


def _write(path: Path, text: str, keep: set) -> None:
    keep.add(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def prepare_sources(edition: str) -> Path:
    import nbformat

    src = work_dir(edition) / "src"
    keep: set = set()
    entries = []
    for path in chapters():
        nb = nbformat.read(path, as_version=4)
        nb = edition_of(nb, path.name, edition)
        _write(src / "notebooks" / path.name, nbformat.writes(nb) + "\n", keep)
        page = add_source_line(nbformat.reads(nbformat.writes(nb), as_version=4), path.name, edition)
        _write(src / path.name, nbformat.writes(page) + "\n", keep)
        entries.append((path.stem, _title(nb)))
    listing = ["## 장 목록", ""]
    listing += [f"- [{title}]({stem}.ipynb)" for stem, title in entries]
    toc = ["", "```{toctree}", ":hidden:", ":caption: 장", ""] + [stem for stem, _ in entries]
    if (NOTEBOOKS / "glossary.md").exists():
        _write(src / "glossary.md", (NOTEBOOKS / "glossary.md").read_text(encoding="utf-8"), keep)
        listing += ["", "부록: [용어집](glossary.md)"]
        toc += ["", "```", "", "```{toctree}", ":hidden:", ":caption: 부록", "", "glossary"]
    toc += ["```", ""]
    intro = (BOOK / "intro.md").read_text(encoding="utf-8")
    if "<!-- chapters -->" not in intro:
        raise ValueError("book/intro.md lost its <!-- chapters --> marker")
    if edition == "instructor":
        student_paragraph = re.compile(r"^이 사이트는 \*\*학생용 판\*\*입니다\..*?\n\n", re.S | re.M)
        if not student_paragraph.search(intro):
            raise ValueError("book/intro.md lost its '이 사이트는 **학생용 판**입니다.' paragraph")
        intro = student_paragraph.sub(INSTRUCTOR_PARAGRAPH, intro, count=1)
    intro = intro.replace("<!-- chapters -->", "\n".join(listing + toc))
    _write(src / "index.md", intro, keep)
    for old in src.rglob("*"):
        if old.is_file() and old not in keep:
            old.unlink()
    return src


def inputs() -> list[Path]:
    """Every file the site is made from (for the stale check)."""
    files = chapters() + [NOTEBOOKS / "glossary.md"]
    files += [p for p in BOOK.rglob("*") if p.is_file() and "_build" not in p.parts
              and "__pycache__" not in p.parts]
    return [p for p in files if p.exists()]


def is_stale(edition: str = "student") -> bool:
    """True when the site is missing or older than a notebook, the glossary or a book/ file."""
    stamp = work_dir(edition) / "html" / ".built"
    if not stamp.exists():
        return True
    built = stamp.stat().st_mtime
    return any(p.stat().st_mtime > built for p in inputs())


def build(edition: str = "student", quiet: bool = False, jobs: str = "1") -> Path:
    from sphinx.cmd.build import build_main

    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    start = time.perf_counter()
    src = prepare_sources(edition)
    work = work_dir(edition)
    os.environ["COURSE_BOOK_EDITION"] = edition
    args = ["-b", "html", "-c", str(BOOK), "-d", str(work / "doctrees"), "-j", jobs,
            "--keep-going", str(src), str(work / "html")]
    if quiet:
        args.insert(0, "-q")
    status = build_main(args)
    if status != 0:
        raise SystemExit(f"sphinx-build failed ({status})")
    (work / "html" / ".built").write_text(edition + "\n")
    seconds = time.perf_counter() - start
    index = work / "html" / "index.html"
    print(f"web book ({edition} edition) built in {seconds:.1f} s: {index.relative_to(ROOT)}")
    return work / "html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edition", choices=EDITIONS, default=os.environ.get("EDITION") or "student")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--jobs", default="1", help="Sphinx -j (default 1; 'auto' uses every core)")
    args = parser.parse_args(argv)
    build(args.edition, quiet=args.quiet, jobs=args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
