"""The learner's workspace: student editions of every chapter in ``workspace/`` (git-ignored).

``make lab`` calls :func:`build_workspace` before it opens JupyterLab on the folder. Each chapter
notebook of ``notebooks/`` becomes ``workspace/NN_<한글 제목>.ipynb``: the student edition of
:func:`course_grader.release.student_edition` with ``keep_lesson_outputs=True`` (solutions are
stubs, hidden tests are gone, exercise cells have no outputs, lesson cells keep theirs so the
lesson reads before it is run), with links between chapters pointing at the new names.
``notebooks/glossary.md`` is copied as ``용어집.md`` and ``00_목차.md`` lists the chapters.
``workspace/`` sits next to ``data/``, so a notebook's ``../data`` works there too.

A learner's work is never overwritten. ``workspace/.course-workspace.json`` (the manifest)
records, per source file, the SHA-256 of the source and of each copy written. On a later run:

- a source that did not change is skipped (only hashed, so a second ``make lab`` is fast);
- a missing copy is written (a new chapter, or one the learner deleted);
- a copy the learner has not touched (its hash is the one written) is replaced by the new edition;
- a copy the learner edited is kept, and the new edition goes beside it as
  ``NN_<제목>_new.ipynb`` (``_new2``, ``_new3`` … when that name holds edited work too).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
WORKSPACE = REPO / "workspace"
MANIFEST = ".course-workspace.json"
INDEX = "00_목차.md"
GLOSSARY = ("glossary.md", "용어집.md")
CHAPTER_FILE = re.compile(r"^(\d{2})_[A-Za-z0-9_\-]+\.ipynb$")
PathLike = Union[str, os.PathLike]

NBGRADER_MISSING = (
    "학습 공간(workspace)과 자가 채점은 nbgrader로 학생용 사본을 만듭니다. nbgrader가 설치되어 있지 않습니다.\n"
    "  (the workspace and self-check need nbgrader, which the light install leaves out)\n"
    "  설치: pip install -e \".[instructor]\"   (또는 make setup: 모든 고정 버전 설치)\n"
    "  그 전까지는 notebooks/ 의 원본을 열어도 됩니다. 원본에는 답과 테스트가 함께 있습니다."
)


class NbgraderMissing(RuntimeError):
    """nbgrader (the ``instructor`` extra) is not installed."""


def require_nbgrader() -> None:
    """Raise :class:`NbgraderMissing` with the install command when nbgrader is absent."""
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise NbgraderMissing(NBGRADER_MISSING)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: PathLike) -> str:
    return sha256(Path(path).read_bytes())


def chapter_title(nb) -> str:
    """The Korean title of a chapter: its first ``# `` heading without the ``NN.`` number,
    the English gloss in parentheses and the subtitle after a dash; ``""`` when none."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                title = re.sub(r"^\d+\s*[.:]\s*", "", line[2:].strip())
                title = re.split(r"\s+[—–-]\s+", title)[0]
                title = re.sub(r"\s*\([^)]*\)", "", title).strip()
                return title
    return ""


def copy_name(source: Path, title: str) -> str:
    """``05_computational_graph.ipynb`` + ``계산 그래프와 연쇄법칙`` ->
    ``05_계산_그래프와_연쇄법칙.ipynb``: the number, then the title with spaces as ``_`` and
    only letters (any script), digits, ``_``, ``-`` and ``·`` kept. Falls back to the source
    name when the title leaves nothing."""
    match = CHAPTER_FILE.match(source.name)
    words = re.sub(r"[^\w\-·]+", "_", title, flags=re.UNICODE).strip("_")
    if not match or not words:
        return source.name
    return f"{match.group(1)}_{words}.ipynb"


def beside_name(name: str, taken) -> str:
    """``X.ipynb`` -> ``X_new.ipynb`` (``X_new2.ipynb`` … when ``taken(name)`` says it is used)."""
    stem, dot, ext = name.rpartition(".")
    for i in range(1, 1000):
        candidate = f"{stem}_new{'' if i == 1 else i}.{ext}"
        if not taken(candidate):
            return candidate
    raise RuntimeError(f"no free name beside {name}")  # pragma: no cover


def rewrite_links(text: str, names: Dict[str, str]) -> str:
    """Point markdown/HTML links at the workspace names: ``](01_perceptron.ipynb`` ->
    ``](01_퍼셉트론.ipynb`` (anchors kept)."""
    for old, new in names.items():
        if old != new:
            text = re.sub(r"(\]\(|href=[\"'])" + re.escape(old) + r"(?=[#)\"'])", r"\g<1>" + new, text)
    return text


@dataclass
class Entry:
    """Manifest record of one source file."""

    name: str                      # the learner's copy, in the workspace
    source_sha256: str = ""        # the source the copies were last made from
    written: Dict[str, str] = field(default_factory=dict)  # copy name -> SHA-256 as written

    def to_json(self) -> dict:
        return {"name": self.name, "source_sha256": self.source_sha256, "written": self.written}


@dataclass
class Change:
    """What one build did to one source file: ``status`` is ``new``, ``restored``,
    ``updated``, ``beside`` (edited copy kept, new edition at ``beside``) or ``unchanged``."""

    source: str
    name: str
    status: str
    beside: str = ""


def read_manifest(workspace: Path) -> Dict[str, Entry]:
    path = workspace / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {src: Entry(e["name"], e.get("source_sha256", ""), dict(e.get("written", {})))
                for src, e in data.get("files", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_manifest(workspace: Path, entries: Dict[str, Entry]) -> None:
    data = {"about": "files the course wrote into this workspace (make lab); do not edit",
            "version": 1, "files": {k: e.to_json() for k, e in sorted(entries.items())}}
    _atomic_write(workspace / MANIFEST, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a normal file is what a learner expects
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def chapter_sources(notebooks_dir: Path) -> List[Path]:
    """Chapter notebooks ``NN_slug.ipynb`` of ``notebooks_dir``, in order."""
    return sorted(p for p in notebooks_dir.glob("*.ipynb") if CHAPTER_FILE.match(p.name))


def student_copy(source: Path, names: Dict[str, str]):
    """The workspace edition of chapter ``source`` as ``(notebook, bytes)``."""
    import nbformat

    from course_grader.release import find_leaks, student_edition

    instructor = nbformat.read(str(source), as_version=4)
    nb = student_edition(instructor, keep_lesson_outputs=True, name=source.name)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, names)
    leaks = find_leaks(nb, instructor, lesson_outputs_allowed=True)
    if leaks:  # pragma: no cover - student_edition already refuses these
        raise ValueError(f"{source.name}: the workspace copy would leak: " + "; ".join(leaks[:3]))
    return nb, (nbformat.writes(nb) + "\n").encode("utf-8")


def _place(workspace: Path, source_name: str, entry: Optional[Entry], default_name: str,
           data: bytes, source_sha: str, entries: Dict[str, Entry]) -> Change:
    """Put ``data`` (the new edition) into the workspace without touching edited work."""
    new_sha = sha256(data)
    entry = entry or Entry(default_name)
    target = workspace / entry.name
    status, beside = "unchanged", ""
    if not target.exists():
        status = "restored" if source_name in entries else "new"
        _atomic_write(target, data)
        entry.written[entry.name] = new_sha
    else:
        current = file_sha256(target)
        if current == new_sha:
            entry.written.setdefault(entry.name, new_sha)
        elif entry.written.get(entry.name) == current:  # untouched by the learner
            _atomic_write(target, data)
            entry.written[entry.name] = new_sha
            status = "updated"
        else:  # the learner's work: keep it, offer the new edition beside it
            def taken(name):
                path = workspace / name
                return path.exists() and entry.written.get(name) != file_sha256(path)

            beside = beside_name(entry.name, taken)
            if not (workspace / beside).exists() or file_sha256(workspace / beside) != new_sha:
                _atomic_write(workspace / beside, data)
            entry.written[beside] = new_sha
            status = "beside"
    entry.source_sha256 = source_sha
    entries[source_name] = entry
    return Change(source_name, entry.name, status, beside)


def build_workspace(workspace: Optional[PathLike] = None, notebooks_dir: Optional[PathLike] = None,
                    quiet: bool = False) -> List[Change]:
    """Create or refresh the learner workspace; return what happened per source file.

    ``workspace`` defaults to ``workspace/`` and ``notebooks_dir`` to ``notebooks/`` of the
    repository. Raises :class:`NbgraderMissing` without nbgrader, ``ValueError`` when a chapter
    cannot be released (it would leak) and ``NotADirectoryError`` for a missing ``notebooks_dir``."""
    workspace = Path(workspace) if workspace is not None else WORKSPACE
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS
    if not notebooks_dir.is_dir():
        raise NotADirectoryError(f"notebooks_dir must be a folder, got {str(notebooks_dir)!r}")
    sources = chapter_sources(notebooks_dir)
    glossary = notebooks_dir / GLOSSARY[0]
    files = sources + ([glossary] if glossary.is_file() else [])
    entries = read_manifest(workspace) if workspace.is_dir() else {}
    require_nbgrader()
    shas = {p.name: file_sha256(p) for p in files}

    def unchanged(name: str) -> bool:
        entry = entries.get(name)
        return bool(entry and entry.source_sha256 == shas[name] and (workspace / entry.name).exists())

    if all(unchanged(p.name) for p in files) and (workspace / INDEX).is_file():
        # The usual second `make lab`: only hashes, no notebook is read.
        changes = [Change(p.name, entries[p.name].name, "unchanged") for p in files]
        if not quiet:
            print(summary(changes, workspace), flush=True)
        return changes

    import nbformat

    workspace.mkdir(parents=True, exist_ok=True)
    # Names first (links between chapters need all of them); a known file keeps its name.
    names: Dict[str, str] = {}
    for path in sources:
        entry = entries.get(path.name)
        if entry is not None:
            names[path.name] = entry.name
        else:
            nb = nbformat.read(str(path), as_version=4)
            names[path.name] = copy_name(path, chapter_title(nb))
    if glossary.is_file():
        names[GLOSSARY[0]] = entries[GLOSSARY[0]].name if GLOSSARY[0] in entries else GLOSSARY[1]

    changes: List[Change] = []
    for path in sources:
        entry = entries.get(path.name)
        if unchanged(path.name):
            changes.append(Change(path.name, entry.name, "unchanged"))
            continue
        _, data = student_copy(path, names)
        changes.append(_place(workspace, path.name, entry, names[path.name], data, shas[path.name], entries))
    if glossary.is_file():
        entry = entries.get(GLOSSARY[0])
        if unchanged(GLOSSARY[0]):
            changes.append(Change(GLOSSARY[0], entry.name, "unchanged"))
        else:
            data = rewrite_links(glossary.read_text(encoding="utf-8"), names).encode("utf-8")
            changes.append(_place(workspace, GLOSSARY[0], entry, names[GLOSSARY[0]], data,
                                  shas[GLOSSARY[0]], entries))
    write_manifest(workspace, entries)
    index = index_markdown(sources, names, notebooks_dir).encode("utf-8")
    if not (workspace / INDEX).is_file() or (workspace / INDEX).read_bytes() != index:
        _atomic_write(workspace / INDEX, index)
    if not quiet:
        print(summary(changes, workspace), flush=True)
    return changes


def index_markdown(sources: List[Path], names: Dict[str, str], notebooks_dir: Path) -> str:
    """The workspace's landing page: chapters with Korean titles and exercise counts,
    how to check one's answers, and where the instructor copies are."""
    import nbformat

    from course_grader.chapters import exercise_index

    rows = []
    for path in sources:
        nb = nbformat.read(str(path), as_version=4)
        ex = exercise_index(nb)
        points = sum(e.points for e in ex)
        number = path.name[:2]
        title = chapter_title(nb) or path.stem
        work = f"{len(ex)}문제 · {points:g}점" if ex else "—"
        rows.append(f"| {int(number)} | [{title}]({names[path.name]}) | {work} |")
    glossary = (f"\n용어가 헷갈리면 [용어집]({names[GLOSSARY[0]]})을 보세요.\n"
                if GLOSSARY[0] in names else "")
    return f"""# 딥러닝 기초 — 나의 학습 공간

이 폴더(`workspace/`)는 **여러분의 작업 공간**입니다. 장마다 학생용 사본이 하나씩 있습니다.
본문의 설명과 그림은 그대로 있어 실행하기 전에도 읽을 수 있고, 연습문제의 답 자리는 비어 있습니다
(`raise NotImplementedError()` 줄을 지우고 답을 쓰세요). 여기서 고치고 저장한 내용은 `make lab`을 다시
실행해도 지워지지 않습니다.

| 장 | 노트북 | 연습문제 |
| --- | --- | --- |
{chr(10).join(rows)}
{glossary}
## 스스로 채점하기 (check your answers)

노트북을 **저장(Ctrl+S)** 한 뒤, 노트북의 새 셀에서 다음 한 줄을 실행하면 그 장의 연습문제를 숨은 테스트로
채점해 문제마다 점수와 힌트를 보여 줍니다(테스트 코드는 보여 주지 않습니다).

```python
import course_workspace; course_workspace.check("05")   # "05" 자리에 장 번호
```

터미널에서는 저장소 폴더에서 `make check CHAPTER=05` 입니다.

## 막혔을 때

답이 들어 있는 원본(강사용)은 저장소의 `notebooks/` 폴더에 있습니다. 먼저 스스로 풀어 본 다음에 여세요.

## 코스가 바뀌면

`make lab`은 새 장을 더하고, 손대지 않은 사본은 새 판으로 바꿉니다. 고친 사본은 그대로 두고, 새 판은 그 옆에
`…_new.ipynb` 라는 이름으로 둡니다.
"""


STATUS_TEXT = {
    "new": "새로 만듦",
    "restored": "지워져 있어 다시 만듦",
    "updated": "새 판으로 바꿈 (손대지 않은 사본)",
}


def summary(changes: List[Change], workspace: Path) -> str:
    """One line per change worth telling, then the folder and its landing page."""
    lines = []
    for c in changes:
        if c.status in STATUS_TEXT:
            lines.append(f"  {c.name}: {STATUS_TEXT[c.status]}")
        elif c.status == "beside":
            lines.append(f"  {c.name}: 고친 사본은 그대로 두고, 새 판을 {c.beside} 로 옆에 두었습니다")
    head = f"학습 공간 {workspace}: {len(changes)}개 파일"
    if not lines:
        return head + ", 바뀐 것 없음. 첫 화면: " + INDEX
    return "\n".join([head + ". 첫 화면: " + INDEX, *lines])
