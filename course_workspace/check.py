"""A learner grades their own copy: ``make check CHAPTER=05`` or, in a notebook,
``import course_workspace; course_workspace.check("05")``.

The copy in ``workspace/`` goes through the instructor's grader (:func:`course_grader.grade.autograde`:
only its answer cells are taken, put into the instructor notebook with the hidden tests, run in
a fresh kernel with time limits, scored by nbgrader's rule). What is printed per exercise: the
points, and for a failed test only the exception's type and its message (the ``assert``'s
text) with a hint. Tracebacks and test source are never printed, and a message that would
quote a line of a hidden test or solution is withheld.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .build import (CHAPTER_FILE, NOTEBOOKS, WORKSPACE, NbgraderMissing, PathLike,
                    file_sha256, read_manifest, require_nbgrader)

MAX_MESSAGE = 300

HINTS = {
    "NotImplementedError": "아직 답을 쓰지 않았습니다: 답 셀의 `raise NotImplementedError()` 줄을 지우고 코드를 쓰세요.",
    "NameError": "테스트가 찾는 이름이 없습니다: 문제에 적힌 함수·변수 이름을 그대로 썼는지, 답 셀을 지우지 않았는지 보세요.",
    "AssertionError": "결과가 기대한 값과 다릅니다. 메시지가 있으면 무엇이 다른지 알려 줍니다; 작은 입력으로 손 계산과 비교해 보세요.",
    "SyntaxError": "답 셀에 문법 오류가 있습니다: 메시지의 줄 번호 근처를 보세요.",
    "IndentationError": "들여쓰기가 맞지 않습니다: 답 셀의 들여쓰기를 확인하세요.",
    "TypeError": "값의 종류(type)나 인자 개수가 맞지 않습니다: 문제에 적힌 입력과 반환값을 다시 읽어 보세요.",
    "ValueError": "값이나 모양(shape)이 맞지 않습니다: 배열의 shape을 print로 확인해 보세요.",
    "IndexError": "인덱스가 범위를 벗어났습니다: 배열의 shape과 반복 범위를 확인하세요.",
    "KeyError": "딕셔너리에 없는 키를 찾았습니다: 키 이름을 확인하세요.",
    "AttributeError": "없는 속성이나 메서드를 불렀습니다: 이름과 객체의 종류를 확인하세요.",
    "ZeroDivisionError": "0으로 나누었습니다.",
    "RuntimeError": "실행 중 오류가 났습니다: 텐서의 모양과 requires_grad 설정을 확인해 보세요.",
    "time limit": "시간 제한 안에 끝나지 않았습니다: 끝나지 않는 반복문이 없는지, 반복 횟수가 너무 크지 않은지 보세요.",
    "stderr": "테스트는 통과했지만 경고(stderr 출력)가 나와 점수가 없습니다: 경고의 원인을 고치세요.",
    "not run": "앞 셀에서 실행이 멈춰 이 테스트가 실행되지 않았습니다.",
}
DEFAULT_HINT = "오류가 났습니다: 오류 이름과 메시지를 단서로 답 셀을 살펴보세요."


@dataclass
class TestOutcome:
    """One grade (test) cell: ``status`` is ``passed``, ``failed`` or ``not run``."""

    grade_id: str
    points: float
    max_points: float
    status: str
    error: str = ""       # exception type, or "time limit" / "stderr" / "not run"
    message: str = ""     # the exception's message (the assert text), never a traceback


@dataclass
class ExerciseResult:
    exercise_id: str
    title: str
    points: float
    max_points: float
    tests: List[TestOutcome] = field(default_factory=list)
    answer_error: str = ""   # "SyntaxError: ..." when the answer cell itself failed


@dataclass
class CheckResult:
    chapter: str
    copy: Path
    exercises: List[ExerciseResult]
    notes: List[str]
    seconds: float

    @property
    def points(self) -> float:
        return float(sum(e.points for e in self.exercises))

    @property
    def max_points(self) -> float:
        return float(sum(e.max_points for e in self.exercises))


def learner_copies(workspace: Path, chapter: Path) -> List[Path]:
    """The workspace notebooks of ``chapter``: every ``NN_*.ipynb`` with its number (the copy,
    a ``_new`` edition beside it, a JupyterLab ``-Copy1`` duplicate …)."""
    number = CHAPTER_FILE.match(chapter.name)
    prefix = number.group(1) + "_" if number else chapter.stem
    return sorted(p for p in workspace.glob(prefix + "*.ipynb") if p.is_file())


def pick_copy(workspace: Path, chapter: Path) -> Path:
    """The copy to grade: the most recently saved one the learner has changed; when none is
    changed, the chapter's main copy. Raises FileNotFoundError when the workspace has none."""
    copies = learner_copies(workspace, chapter)
    if not copies:
        raise FileNotFoundError(
            f"{workspace} 에 {chapter.name[:2]}장 사본이 없습니다. 먼저 make lab 으로 학습 공간을 만드세요.")
    entry = read_manifest(workspace).get(chapter.name)
    written = set(entry.written.values()) if entry else set()
    edited = [p for p in copies if file_sha256(p) not in written]
    if edited:
        return max(edited, key=lambda p: p.stat().st_mtime)
    if entry and (workspace / entry.name).is_file():
        return workspace / entry.name
    return copies[0]


def _strip_points(title: str) -> str:
    return re.sub(r"\s*\(\d+(\.\d+)?\s*점\)\s*$", "", title).strip()


def _message(text: str, secrets: set) -> str:
    """First lines of an exception message, cut to MAX_MESSAGE characters; withheld when it
    quotes a secret (solution or hidden-test) line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text or "")).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if any(line in secrets for line in lines):
        return "(메시지에 테스트 코드가 들어 있어 생략합니다)"
    text = " / ".join(lines[:4])
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def _cell_error(cell) -> tuple:
    """``(error, message)`` of an executed cell: the first error output, or a stderr stream."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name = out.get("ename", "Error")
            if name in ("KeyboardInterrupt", "TimeoutError"):
                return "time limit", ""
            return name, out.get("evalue", "")
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "stderr", ""
    return "", ""


def _autograde(chapter: Path, copy: Path, out: Path, timeout: Optional[float], cell_timeout: Optional[float]):
    from course_grader.grade import autograde

    wanted = {"out": out, "csv_path": out / "scores.csv", "quiet": True, "jobs": 1, "sandbox": False}
    if timeout is not None:
        wanted["timeout"] = timeout
    if cell_timeout is not None:
        wanted["cell_timeout"] = cell_timeout
    accepted = inspect.signature(autograde).parameters
    kwargs = {k: v for k, v in wanted.items() if k in accepted}
    return autograde(chapter, [copy], **kwargs)[0]


CHILD = "COURSE_CHECK_CHILD"


def _in_kernel() -> bool:
    """True inside a running Jupyter kernel (``check`` called from a notebook cell)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _result_from_json(data: dict) -> "CheckResult":
    exercises = [ExerciseResult(**{**e, "tests": [TestOutcome(**t) for t in e["tests"]]})
                 for e in data["exercises"]]
    return CheckResult(data["chapter"], Path(data["copy"]), exercises, data["notes"], data["seconds"])


def _check_in_subprocess(chapter, workspace, copy, notebooks_dir, timeout, cell_timeout, quiet):
    """Run :func:`check` in a child Python. Inside a notebook the grading kernel's own messages
    would otherwise land under the learner's cell as red stderr text."""
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "course_workspace", "check", "--result-json", str(out)]
        if chapter is not None:
            cmd.append(str(chapter))
        for flag, value in (("--workspace", workspace), ("--copy", copy), ("--notebooks", notebooks_dir),
                            ("--timeout", timeout), ("--cell-timeout", cell_timeout)):
            if value is not None:
                cmd += [flag, str(value)]
        if quiet:
            cmd.append("--quiet")
        root = str(Path(__file__).resolve().parents[1])  # importable even without pip install -e .
        env = dict(os.environ, **{CHILD: "1"})
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.stdout:
            print(done.stdout, end="")
        if done.returncode or not out.is_file():
            message = [line for line in done.stderr.splitlines() if not line.startswith("[")]
            raise ValueError("\n".join(message[-5:]) or f"check failed (exit status {done.returncode})")
        return _result_from_json(json.loads(out.read_text(encoding="utf-8")))


def check(chapter: Optional[PathLike] = None, workspace: Optional[PathLike] = None, *,
          copy: Optional[PathLike] = None, notebooks_dir: Optional[PathLike] = None,
          timeout: Optional[float] = None, cell_timeout: Optional[float] = None,
          quiet: bool = False) -> CheckResult:
    """Grade the learner's copy of ``chapter`` (``"05"``, ``5``, ``"05_computational_graph"``)
    with the hidden tests and print a per-exercise report (unless ``quiet``).

    ``chapter=None``: the chapter of the most recently saved notebook in the workspace.
    ``copy``: grade this notebook instead of the one picked in ``workspace`` (default
    ``workspace/``). Raises :class:`NbgraderMissing` (light install), ``FileNotFoundError``
    (no copy) or ``ValueError`` (unknown chapter)."""
    require_nbgrader()
    if _in_kernel() and not os.environ.get(CHILD):
        return _check_in_subprocess(chapter, workspace, copy, notebooks_dir, timeout, cell_timeout, quiet)
    from course_grader.chapters import exercise_index, nbgrader_meta, read_notebook, resolve_chapter
    from course_grader.release import secret_lines

    workspace = Path(workspace) if workspace is not None else WORKSPACE
    if chapter is None:
        saved = [p for p in workspace.glob("*.ipynb") if re.match(r"\d{2}_", p.name)]
        if not saved:
            raise FileNotFoundError(f"{workspace} 에 노트북이 없습니다: make lab 으로 학습 공간을 만드세요.")
        chapter = max(saved, key=lambda p: p.stat().st_mtime).name[:2]
    if isinstance(chapter, int) and not isinstance(chapter, bool):
        chapter = f"{chapter:02d}"
    source = resolve_chapter(chapter, notebooks_dir if notebooks_dir is not None else NOTEBOOKS).resolve()
    instructor = read_notebook(source)
    learner = Path(copy) if copy is not None else pick_copy(workspace, source)
    if not learner.is_file():
        raise FileNotFoundError(f"no such notebook: {learner}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        result = _autograde(source, learner, Path(tmp), timeout, cell_timeout)
        graded = read_notebook(result.graded) if result.graded else None
    secrets = secret_lines(instructor)
    cells: Dict[str, dict] = {}
    if graded is not None:
        cells = {nbgrader_meta(c).get("grade_id"): c for c in graded.cells if nbgrader_meta(c).get("grade_id")}
    exercises = []
    for ex in exercise_index(instructor):
        got = float(result.scores.get(ex.exercise_id, 0.0))
        er = ExerciseResult(ex.exercise_id, _strip_points(ex.title), got, ex.points)
        for gid in ex.solution_cells:
            error, message = _cell_error(cells.get(gid, {}))
            if error and error not in ("stderr", "NotImplementedError"):
                er.answer_error = f"{error}: {_message(message, secrets)}".rstrip(": ")
        for gid, points in ex.grade_cells:
            cell = cells.get(gid)
            if cell is None or (cell.get("cell_type") == "code" and cell.get("execution_count") is None
                                and not cell.get("outputs")):
                er.tests.append(TestOutcome(gid, 0.0, points, "not run", "not run"))
                continue
            error, message = _cell_error(cell)
            status = "failed" if error else "passed"
            er.tests.append(TestOutcome(gid, points if not error else 0.0, points, status, error,
                                        _message(message, secrets) if error not in ("stderr", "time limit") else ""))
        exercises.append(er)
    notes = [n for n in result.notes if not n.startswith(("failed:", "unanswered:"))]
    report = CheckResult(source.stem, learner, exercises, notes, time.monotonic() - started)
    if not quiet:
        print(format_report(report))
    return report


NOTE_TEXT = [
    (r"locked cell (edited|deleted)", "문제·테스트 셀을 고치거나 지운 것은 원본으로 되돌려 채점했습니다"),
    (r"solution cell missing", "답 셀이 없어 빈 답으로 채점했습니다"),
    (r"cells reordered", "셀 순서가 바뀌어 원래 순서로 채점했습니다"),
]


def format_report(r: CheckResult) -> str:
    """The printed report: one block per exercise, then the total."""
    try:
        shown = r.copy.resolve().relative_to(WORKSPACE.parent)
    except ValueError:
        shown = r.copy
    saved = time.strftime("%H:%M:%S", time.localtime(r.copy.stat().st_mtime)) if r.copy.exists() else "?"
    lines = [f"{r.chapter} 채점: {shown} (저장 시각 {saved}; 저장하지 않은 변경은 채점되지 않습니다)", ""]
    shown_hints = set()  # each hint once per report
    for ex in r.exercises:
        mark = "통과" if ex.points >= ex.max_points else ("부분 점수" if ex.points > 0 else "아직")
        lines.append(f"[{mark}] {ex.title}: {ex.points:g}/{ex.max_points:g}점")
        if ex.answer_error:
            lines.append(f"    답 셀 오류: {ex.answer_error}")
        for t in ex.tests:
            if t.status == "passed":
                continue
            label = re.sub(r"^ch\d+_", "", t.grade_id)
            text = t.error if not t.message else f"{t.error}: {t.message}"
            lines.append(f"    {label}: {text}")
            hint = HINTS.get(t.error, DEFAULT_HINT)
            if hint not in shown_hints:
                lines.append(f"      힌트: {hint}")
                shown_hints.add(hint)
    lines.append("")
    lines.append(f"합계 {r.points:g}/{r.max_points:g}점 ({r.seconds:.0f}초). 답 셀만 채점하고, 테스트 코드는 보여 주지 않습니다.")
    for note in r.notes:
        for pattern, text in NOTE_TEXT:
            if re.search(pattern, note):
                lines.append(f"참고: {text}.")
                break
    if r.points < r.max_points:
        lines.append(f"막히면 답이 있는 원본 notebooks/{r.chapter}.ipynb 를 열어 보세요.")
    return "\n".join(lines)


LIGHT_PATH = (
    "자가 채점에는 nbgrader가 필요합니다: pip install -e \".[instructor]\"\n"
    "그 전까지는 notebooks/ 의 원본에서 연습문제 아래의 테스트 셀을 실행해 확인할 수 있습니다\n"
    "(원본에는 답과 숨은 테스트가 함께 있습니다)."
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_workspace check",
                                     description="grade your own copy of a chapter in workspace/")
    parser.add_argument("chapter", nargs="?", help="chapter number, e.g. 05 (default: the last one you saved)")
    parser.add_argument("--workspace", default=None, help="workspace folder (default: workspace/)")
    parser.add_argument("--copy", default=None, help="grade this notebook instead")
    parser.add_argument("--cell-timeout", type=float, default=None, help="seconds per exercise cell")
    parser.add_argument("--timeout", type=float, default=None, help="seconds for the whole notebook")
    parser.add_argument("--notebooks", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result-json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        result = check(args.chapter or None, args.workspace, copy=args.copy, notebooks_dir=args.notebooks,
                       timeout=args.timeout, cell_timeout=args.cell_timeout, quiet=args.quiet)
        if args.result_json:
            data = dataclasses.asdict(result)
            data["copy"] = str(result.copy)
            Path(args.result_json).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    except NbgraderMissing:
        print(LIGHT_PATH, file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"make check: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
