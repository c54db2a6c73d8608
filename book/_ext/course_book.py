"""Sphinx extension for the course's web book: vendored MathJax, a Korean web font subset,
and the chapter notebooks copied next to the pages.

* MathJax 3 is copied from the PyPI package ``django-static-mathjax`` (module ``mathjax``) into
  the site's ``_static/mathjax/`` (only the CommonHTML output, its fonts and the lazy-loaded
  components; no speech engine, no SVG output).
* The Korean web font is NanumGothic (SIL Open Font License) from the PyPI package
  ``koreanize-matplotlib``, subset with fontTools to the characters the built pages and the
  search index contain, written as WOFF to ``_static/fonts/``. Subsets are cached by content.
* The notebooks the pages were built from (``<src>/notebooks/*.ipynb``, the student edition by
  default) are copied to ``<site>/notebooks/`` so each chapter page can link to its file.
"""
from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

MATHJAX_KEEP = ("tex-chtml-full.js", "output/chtml", "input/tex", "ui", "a11y/assistive-mml.js",
                "a11y/semantic-enrich.js", "a11y/complexity.js", "a11y/explorer.js")
FONT_FILES = {"NanumGothic.ttf": "NanumGothic-subset.woff",
              "NanumGothicBold.ttf": "NanumGothicBold-subset.woff"}


def mathjax_source() -> Path:
    import mathjax  # django-static-mathjax

    return Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"


def font_source() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:  # pragma: no cover - part of the locked set
        raise RuntimeError("koreanize-matplotlib is not installed: run `make setup`")
    return Path(spec.origin).resolve().parent / "fonts"


def stage_mathjax(vendor: Path) -> Path:
    """Copy the needed part of MathJax's es5 tree to ``vendor/mathjax`` once; return ``vendor``."""
    src, dst = mathjax_source(), vendor / "mathjax"
    stamp = dst / ".complete"
    if not stamp.exists():
        shutil.rmtree(dst, ignore_errors=True)
        for rel in MATHJAX_KEEP:
            path = src / rel
            if path.is_dir():
                shutil.copytree(path, dst / rel)
            else:
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dst / rel)
        stamp.write_text("django-static-mathjax es5 subset\n")
    return vendor


def _site_characters(outdir: Path) -> str:
    chars = set(map(chr, range(0x20, 0x7F)))
    for path in list(outdir.rglob("*.html")) + [outdir / "searchindex.js"]:
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="ignore")
            chars.update(re.sub(r"<[^>]+>", " ", text))
    # keep what NanumGothic can draw: Hangul, CJK punctuation, Latin, general punctuation
    return "".join(sorted(c for c in chars if ord(c) >= 0x20))


def subset_fonts(outdir: Path, cache: Path) -> list:
    """Write WOFF subsets of NanumGothic regular/bold for the site's characters."""
    import logging

    from fontTools import subset

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

    text = _site_characters(outdir)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    fonts_out = outdir / "_static" / "fonts"
    fonts_out.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    written = []
    for ttf, woff in FONT_FILES.items():
        cached = cache / f"{key}-{woff}"
        if not cached.exists():
            options = subset.Options()
            options.flavor = "woff"
            options.layout_features = ["*"]
            options.name_IDs = ["*"]
            options.notdef_outline = True
            font = subset.load_font(str(font_source() / ttf), options)
            subsetter = subset.Subsetter(options)
            subsetter.populate(text=text)
            subsetter.subset(font)
            tmp = cached.with_suffix(".tmp")
            subset.save_font(font, str(tmp), options)
            tmp.replace(cached)
        shutil.copy2(cached, fonts_out / woff)
        written.append(fonts_out / woff)
    return written


def _config_inited(app, config):
    vendor = Path(app.outdir).parent / "vendor"
    stage_mathjax(vendor)
    config.html_static_path = list(config.html_static_path) + [str(vendor)]


def _build_finished(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir, srcdir = Path(app.outdir), Path(app.srcdir)
    notebooks = srcdir / "notebooks"
    if notebooks.is_dir():
        target = outdir / "notebooks"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(notebooks, target)
    subset_fonts(outdir, Path(app.outdir).parent / "fontcache")


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("build-finished", _build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
