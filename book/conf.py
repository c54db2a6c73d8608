"""Sphinx configuration of the web book (built by book/build.py; run `make book`).

Sources are generated into book/_build/<edition>/src by build.py (student or instructor edition
of every chapter, the intro page and the glossary); this file is used with `-c book`.
Nothing is fetched at build time and no page loads anything from another host: MathJax 3 comes
from the PyPI package django-static-mathjax, the Korean web font from koreanize-matplotlib's
NanumGothic (subset to the characters the site uses), the theme from sphinx-book-theme.
"""
import os
import sys
from pathlib import Path

BOOK = Path(__file__).resolve().parent
sys.path.insert(0, str(BOOK / "_ext"))

EDITION = os.environ.get("COURSE_BOOK_EDITION", "student")

project = "딥러닝 기초 — 순전파와 역전파"
author = "딥러닝 기초 코스"
copyright = "MIT License"
language = "ko"
html_search_language = "ko"

extensions = ["myst_nb", "korean_search", "course_book"]

# Notebooks are shown exactly as stored (the outputs nbval checks); nothing is executed.
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}  # no widget manager / require.js from a CDN
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "misc.highlighting_failure"]
exclude_patterns = ["notebooks/**"]

# Math: MathJax 3, vendored (see course_book.py); the path is relative to _static.
mathjax_path = "mathjax/tex-chtml-full.js"

html_theme = "sphinx_book_theme"
html_title = project + (" (강사용: 답 포함)" if EDITION == "instructor" else "")
html_static_path = ["_static"]
html_css_files = ["course-book.css"]
html_copy_source = False
html_favicon = "_static/favicon.svg"  # also stops browsers asking for /favicon.ico
html_context = {"default_mode": "auto"}  # light/dark from the reader's system setting
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
    "search_bar_text": "검색 (예: 역전파)",
}
