#!/usr/bin/env python3
"""The last step of ``make setup``: run the doctor and say what is still missing.

Every row of :func:`course_utils.doctor.check` that is not OK is printed with its fix; for the
pieces only a system package manager can install (graphviz's ``dot``, a Korean font graphviz
can find, fontconfig) the exact command is printed for Debian/Ubuntu, Fedora, macOS (Homebrew)
and conda. Exit status 1 when a required piece is missing (the doctor's FAIL: no ``dot``, no
package, no data), so ``make setup`` / ``make lab`` stop instead of opening a course that
cannot run; 0 otherwise (WARN rows are printed but do not stop anything).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: component (as the doctor names it) -> [(platform, command)]
SYSTEM_FIXES = {
    "graphviz dot": [
        ("Debian/Ubuntu", "sudo apt-get install graphviz"),
        ("Fedora", "sudo dnf install graphviz"),
        ("macOS (Homebrew)", "brew install graphviz"),
        ("conda", "conda install -c conda-forge graphviz"),
    ],
    "Korean font (graphviz)": [
        ("Debian/Ubuntu", "sudo apt-get install fonts-nanum"),
        ("Fedora", "sudo dnf install naver-nanum-gothic-fonts"),
        ("macOS (Homebrew)", "brew install --cask font-nanum-gothic"),
        ("conda", "conda install -c conda-forge fontconfig   (then make setup copies NanumGothic for you)"),
    ],
}
FONTCONFIG_FIXES = [
    ("Debian/Ubuntu", "sudo apt-get install fontconfig"),
    ("Fedora", "sudo dnf install fontconfig"),
    ("macOS (Homebrew)", "brew install fontconfig"),
    ("conda", "conda install -c conda-forge fontconfig"),
]


def report(rows) -> tuple:
    """``(lines, failed)`` for the doctor's rows (dicts with component/status/found/fix)."""
    bad = [r for r in rows if r["status"] != "OK"]
    failed = sum(r["status"] == "FAIL" for r in rows)
    if not bad:
        return [f"환경 점검 (make doctor): {len(rows)}개 항목 모두 OK — 준비되었습니다."], 0
    lines = [f"환경 점검 (make doctor): {len(rows) - len(bad)}/{len(rows)}개 항목 OK. 남은 것 (still missing):"]
    for r in bad:
        lines.append(f"  {r['status']:4}  {r['component']}: {r['found']}")
        fixes = SYSTEM_FIXES.get(r["component"])
        if r["component"] == "Korean font (graphviz)" and shutil.which("fc-cache") is None:
            fixes = FONTCONFIG_FIXES
        if fixes:
            for platform, command in fixes:
                lines.append(f"        {platform + ':':18} {command}")
        elif r["fix"]:
            lines.append(f"        fix: {r['fix']}")
    if failed:
        lines.append(f"{failed}개의 필수 항목이 없어 코스를 실행할 수 없습니다 (the course cannot run yet): "
                     "위 명령으로 설치한 뒤 make setup 을 다시 실행하세요.")
    else:
        lines.append("필수 항목은 모두 있습니다: 위 경고(WARN)는 코스 실행을 막지 않습니다.")
    return lines, failed


def main() -> int:
    from course_utils.doctor import check

    rows = check().to_dict("records")
    lines, failed = report(rows)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
