"""Korean search for Sphinx: strip particles (josa) and 하다-endings before indexing and searching.

What Sphinx does by default with ``language = "ko"``: there is no Korean search language, so it
falls back to English. Words are split on whitespace and punctuation (``\\w+``), so 역전파를,
역전파는 and 역전파의 are three separate index terms, and the English stemmer leaves Hangul as it
is. The browser looks up the query word exactly; only when the exact word is *not* in the index at
all does it fall back to a substring scan. So as soon as one chapter writes the bare word 역전파,
a search for 역전파 finds only the chapters that have the bare word and misses every chapter that
only writes 역전파를 / 역전파는 / 역전파의. Two-syllable words (미분, 손실) never get the substring
fallback (it needs three characters).

This module registers a ``ko`` search language whose stemmer, in Python (index) and in
JavaScript (query), removes a trailing particle or 하다-ending from a Hangul word, so 역전파를,
역전파는, 역전파의 and 역전파 all become the index term 역전파. Latin words keep the English
stemmer. The same table of endings drives both sides (the JS code is generated from it).
"""
from __future__ import annotations

import json
import re

import snowballstemmer
from sphinx.search import SearchLanguage

# Endings that may follow a noun. Longest match first; a word is stripped at most twice
# (에서 + 의 = 에서의, 으로 + 는 = 으로는). 'free' endings are unambiguous and may leave a
# one-syllable stem (값을 -> 값); the others need a stem of at least two syllables, so that
# 높이, 길이, 나가, 모두 and similar words are not cut.
FREE_ENDINGS = (
    "에서부터", "으로부터", "로부터", "에게서", "이라는", "이라고", "이라면", "이지만", "이므로",
    "에서", "에게", "까지", "부터", "처럼", "보다", "마다", "조차", "으로써", "으로서", "으로",
    "이다", "입니다", "이며", "이고", "이나", "이란", "이라",
    "을", "를", "은", "는", "의", "에",
)
STEM2_ENDINGS = (
    "합니다", "했습니다", "됩니다", "하세요", "하므로", "하지만", "하려면", "하는", "하고", "하면",
    "하여", "해서", "했다", "한다", "하기", "하자", "되는", "되어", "된다", "되면",
    "라는", "라고", "로서", "로써", "와의", "과의", "이랑", "랑",
    "한", "할", "된", "될", "이", "가", "도", "만", "로", "와", "과", "나", "란",
)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")  # precomposed syllables


def _ordered():
    table = [(e, 1) for e in FREE_ENDINGS] + [(e, 2) for e in STEM2_ENDINGS]
    return sorted(table, key=lambda item: -len(item[0]))


ENDINGS = _ordered()


def strip_korean(word: str) -> str:
    """Return ``word`` without one or two trailing Korean particles / 하다-endings.

    >>> strip_korean("역전파를"), strip_korean("역전파에서의"), strip_korean("값을"), strip_korean("높이")
    ('역전파', '역전파', '값', '높이')
    """
    for _ in range(2):
        for ending, min_stem in ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= min_stem:
                word = word[: -len(ending)]
                break
        else:
            break
    return word


JS_STEMMER = """
/* Korean search (book/_ext/korean_search.py): the same endings as the Python indexer. */
var KOREAN_ENDINGS = %(endings)s;
var KOREAN_HANGUL = /[\\uac00-\\ud7a3]/;
function stripKorean(word) {
  for (var round = 0; round < 2; round++) {
    var cut = false;
    for (var i = 0; i < KOREAN_ENDINGS.length; i++) {
      var e = KOREAN_ENDINGS[i][0], minStem = KOREAN_ENDINGS[i][1];
      var stemLength = word.length - e.length;
      if (stemLength >= minStem && word.slice(stemLength) === e) {
        word = word.slice(0, stemLength);
        cut = true;
        break;
      }
    }
    if (!cut) break;
  }
  return word;
}
%(english)s
var Stemmer = function () {
  var english = new EnglishStemmer();
  this.stemWord = function (w) {
    if (KOREAN_HANGUL.test(w)) w = stripKorean(w);
    if (KOREAN_HANGUL.test(w)) return w;
    return english.stemWord(w);
  };
};
window.Stemmer = Stemmer;
"""


class SearchKorean(SearchLanguage):
    """``html_search_language = 'ko'``: Hangul words lose their particles, Latin words are
    stemmed as English."""

    lang = "ko"
    language_name = "Korean"

    def __init__(self, options: dict) -> None:
        super().__init__(options)
        self.english = snowballstemmer.stemmer("english")

    def stem(self, word: str) -> str:
        word = word.lower()
        if _HANGUL.search(word):
            word = strip_korean(word)  # ReLU의 -> relu, then stemmed as English below
        if _HANGUL.search(word):
            return word
        return self.english.stemWord(word)

    def word_filter(self, word: str) -> bool:
        return bool(word) and not word.isdigit()


def _js_code() -> str:
    from sphinx.search import _MINIFIED_JS_PATH

    english = "\n".join((
        (_MINIFIED_JS_PATH / "base-stemmer.js").read_text(encoding="utf-8"),
        (_MINIFIED_JS_PATH / "english-stemmer.js").read_text(encoding="utf-8"),
    ))
    return JS_STEMMER % {"endings": json.dumps(ENDINGS, ensure_ascii=False), "english": english}


SearchKorean.js_stemmer_code = _js_code()


def setup(app):
    app.add_search_language(SearchKorean)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
