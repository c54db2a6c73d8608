import io
import warnings

import matplotlib
import matplotlib.pyplot as plt

from course_utils import fonts


def test_find_korean_font_returns_a_known_family():
    name = fonts.find_korean_font()
    assert name in fonts.CANDIDATES


def test_use_korean_font_renders_hangul_without_glyph_warnings():
    name = fonts.use_korean_font()
    assert name is not None
    assert matplotlib.rcParams["font.family"][0] == name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title("순전파와 역전파 −1")
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
    assert not [w for w in caught if "Glyph" in str(w.message)]


def test_use_korean_font_without_any_font_prints_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(fonts, "find_korean_font", lambda: None)
    assert fonts.use_korean_font() is None
    out = capsys.readouterr().out
    assert "fonts-nanum" in out and "koreanize-matplotlib" in out
