"""Korean text in figures.

matplotlib's default font (DejaVu Sans) has no Hangul, so Korean labels come out as boxes
with a "Glyph … missing from font" warning. :func:`use_korean_font` finds a Korean font —
a system font such as Debian's ``fonts-nanum`` first, then the NanumGothic file that the
``koreanize-matplotlib`` package ships — registers it and makes it matplotlib's default.
Graphviz finds fonts through fontconfig, so diagrams need the system font
(``apt-get install fonts-nanum``); :data:`GRAPHVIZ_FONT` is the name they ask for.
"""
from __future__ import annotations

import glob
import os
from typing import Optional

__all__ = ["find_korean_font", "use_korean_font", "GRAPHVIZ_FONT", "FONT_INSTALL_HINT"]

#: Font family names tried in order (Linux, Windows, macOS).
CANDIDATES = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Malgun Gothic", "AppleGothic")
#: The family graphviz diagrams ask fontconfig for (falls back to a default font if absent).
GRAPHVIZ_FONT = "NanumGothic"
FONT_INSTALL_HINT = (
    "sudo apt-get install fonts-nanum   (Debian/Ubuntu; then restart the kernel)\n"
    "or: pip install koreanize-matplotlib   (matplotlib only)"
)


def _bundled_font_files() -> list[str]:
    """TTF files shipped by koreanize-matplotlib, if it is installed."""
    try:
        import koreanize_matplotlib  # noqa: F401  (importing it also registers the font)
    except ImportError:
        return []
    folder = os.path.join(os.path.dirname(koreanize_matplotlib.__file__), "fonts")
    return sorted(glob.glob(os.path.join(folder, "*.ttf")))


def find_korean_font() -> Optional[str]:
    """Return the family name of a Korean font matplotlib can use, or ``None``.

    Registers koreanize-matplotlib's bundled NanumGothic with matplotlib's font manager
    when no system Korean font is found.
    """
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CANDIDATES:
        if name in names:
            return name
    for path in _bundled_font_files():
        font_manager.fontManager.addfont(path)
    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CANDIDATES:
        if name in names:
            return name
    return None


def use_korean_font() -> Optional[str]:
    """Make a Korean font matplotlib's default and return its name.

    Sets ``font.family`` to ``["DejaVu Sans", korean]``: Latin letters, digits and math
    symbols come from DejaVu Sans and every Hangul glyph falls back to the Korean font
    (matplotlib picks fonts per glyph). Korean fonts lack U+2212 (minus), which log-scale
    tick labels use, so putting the Korean font first would log "does not have a glyph"
    warnings. Also sets ``axes.unicode_minus=False``. Returns ``None`` and prints the install
    command when no Korean font exists (figures then show boxes for Hangul).
    """
    import matplotlib

    name = find_korean_font()
    matplotlib.rcParams["axes.unicode_minus"] = False
    if name is None:
        print("한글 글꼴을 찾지 못했습니다 (no Korean font found). Install one with:\n" + FONT_INSTALL_HINT)
        return None
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", name]
    return name
