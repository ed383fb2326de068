"""Language identification for documents and passages: ``en``, ``ru`` or ``other``."""
from __future__ import annotations

import re
from functools import lru_cache

_CYR = re.compile(r"[А-Яа-яЁёІіЇїЄєҐґЎўЂђЈјЉљЊњЋћЏџ]")
_LAT = re.compile(r"[A-Za-z]")
# Letters Russian never uses: Ukrainian і ї є ґ, Belarusian ў, Serbian/Macedonian ђ ј љ њ ћ џ.
_NOT_RU = re.compile(r"[ІіЇїЄєҐґЎўЂђЈјЉљЊњЋћЏџ]")
_RU_ONLY = re.compile(r"[ЫыЭэЁё]")  # absent from Ukrainian; ы/э absent from Bulgarian too


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True)


def detect_language(text: str) -> str:
    """Return ``en``, ``ru`` or ``other`` for ``text``.

    Script decides first (Cyrillic is not always Russian: letters only Ukrainian, Belarusian
    or Serbian use mark it ``other``); py3langid decides among the languages that share a
    script, so Bulgarian and Ukrainian Cyrillic and Latin text that is not English are ``other``.
    """
    sample = text[:2000]
    n_cyr = len(_CYR.findall(sample))
    n_lat = len(_LAT.findall(sample))
    if n_cyr + n_lat < 3:
        return "other"
    if n_cyr >= n_lat:
        not_ru = len(_NOT_RU.findall(sample))
        if not_ru > max(1, n_cyr // 200):
            return "other"
        lang, prob = _identifier().classify(sample)
        if lang == "ru":
            return "ru"
        if _RU_ONLY.search(sample) and lang not in ("uk", "be"):
            # short Russian texts are sometimes called Bulgarian or Macedonian
            return "ru" if lang in ("bg", "mk", "sr", "kk", "ky", "mn") or prob < 0.9 else "other"
        return "other"
    lang, prob = _identifier().classify(sample)
    if lang == "en":
        return "en"
    # short English passages full of names and jargon are often misread
    if len(sample.split()) < 12 and prob < 0.9:
        return "en"
    return "other"
