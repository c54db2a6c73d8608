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
    assert matplotlib.rcParams["font.family"] == ["DejaVu Sans", name]
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


def test_log_axes_and_hangul_log_no_missing_glyph(caplog):
    fonts.use_korean_font()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.loglog([1e-3, 1.0, 10.0], [1e-5, 1e-2, 1.0])
        ax.set(title="학습률과 오차", xlabel="h", ylabel="오차")
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
    assert not [w for w in caught if "lyph" in str(w.message)]
    assert "does not have a glyph" not in caplog.text
