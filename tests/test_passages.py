import pytest

from kmdiscourse.passages import split_document, split_paragraphs, split_sentences
from kmdiscourse.records import Document


@pytest.mark.parametrize(
    "text,expected",
    [
        ("См. рис. 2, т.е. схему. Далее текст.", ["См. рис. 2, т.е. схему.", "Далее текст."]),
        ("Dr. Smith agreed, e.g. on wikis. Then he left.", ["Dr. Smith agreed, e.g. on wikis.", "Then he left."]),
        ("Это важно и т.д. Следующая мысль.", ["Это важно и т.д.", "Следующая мысль."]),
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
    ],
)
def test_split_sentences_respects_abbreviations(text, expected):
    assert split_sentences(text) == expected


def _doc(text, doc_id="d1"):
    return Document(doc_id=doc_id, source="x.txt", text=text, lang="en")


def test_split_document_paragraphs_ids_and_fragments():
    text = "First paragraph has quite a few words in it.\n\nRead more\n\nSecond real paragraph with enough words."
    stats = {}
    ps = list(split_document(_doc(text), stats=stats))
    assert [p.passage_id for p in ps] == ["d1:0", "d1:1"]
    assert [p.position for p in ps] == [0, 1]
    assert ps[1].text.startswith("Second")
    assert stats["fragments_dropped"] == 1


@pytest.mark.parametrize("text", ["Too short.", "One paragraph record that is short"])
def test_split_document_single_paragraph_gives_one_passage(text):
    assert len(list(split_document(_doc(text)))) == 1


def test_split_long_paragraph_at_sentence_boundaries():
    sentence = "This sentence has exactly ten words in it for counting. "
    text = sentence * 60  # 600 words in one paragraph
    parts = list(split_paragraphs(text))
    assert len(parts) == 3
    assert all(len(p.split()) <= 250 for p in parts)
    assert all(p.endswith("counting.") for p in parts)
    assert " ".join(parts) == text.strip()


def test_split_runon_paragraph_is_bounded():
    text = "word " * 10_000
    parts = list(split_paragraphs(text))
    assert len(parts) == 40 and all(len(p.split()) == 250 for p in parts)
