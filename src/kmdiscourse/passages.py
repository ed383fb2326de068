"""Split documents into passages: one per paragraph, long paragraphs cut at sentence ends."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .records import Document, Passage

MAX_WORDS = 250
MIN_WORDS = 5

_PARA_SPLIT = re.compile(r"\n[ \t\u00a0]*\n+")
_WS = re.compile(r"\s+")
# A sentence ends at . ! ? … followed by space and an upper-case letter, digit or quote,
# unless the word before the dot is a known abbreviation.
_SENT_END = re.compile(r"(?<=[.!?…])[\"»”)]?\s+(?=[\"«“(]?[A-ZА-ЯЁ0-9])")
#: Abbreviations that never end a sentence ("т.е.", "e.g.", "Dr."); "т.д.", "etc." often do,
#: so they are not listed and a capital after them starts a new sentence.
ABBREVIATIONS = frozenset(
    """
    т.е т.к т.н пр см ср рис табл г гг в вв стр с им ул д н.э тыс млн млрд руб коп проф акад
    e.g i.e vs mr mrs ms dr prof inc ltd co corp jr sr st no vol pp ed eds fig al cf approx dept
    jan feb mar apr jun jul aug sep sept oct nov dec
    """.split()
)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences with a rule-based splitter that knows en/ru abbreviations.

    >>> split_sentences("См. рис. 2, т.е. схему. Далее текст.")
    ['См. рис. 2, т.е. схему.', 'Далее текст.']
    """
    pieces: list[str] = []
    start = 0
    for m in _SENT_END.finditer(text):
        before = text[start : m.start()].rstrip("\"»”)")
        last = before.rsplit(None, 1)[-1] if before.split() else ""
        word = last.rstrip(".").lower()
        if last.endswith(".") and (word in ABBREVIATIONS or len(word) == 1 and word.isalpha()):
            continue  # "т.е.", "Dr.", an initial "A."
        pieces.append(text[start : m.start()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return [p for p in pieces if p]


def _chunk_sentences(sentences: list[str], max_words: int) -> Iterator[str]:
    chunk: list[str] = []
    count = 0
    for sent in sentences:
        words = sent.split()
        if len(words) > max_words:  # one run-on "sentence": cut by words, in linear time
            if chunk:
                yield " ".join(chunk)
                chunk, count = [], 0
            for i in range(0, len(words), max_words):
                yield " ".join(words[i : i + max_words])
            continue
        if count + len(words) > max_words and chunk:
            yield " ".join(chunk)
            chunk, count = [], 0
        chunk.append(sent)
        count += len(words)
    if chunk:
        yield " ".join(chunk)


def split_paragraphs(text: str, *, max_words: int = MAX_WORDS) -> Iterator[str]:
    """Yield whitespace-normalised passage texts of at most ``max_words`` words, in order."""
    for para in _PARA_SPLIT.split(text):
        words = para.split()  # the words of _WS.sub(" ", para).strip(): both split at str.isspace
        if not words:
            continue
        para = " ".join(words)
        if len(words) <= max_words:
            yield para
        else:
            yield from _chunk_sentences(split_sentences(para), max_words)


def split_document(
    doc: Document, *, max_words: int = MAX_WORDS, min_words: int = MIN_WORDS, stats: dict | None = None
) -> Iterator[Passage]:
    """Yield the passages of ``doc``; fragments under ``min_words`` words are dropped.

    A document whose text is a single paragraph gives exactly one passage (even a short one),
    so that a one-record-one-passage corpus keeps every record. Dropped fragments are counted
    in ``stats["fragments_dropped"]`` when ``stats`` is given.
    """
    paras = list(split_paragraphs(doc.text, max_words=max_words))
    keep_all = len(paras) == 1
    n = 0
    for para in paras:
        if not keep_all and len(para.split()) < min_words:
            if stats is not None:
                stats["fragments_dropped"] = stats.get("fragments_dropped", 0) + 1
            continue
        yield Passage(
            passage_id=f"{doc.doc_id}:{n}",
            doc_id=doc.doc_id,
            position=n,
            text=para,
            lang=doc.lang,
            date=doc.date,
            genre=doc.genre,
            source_type=doc.source_type,
            source=doc.source,
            title=doc.title,
            url=doc.url,
        )
        n += 1


def split_documents(docs: Iterable[Document], **kwargs) -> Iterator[Passage]:
    for doc in docs:
        yield from split_document(doc, **kwargs)
