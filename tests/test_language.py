import pytest

from kmdiscourse.language import detect_language


@pytest.mark.parametrize(
    "text,lang",
    [
        ("Сообщества практиков помогают компаниям делиться знаниями.", "ru"),
        ("Как внедрить базу знаний", "ru"),
        ("Communities of practice help firms share what they know.", "en"),
        ("Спільноти практиків допомагають компаніям ділитися знаннями.", "other"),  # Ukrainian
        ("Общностите на практиката помагат на компаниите да споделят знания и опит.", "other"),  # Bulgarian
        ("Les communautés de pratique aident les entreprises à partager leurs connaissances.", "other"),
        ("12345 !!!", "other"),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang
