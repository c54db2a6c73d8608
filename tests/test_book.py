"""The web book (`make book`): built from the stored notebooks, student edition, no CDN, Korean search.

The site is built once per session (only when it is missing or older than a notebook, the
glossary or a file under book/). The browser test (test_book_browser.py) checks it as a reader.
"""
import functools
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"


def book_module():
    """book/build.py, imported once under a name that cannot clash with a PyPI package."""
    name = "course_book_build"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BOOK / "build.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def korean_search():
    sys.path.insert(0, str(BOOK / "_ext"))
    import korean_search as ks

    return ks


@pytest.fixture(scope="session")
def site():
    """The student site, built once; a file lock keeps two pytest-xdist workers from building
    into the same folder at the same time (the second one finds it fresh)."""
    book = book_module()
    lock_path = book.work_dir("student") / ".build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no parallel workers there
            fcntl = None
        if fcntl:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if book.is_stale("student"):
            subprocess.run([sys.executable, str(BOOK / "build.py"), "--quiet"], cwd=ROOT, check=True,
                           timeout=600)
    return book.site_dir("student")


def chapter_paths():
    return book_module().chapters()


@functools.lru_cache(maxsize=None)
def _parse(path: Path, mtime: float):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def page(site, name):
    """Parsed page (cached per session; do not modify it)."""
    path = site / name
    return _parse(path, path.stat().st_mtime)


def code_and_text(html) -> str:
    """Visible text of a page (a parsed page or an HTML string; not modified); code blocks
    joined without separators so that Pygments' token spans give back the source lines."""
    soup = BeautifulSoup(html, "html.parser") if isinstance(html, str) else html
    parts = [pre.get_text() for pre in soup.find_all("pre")]
    parts += [s for s in soup.find_all(string=True) if s.find_parent("pre") is None]
    return "\n".join(parts)


def lines(text: str) -> set:
    """Stripped lines, as ``secret_lines`` stores them (a solution line shown whole = a leak)."""
    return {line.strip() for line in text.splitlines()}


# --- Korean search -------------------------------------------------------------------------

@pytest.mark.parametrize("word, stem", [
    ("역전파를", "역전파"), ("역전파는", "역전파"), ("역전파의", "역전파"), ("역전파", "역전파"),
    ("역전파에서의", "역전파"), ("기울기를", "기울기"), ("기울기", "기울기"), ("순전파로", "순전파"),
    ("값을", "값"), ("계산한다", "계산"), ("높이", "높이"), ("길이", "길이"), ("ReLU의", "relu"),
    ("gradients", "gradient"),
])
def test_korean_stemmer_strips_particles(word, stem):
    ks = korean_search()
    assert ks.SearchKorean({}).stem(word) == stem


def test_js_stemmer_carries_the_same_endings():
    ks = korean_search()
    js = ks.SearchKorean.js_stemmer_code
    table = json.loads(re.search(r"var KOREAN_ENDINGS = (\[.*?\]);", js).group(1))
    assert [tuple(e) for e in table] == list(ks.ENDINGS)
    assert "window.Stemmer = Stemmer" in js and "EnglishStemmer" in js


def search_index(site):
    text = (site / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1: text.rindex(")")])


@pytest.mark.parametrize("word", ["역전파", "기울기", "순전파"])
def test_search_index_finds_every_chapter_that_uses_the_word_with_any_particle(site, word):
    ks = korean_search()
    index = search_index(site)
    docs = set()
    for key in ("terms", "titleterms"):  # Sphinx keeps a word that is in a title only there
        found = index[key].get(word, [])
        docs |= {found} if isinstance(found, int) else set(found)
    indexed = {index["docnames"][d] for d in docs if re.match(r"\d\d_", index["docnames"][d])}
    assert len(indexed) >= 4, (word, sorted(indexed))
    # every chapter whose text has the word, bare or with a particle (역전파를, 역전파의 ...)
    using = set()
    for path in chapter_paths():
        words = set(re.findall(r"\w+", page(site, path.stem + ".html").select_one("article").get_text(" ")))
        forms = {w for w in words if w.startswith(word) and ks.strip_korean(w) == word}
        if forms:
            using.add(path.stem)
    assert using and using <= indexed, sorted(using - indexed)
    # the particle forms are folded into the bare word, not indexed separately
    for particle in ("를", "는", "의", "을", "은"):
        assert word + particle not in index["terms"]


# --- pages ---------------------------------------------------------------------------------

def test_every_chapter_has_a_page_in_teaching_order_with_prev_next(site):
    paths = chapter_paths()
    assert len(paths) >= 12
    names = ["index"] + [p.stem for p in paths]
    if (ROOT / "notebooks" / "glossary.md").exists():
        names.append("glossary")
    for i, name in enumerate(names):
        soup = page(site, name + ".html")
        prev = soup.select_one("a.left-prev")
        nxt = soup.select_one("a.right-next")
        if i > 0:
            assert prev is not None and prev["href"] == names[i - 1] + ".html", name
        if i < len(names) - 1:
            assert nxt is not None and nxt["href"] == names[i + 1] + ".html", name
    # the sidebar lists the chapters in the same order
    sidebar = [a["href"] for a in page(site, "index.html").select("nav.bd-links a.reference.internal")]
    assert [h for h in sidebar if re.match(r"\d\d_", h)] == [p.stem + ".html" for p in paths]


@pytest.mark.parametrize("path", chapter_paths(), ids=lambda p: p.stem)
def test_chapter_page_links_its_notebook_shows_outputs_figures_and_math(site, path):
    soup = page(site, path.stem + ".html")
    line = soup.select_one(".chapter-source")
    assert line is not None, "no notebook line under the title"
    link = line.find("a", href=f"notebooks/{path.name}")
    assert link is not None and (site / "notebooks" / path.name).is_file()
    assert "make lab" in line.get_text() and f"notebooks/{path.name}" in line.get_text()
    assert soup.select_one(".bd-toc") is not None or soup.select_one("#pst-page-toc-nav") is not None
    stored = nbformat.read(site / "notebooks" / path.name, as_version=4)  # what the page was built from
    lesson_pngs = sum("image/png" in o.get("data", {}) for c in stored.cells
                      if c.cell_type == "code" and not c.metadata.get("nbgrader")
                      for o in c.get("outputs", []))
    images = soup.select("article img")
    assert len(images) >= lesson_pngs
    for img in images:
        assert (site / img["src"]).is_file(), img["src"]
    outputs = soup.select(".cell_output")
    assert len(outputs) >= 3
    maths = soup.select(".math")
    has_dollars = any("$" in c.source for c in stored.cells if c.cell_type == "markdown")
    if has_dollars:
        assert maths, "markdown math did not become math nodes"
    scripts = [s.get("src", "") for s in soup.find_all("script")]
    if maths:
        assert any(s.split("?")[0] == "_static/mathjax/tex-chtml-full.js" for s in scripts)


def test_intro_page_is_korean_and_lists_every_chapter(site):
    soup = page(site, "index.html")
    text = soup.select_one("article").get_text()
    for needed in ("누구를 위한", "내 컴퓨터에서 실행하기", "강사", "make lab", "make book EDITION=instructor"):
        assert needed in text
    hangul = len(re.findall(r"[\uac00-\ud7a3]", text))
    assert hangul > 800
    links = {a["href"] for a in soup.select("article a.reference.internal")}
    for path in chapter_paths():
        assert path.stem + ".html" in links


def test_glossary_is_included_when_it_exists(site):
    if not (ROOT / "notebooks" / "glossary.md").exists():
        assert not (site / "glossary.html").exists()
        return
    soup = page(site, "glossary.html")
    assert soup.select_one("article table") is not None
    # its chapter links point at the chapter pages
    hrefs = {a["href"].split("#")[0] for a in soup.select("article a.reference.internal")}
    assert "00_getting_started.html" in hrefs


# --- student edition -----------------------------------------------------------------------

def test_student_edition_leaks_no_solution_or_hidden_test_line(site):
    from course_grader.release import secret_lines

    checked = 0
    for path in chapter_paths():
        secrets = secret_lines(nbformat.read(path, as_version=4))
        checked += len(secrets)
        html = code_and_text(page(site, path.stem + ".html"))
        served = nbformat.read(site / "notebooks" / path.name, as_version=4)
        served_text = "\n".join(c.source for c in served.cells)
        served_text += "\n".join(o.get("text", "") + "\n" + str(o.get("data", {}).get("text/plain", ""))
                                 for c in served.cells for o in c.get("outputs", []))
        for where, text in ((path.stem + ".html", html), ("notebooks/" + path.name, served_text)):
            leaked = sorted(secrets & lines(text))
            assert not leaked, f"{where} shows {path.name}'s secret lines: {leaked[:3]}"
        if any(c.metadata.get("nbgrader", {}).get("solution") for c in served.cells):
            # the exercises are there, as learners receive them
            assert "raise NotImplementedError()" in html, path.name
    assert checked > 20


def test_leak_scan_finds_a_solution_line_in_highlighted_html():
    """The scanner sees through Pygments' token spans (the check above can fail)."""
    from course_grader.release import secret_lines
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    nb = nbformat.read(chapter_paths()[5], as_version=4)
    secrets = secret_lines(nb)
    solution = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                    and "BEGIN SOLUTION" in c.source)
    html = "<html><body>" + highlight(solution, PythonLexer(), HtmlFormatter()) + "</body></html>"
    text = code_and_text(html)
    assert secrets & lines(text)


# --- offline: nothing from another host ----------------------------------------------------

EXTERNAL = re.compile(r"^(https?:)?//", re.I)


def test_no_page_loads_a_script_stylesheet_or_font_from_another_host(site):
    offenders = []
    for path in site.glob("*.html"):
        soup = page(site, path.name)
        for tag in soup.find_all("script", src=True):
            if EXTERNAL.match(tag["src"]):
                offenders.append((path.name, tag["src"]))
        for tag in soup.find_all("link", href=True):
            rel = " ".join(tag.get("rel", []))
            if EXTERNAL.match(tag["href"]) and re.search(r"stylesheet|preload|icon|font|modulepreload", rel):
                offenders.append((path.name, tag["href"]))
        for style in soup.find_all("style"):
            offenders += [(path.name, u) for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)",
                                                              style.get_text())]
            offenders += [(path.name, u) for u in re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)",
                                                              style.get_text())]
    for css in (site / "_static").rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="ignore")
        offenders += [(css.name, u) for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", text)]
        offenders += [(css.name, u) for u in re.findall(r"@import\s+(?:url\()?['\"]?((?:https?:)?//[^'\")]+)", text)]
    assert not offenders, offenders[:10]


def test_math_fonts_and_web_font_are_vendored(site):
    static = site / "_static"
    assert (static / "mathjax" / "tex-chtml-full.js").stat().st_size > 500_000
    assert list((static / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("MathJax_Main-Regular.woff"))
    for name in ("NanumGothic-subset.woff", "NanumGothicBold-subset.woff"):
        font = static / "fonts" / name
        assert font.read_bytes()[:4] == b"wOFF"
        assert 20_000 < font.stat().st_size < 2_000_000
    css = (static / "course-book.css").read_text(encoding="utf-8")
    assert "fonts/NanumGothic-subset.woff" in css and "--pst-font-family-base" in css


def test_web_font_subset_draws_every_hangul_syllable_on_the_pages(site):
    from fontTools.ttLib import TTFont

    cmap = TTFont(site / "_static" / "fonts" / "NanumGothic-subset.woff").getBestCmap()
    used = set()
    for path in site.glob("*.html"):
        used |= {c for c in path.read_text(encoding="utf-8") if "\uac00" <= c <= "\ud7a3"}
    missing = sorted(c for c in used if ord(c) not in cmap)
    assert len(used) > 500 and not missing, missing[:20]


def test_instructor_edition_sources_keep_the_solutions():
    """`make book EDITION=instructor` builds from the notebooks as stored (solutions included)."""
    from course_grader.release import secret_lines

    book = book_module()
    src = book.prepare_sources("instructor")
    path = chapter_paths()[5]
    shown = nbformat.read(src / path.name, as_version=4)
    text = "\n".join(c.source for c in shown.cells)
    assert secret_lines(nbformat.read(path, as_version=4)) <= lines(text)
    assert "make lab" in text and "강사용" in text
    intro = (src / "index.md").read_text(encoding="utf-8")
    assert "**강사용 판**입니다" in intro and "**학생용 판**입니다" not in intro
    with pytest.raises(ValueError):
        book.build("teacher")
