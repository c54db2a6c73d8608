"""The web book read in a real browser: Debian's headless Chromium driven through chromedriver.

Serves book/_build/html on 127.0.0.1 (a free port) and opens the intro, the glossary and every
chapter at desktop width (1280 px) and phone width (375 px). For each page: no console error, no
failed request, no request to another host, every image loaded, all math typeset by the
vendored MathJax (no raw TeX left in the visible text), no sideways scrolling, and the Korean
text drawn by a font that has Hangul (Chromium reports the fonts it used for a Korean paragraph).
Then a reader types 역전파 (and 기울기, 순전파, 역전파를) into the search box. A screenshot of
every page is written to book/_build/screenshots/ for a person to look at.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`make setup` installs them when root). Without
them the test skips with one line saying what to install, except under CI=true, where it fails.
Selenium is given the driver and browser paths, so Selenium Manager never runs (no downloads).
"""
import functools
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from test_book import book_module, chapter_paths, site  # noqa: F401  (session fixture)

ROOT = Path(__file__).resolve().parent.parent
# COURSE_CHROMIUM / COURSE_CHROMEDRIVER point at another local build (e.g. on macOS)
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = os.environ.get("COURSE_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
INSTALL = ("web-book browser test skipped: install Debian's headless browser with "
           "`sudo apt-get install chromium chromium-driver` (make setup does it when run as root)")
WIDTHS = {"desktop": (1280, 1400), "phone": (375, 1400)}  # window sizes; screenshots show the window
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]


def pages():
    names = ["index"] + [p.stem for p in chapter_paths()]
    if (ROOT / "notebooks" / "glossary.md").exists():
        names.append("glossary")
    return names


class _Handler(http.server.SimpleHTTPRequestHandler):
    failures: list = []

    def log_message(self, fmt, *args):  # quiet; remember what failed
        pass

    def log_request(self, code="-", size="-"):
        if isinstance(code, int) or str(code).isdigit():
            if int(code) >= 400:
                self.failures.append((int(code), self.path))


@pytest.fixture(scope="module")
def server(site):  # noqa: F811
    handler = functools.partial(_Handler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def driver():
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: " + INSTALL.split(": ", 1)[1])
        pytest.skip(INSTALL)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="book-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}", "--window-size=1280,900"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    browser.set_page_load_timeout(60)
    browser.set_script_timeout(30)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.get("about:blank")
    browser.get_log("browser"), browser.get_log("performance")  # start-up noise
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def korean_system_fonts() -> frozenset:
    """Family names of the installed fonts that cover Korean (fontconfig)."""
    try:
        out = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(name.strip() for line in out.splitlines() for name in line.split(","))


WAIT_READY = """
const done = arguments[arguments.length - 1];
const mj = (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)
  ? window.MathJax.startup.promise : Promise.resolve();
Promise.all([mj, document.fonts.ready]).then(() => done("ok"), (e) => done(String(e)));
"""

PAGE_FACTS = r"""
const article = document.querySelector("article") || document.body;
const imgs = [...document.images].filter((i) => i.getBoundingClientRect().width > 0 || i.closest("article"));
const broken = imgs.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute("src"));
const maths = [...article.querySelectorAll(".math")];
const untypeset = maths.filter((m) => !m.querySelector("mjx-container")).map((m) => m.textContent.slice(0, 60));
// visible text outside code, math and scripts
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
  acceptNode: (n) => n.parentElement.closest("pre, code, script, style, mjx-container, .math, .highlight")
    ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
});
let text = "";
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (el.offsetParent !== null || el.getClientRects().length) text += n.textContent + "\n";
}
const raw = [];
for (const re of [/\$\$[^$]+\$\$/g, /(^|[^\\$])\$[^$\s][^$\n]*?\$/g, /\\\(/g, /\\\[/g, /\\begin\{/g]) {
  for (const m of text.matchAll(re)) raw.push(m[0].slice(0, 60));
}
const p = [...article.querySelectorAll("p")].find((e) => /[\uac00-\ud7a3]{4}/.test(e.textContent));
if (p) p.id = p.id || "hangul-probe";
return {
  images: imgs.length, broken: broken, maths: maths.length, untypeset: untypeset, raw: raw,
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  probe: p ? "#" + p.id : null,
  webfont: document.fonts.check('16px "Nanum Gothic Web"', "한글"),
  height: document.documentElement.scrollHeight,
};
"""


def network_problems(browser, base):
    """Failed requests and requests to another host, from Chromium's performance log."""
    import json

    problems, urls = [], {}
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            internal = url.startswith(("data:", "blob:", "about:", "chrome:", "chrome-untrusted:",
                                       "chrome-extension:", "devtools:"))  # the browser's own pages
            if not (url.startswith(base) or internal):
                problems.append(f"request to another host: {url}")
        elif method == "Network.responseReceived":
            status = params["response"]["status"]
            if status >= 400:
                problems.append(f"HTTP {status}: {params['response']['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            # a request this page made was logged (requestWillBeSent) after the last flush;
            # one that was not is the browser's own start-up traffic
            if params["requestId"] in urls:
                problems.append(f"failed: {urls[params['requestId']]} ({params.get('errorText')})")
    return problems


def fonts_for(browser, selector):
    """Fonts Chromium actually used to draw the node's text: [(family, glyphs, is_web_font)]."""
    document = browser.execute_cdp_cmd("DOM.getDocument", {"depth": 0})
    node = browser.execute_cdp_cmd("DOM.querySelector", {"nodeId": document["root"]["nodeId"],
                                                         "selector": selector})
    browser.execute_cdp_cmd("CSS.enable", {})
    used = browser.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    return [(f["familyName"], f["glyphCount"], f["isCustomFont"]) for f in used["fonts"]]


def screenshots(browser, stem):
    """The top of the page as the window shows it, and at phone width also the first figure."""
    browser.execute_script("window.scrollTo(0, 0);")
    Path(f"{stem}.png").write_bytes(browser.get_screenshot_as_png())
    if "phone" in stem.name and browser.execute_script(
            "const i = document.querySelector('article img');"
            "if (!i) return false; i.scrollIntoView({block: 'center'}); return true;"):
        Path(f"{stem}-figure.png").write_bytes(browser.get_screenshot_as_png())


def test_every_page_reads_well_at_desktop_and_phone_width(driver, server, site):  # noqa: F811
    shots = book_module().work_dir("student") / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    korean = korean_system_fonts()
    problems = []
    _Handler.failures.clear()
    driver.get_log("browser"), driver.get_log("performance")
    for label, (width, height) in WIDTHS.items():
        driver.set_window_size(width, height)
        for name in pages():
            where = f"{name}.html @ {width}px"
            driver.get(server + name + ".html")
            state = driver.execute_async_script(WAIT_READY)
            assert state == "ok", f"{where}: {state}"
            facts = driver.execute_script(PAGE_FACTS)
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            problems += [f"{where}: console: {e}" for e in errors]
            problems += [f"{where}: {p}" for p in network_problems(driver, server)]
            problems += [f"{where}: image not loaded: {src}" for src in facts["broken"]]
            problems += [f"{where}: math not typeset: {m}" for m in facts["untypeset"]]
            problems += [f"{where}: raw TeX in the text: {m!r}" for m in facts["raw"]]
            if facts["overflow"] > 1:
                problems.append(f"{where}: page scrolls sideways by {facts['overflow']} px")
            if name != "index" and not name.startswith("glossary"):
                assert facts["images"] > 0, f"{where}: no figure"
            assert facts["probe"], f"{where}: no Korean paragraph"
            used = fonts_for(driver, facts["probe"])
            drawn_by_korean_font = [f for f, n, web in used if n and (web or f in korean)]
            if not facts["webfont"] or not drawn_by_korean_font:
                problems.append(f"{where}: Korean paragraph drawn with {used} "
                                f"(web font loaded: {facts['webfont']})")
            if any(n and not (web or f in korean) for f, n, web in used
                   if f not in ("DejaVu Sans", "DejaVu Sans Mono", "Liberation Sans")):
                problems.append(f"{where}: a glyph fell back to {used}")
            screenshots(driver, shots / f"{name}-{label}")
    problems += [f"server answered {code} for {path}" for code, path in _Handler.failures]
    assert not problems, "\n".join(problems[:30])
    assert len(list(shots.glob("*-desktop.png"))) == len(list(shots.glob("*-phone.png"))) == len(pages())


def search(driver, server, word):
    """Type ``word`` into the search box of the intro page, press Enter, return the chapters found."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(*WIDTHS["desktop"])
    driver.get(server + "index.html")
    driver.find_element(By.CSS_SELECTOR, ".bd-sidebar-primary button.search-button-field").click()
    box = WebDriverWait(driver, 10).until(
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "form.bd-search input[name=q]")
                        if e.is_displayed()), None))
    box.send_keys(word, Keys.ENTER)
    # searchtools.js replaces the heading's text (and its progress dots) when the list is complete
    WebDriverWait(driver, 30).until(lambda d: "search.html" in d.current_url and d.execute_script(
        "const h = document.querySelector('#search-results h2');"
        "return Boolean(h && !h.querySelector('span') && document.querySelector('#search-results ul.search'));"))
    assert urllib.parse.parse_qs(urllib.parse.urlparse(driver.current_url).query)["q"] == [word]
    links = driver.execute_script(
        "return [...document.querySelectorAll('#search-results ul.search li > a')].map(a => a.getAttribute('href'));")
    return sorted({re.sub(r"[?#].*$", "", h).removesuffix(".html") for h in links
                   if re.match(r"\d\d_", h)})


@pytest.mark.parametrize("word", ["역전파", "기울기", "순전파", "역전파를"])
def test_search_box_finds_korean_words_with_or_without_particles(driver, server, word):
    start = time.perf_counter()
    found = search(driver, server, word)
    assert len(found) >= 4, f"search for {word} found only {found}"
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert not network_problems(driver, server)
    assert time.perf_counter() - start < 60
