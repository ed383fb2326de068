"""Concepts: the shipped lexicon, the matcher on hand-counted en/ru sentences, trends, label
shares, KWIC and keyness."""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from kmdiscourse.concepts import (
    ConceptMatcher,
    concept_label_shares,
    concept_trends,
    find_concepts,
    keyness,
    keyness_table,
    kwic,
    load_lexicon,
    parse_lexicon,
)
from kmdiscourse.errors import KmdError, RecordError

REQUIRED = ["community_of_practice", "knowledge_management", "knowledge_sharing", "knowledge_transfer",
            "tacit_knowledge", "explicit_knowledge", "organisational_learning", "lessons_learned",
            "best_practices", "knowledge_base", "legitimate_peripheral_participation", "boundary_spanning",
            "knowledge_broker", "social_learning", "expertise_location", "after_action_review", "storytelling"]

# Each sentence with the concepts in it, counted by hand (concept -> mentions).
EN_CASES = [
    ("Our communities of practice share knowledge every week.",
     {"community_of_practice": 1, "knowledge_sharing": 1}),
    ("Knowledge sharing in a CoP differs from sharing knowledge by e-mail.",
     {"knowledge_sharing": 2, "community_of_practice": 1}),
    ("The cops arrived at noon.", {}),
    ("Tacit knowledge is hard to codify; explicit knowledge is not.",
     {"tacit_knowledge": 1, "explicit_knowledge": 1}),
    ("Knowledge-\nsharing across CoPs was the goal of the KM team.",
     {"knowledge_sharing": 1, "community_of_practice": 1, "knowledge_management": 1}),
    ("Lessons learned from the project went into the knowledge base.",
     {"lessons_learned": 1, "knowledge_base": 1}),
    ("Good know-\nledge management matters.", {"knowledge_management": 1}),
    ("We shared our knowledge. Knowledge is power.", {"knowledge_sharing": 1}),
    ("They valued the knowledge. Sharing came later.", {}),
    ("COMMUNITY  OF\nPRACTICE members", {"community_of_practice": 1}),
    ("We know how to do it; their know-how is tacit knowledge.", {"tacit_knowledge": 2}),
]
RU_CASES = [
    ("Сообщества практики помогают обмениваться знаниями.",
     {"community_of_practice": 1, "knowledge_sharing": 1}),
    ("Мы делимся своими знаниями и помогаем новичкам.", {"knowledge_sharing": 1}),
    ("Неявных знаний больше, чем явных знаний.", {"tacit_knowledge": 1, "explicit_knowledge": 1}),
    ("Передача неявного знания требует наставничества.",
     {"knowledge_transfer": 1, "tacit_knowledge": 1, "mentoring": 1}),
    ("База знаний и обмен опытом в сообществе практиков.",
     {"knowledge_base": 1, "knowledge_sharing": 1, "community_of_practice": 1}),
    ("Знаниями они делятся неохотно.", {"knowledge_sharing": 1}),
    ("Извлеченные уроки записали, а извлечённые уроки прошлого года потеряли.", {"lessons_learned": 2}),
    ("Управление знаниями в компании (KM) только начинается.", {"knowledge_management": 2}),
    ("Неявные знания сотрудников.", {"tacit_knowledge": 1}),
]


@pytest.fixture(scope="module")
def matcher():
    return ConceptMatcher(load_lexicon())


def test_lexicon_has_required_ids_and_both_languages():
    lex = load_lexicon()
    assert set(REQUIRED) <= set(lex.ids)
    for c in lex:
        assert c.forms.get("en") and c.forms.get("ru"), c.id


@pytest.mark.parametrize("text,expected", EN_CASES)
def test_matcher_en_hand_counted(matcher, text, expected):
    got = Counter(m.concept for m in matcher.find(text, "en"))
    assert dict(got) == expected


@pytest.mark.parametrize("text,expected", RU_CASES)
def test_matcher_ru_hand_counted(matcher, text, expected):
    got = Counter(m.concept for m in matcher.find(text, "ru"))
    assert dict(got) == expected


@pytest.mark.parametrize("text", ["Неявных знаний много.", "неявные знания", "НЕЯВНОЕ ЗНАНИЕ"])
def test_matcher_explicit_not_inside_tacit(matcher, text):
    concepts = [m.concept for m in matcher.find(text, "ru")]
    assert "explicit_knowledge" not in concepts
    assert concepts == ["tacit_knowledge"]


def test_matcher_matched_text_is_the_surface(matcher):
    text = "Говорили о сообществах\nпрактики и о базе знаний."
    got = {m.concept: m.text for m in matcher.find(text, "ru")}
    assert got == {"community_of_practice": "сообществах практики", "knowledge_base": "базе знаний"}


@pytest.mark.parametrize("bad,msg", [
    ("concepts: [{id: Bad Id, en: [x]}]", "snake_case"),
    ("concepts: [{id: a, en: [x]}, {id: a, ru: [y]}]", "twice"),
    ("concepts: [{id: a}]", "no forms"),
    ("concepts: [{id: a, en: [x], colour: red}]", "unknown keys"),
    ("concepts: {id: a", "YAML"),
])
def test_parse_lexicon_errors(bad, msg):
    with pytest.raises(RecordError, match=msg):
        parse_lexicon(bad, "my.yaml")


def test_user_lexicon_extends_shipped(tmp_path):
    p = tmp_path / "extra.yaml"
    p.write_text("concepts:\n  - id: yammer\n    en: [enterprise social network]\n    ru: [корпоративная соцсеть]\n"
                 "  - id: knowledge_sharing\n    en: [pass on know-how]\n", encoding="utf-8")
    lex = load_lexicon(p)
    assert "yammer" in lex.ids and "community_of_practice" in lex.ids
    m = ConceptMatcher(lex)
    assert [x.concept for x in m.find("They pass on know-how.", "en")].count("knowledge_sharing") == 1
    csv = tmp_path / "extra.csv"
    csv.write_text("id,lang,form\nwiki_use,en,team wiki\nwiki_use,ru,вики команды\n", encoding="utf-8")
    assert [x.concept for x in ConceptMatcher(load_lexicon(csv)).find("Our team wikis grow.", "en")] == ["wiki_use"]


def _passages():
    rows = []
    texts = [
        ("d1", "en", dt.date(2010, 3, 1), "business", "Communities of practice share knowledge. A CoP needs a leader."),
        ("d1", "en", dt.date(2010, 3, 1), "business", "Nothing to see here at all."),
        ("d2", "en", dt.date(2011, 6, 1), "academic", "A community of practice is a social learning system."),
        ("d3", "ru", dt.date(2010, 1, 1), "academic", "Сообщество практики помогает делиться знаниями."),
        ("d4", "ru", None, "business", "Сообщество практиков без даты."),
    ]
    for i, (doc, lang, date, genre, text) in enumerate(texts):
        rows.append({"doc_id": doc, "passage_id": f"{doc}:{i}", "position": i, "text": text, "lang": lang,
                     "date": date, "genre": genre})
    return pd.DataFrame(rows)


def test_find_concepts_and_trends_hand_counted():
    p = _passages()
    lex = load_lexicon()
    mentions, tokens = find_concepts(p, lex)
    assert list(tokens) == [10, 6, 9, 5, 4]
    cop = mentions[mentions["concept"] == "community_of_practice"]
    assert cop["passage_id"].tolist() == ["d1:0", "d1:0", "d2:2", "d3:3", "d4:4"]
    tr = concept_trends(p, mentions, tokens, lex)
    assert list(tr.columns) == ["concept", "period", "genre", "lang", "mentions", "docs", "tokens", "per_10k_tokens"]
    row = tr[(tr["concept"] == "community_of_practice") & (tr["period"] == "2010") & (tr["lang"] == "en")
             & (tr["genre"] == "business")].iloc[0]
    assert (row["mentions"], row["docs"], row["tokens"]) == (2, 1, 16)
    assert row["per_10k_tokens"] == pytest.approx(2 / 16 * 1e4)
    allrow = tr[(tr["concept"] == "community_of_practice") & (tr["period"] == "2010") & (tr["genre"] == "all")]
    assert sorted(zip(allrow["lang"], allrow["mentions"], allrow["tokens"])) == [("en", 2, 16), ("ru", 1, 5)]
    # zero rows exist for every concept in a cell with text; the undated passage is left out
    assert (tr["concept"] == "tacit_knowledge").sum() == len(tr) / len(lex)
    assert "None" not in set(tr["period"].astype(str))


def test_concept_label_shares_hand_counted():
    p = _passages()
    mentions, _ = find_concepts(p, load_lexicon())
    labels = pd.Series(["why", "other", "how", "how", None])
    out = concept_label_shares(p, mentions, labels).set_index(["concept", "period", "lang"])
    r = out.loc[("community_of_practice", "2010", "en")]
    assert (r["passages"], r["labelled"], r["why"], r["how"]) == (1, 1, 1.0, 0.0)
    r = out.loc[("community_of_practice", "undated", "ru")]
    assert r["labelled"] == 0 and math.isnan(r["why"])
    no = concept_label_shares(p, mentions, None)
    assert no["labelled"].eq(0).all()


def test_kwic_on_lemmas():
    p = _passages()
    out = kwic(p, "community of practice", width=12)
    assert out["passage_id"].tolist() == ["d1:0", "d2:2"]
    assert out["match"].tolist() == ["Communities of practice", "community of practice"]
    assert out.iloc[1]["left"] == "A"
    ru = kwic(p, concept="community_of_practice", lang="ru")
    assert ru["match"].tolist() == ["Сообщество практики", "Сообщество практиков"]
    with pytest.raises(KmdError, match="not in the lexicon"):
        kwic(p, concept="no_such")


def test_keyness_table_hand_computed():
    a = Counter({"wiki": 10, "the": 10})
    b = Counter({"the": 10, "mentor": 10})
    t = keyness_table(a, b, min_count=1).set_index("term")
    assert t.loc["wiki", "g2"] == pytest.approx(20 * math.log(2))
    assert t.loc["wiki", "log_ratio"] == pytest.approx(math.log2(20))
    assert t.loc["the", "g2"] == pytest.approx(0.0)
    assert t.loc["mentor", "key_in"] == "b" and t.loc["wiki", "key_in"] == "a"
    assert t.loc["mentor", "log_ratio"] == pytest.approx(-math.log2(20))


def test_keyness_by_genre_defaults_to_academic():
    p = _passages()
    lem = [["wiki"] * 6 + ["x"], ["x"], ["theory"] * 6, ["x"], ["x"]]
    t, a, b = keyness(p, lem, by="genre", min_count=1)
    assert (a, b) == ("academic", "not academic")
    assert t.iloc[0]["term"] in ("theory", "wiki")
    with pytest.raises(KmdError, match="no passages"):
        keyness(p, lem, by="genre", a="poetry")


# --- the command line --------------------------------------------------------------------------

def _corpus(tmp_path):
    import json

    root = tmp_path / "c"
    root.mkdir()
    rows = [
        {"id": "a", "text": "Communities of practice share knowledge. A CoP needs a coordinator.",
         "date": "2010-03-01", "genre": "business"},
        {"id": "b", "text": "A community of practice is a social learning system in theory.",
         "date": "2012-06-01", "genre": "academic"},
        {"id": "c", "text": "Сообщество практики помогает делиться знаниями между филиалами.",
         "date": "2012-01-01", "genre": "academic"},
    ]
    (root / "p.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    labels = tmp_path / "labels.csv"
    return root, labels


def test_cli_concepts_kwic_keyness(tmp_path):
    from click.testing import CliRunner

    from kmdiscourse.cli import cli

    root, _ = _corpus(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["concepts", str(root), "-o", str(out)])
    assert res.exit_code == 0, res.output
    m = pd.read_csv(out / "concept_mentions.csv")
    assert list(m.columns[:5]) == ["doc_id", "passage_id", "concept", "lang", "matched_text"]
    assert (m["concept"] == "community_of_practice").sum() == 4
    assert (out / "concept_trends.csv").exists() and (out / "concept_labels.csv").exists()
    # labels from a classified file
    lab = tmp_path / "labels.csv"
    pids = sorted(set(m["passage_id"]))
    pd.DataFrame({"passage_id": pids, "label": ["why"] * len(pids)}).to_csv(lab, index=False)
    res = CliRunner().invoke(cli, ["concepts", str(root), "-o", str(out), "--labels", str(lab)])
    assert res.exit_code == 0, res.output
    shares = pd.read_csv(out / "concept_labels.csv")
    assert shares["why"].eq(1.0).all()
    res = CliRunner().invoke(cli, ["kwic", str(root), "community of practice", "--width", "20"])
    assert res.exit_code == 0, res.output
    assert res.stdout.count("[") == 2 and "[Communities of practice]" in res.stdout
    res = CliRunner().invoke(cli, ["kwic", str(root), "--concept", "knowledge_sharing", "--lang", "ru"])
    assert "[делиться знаниями]" in res.stdout
    res = CliRunner().invoke(cli, ["kwic", str(root)])
    assert res.exit_code == 2
    res = CliRunner().invoke(cli, ["keyness", str(root), "--by", "genre", "--min-count", "1"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(__import__("io").StringIO(res.stdout))
    assert list(table.columns) == ["term", "count_a", "count_b", "per_10k_a", "per_10k_b", "g2", "p_value",
                                   "log_ratio", "key_in"]


# --- the form-by-form scan (speed) gives what the token-by-token scan gives ----------------------------

TRICKY = [
    ("en", "Knowledge-sharing at ACME's R&D: the CoP's wiki (https://intra.example.org/km-wiki) and www.kb-x.com."),
    ("en", "See WWW.EXAMPLE.ORG/path and www.lower.org; know-how, lessons-learned and after-action reviews."),
    ("en", "Sharing of tacit knowledge, knowledge that we share, knowledge; sharing. KM and KMS in 2010-x."),
    ("en", "A community of practice: communities-of-practice and the CoPs' e-mail list at km@example.org."),
    ("en", "Knowledge base, knowledge-base, knowledge  bases and best practices; best known practices."),
    ("ru", "Обмен знаниями и обмен опытом в сообществах практиков; ещё неявные знания и явное знание."),
    ("ru", "База знаний (https://wiki.пример.рф/база-знаний) и управление знаниями — КМ, CoP, knowledge sharing."),
    ("ru", "Извлечённые уроки, лучшие практики, наставник-ментор и сторителлинг. Знаниями делятся."),
    ("ru", "Передача знаний: знания, которые передают; передача. Ретроспектива проекта и база-знаний."),
    ("en", "knowledge management knowledge management know-how-know knowledge-sharing-session ёж"),
]


@pytest.mark.parametrize("lang,text", TRICKY)
def test_form_scan_equals_token_scan(matcher, lang, text):
    from kmdiscourse.concepts import match_tokens

    words, fast = matcher.scan(text, lang)
    tokens = match_tokens(text, lang)
    slow_words, slow = matcher._scan_tokens(text, lang, tokens)
    assert matcher._default_route(lang)  # the form-by-form route ran
    assert words == slow_words == len({t.start for t in tokens})
    assert [(m.concept, m.start, m.end, m.text) for m in fast] == [(m.concept, m.start, m.end, m.text) for m in slow]


def test_form_scan_equals_token_scan_on_sample_corpus():
    from conftest import SAMPLE

    from kmdiscourse.concepts import match_tokens
    from kmdiscourse.ingest import open_corpus

    passages = open_corpus(SAMPLE).passages
    m = ConceptMatcher(load_lexicon())
    n = 0
    for text, lang in zip(passages["text"], passages["lang"]):
        if lang not in ("en", "ru") or not text or "\n" in text:
            continue
        words, fast = m.scan(text, lang)
        slow_words, slow = m._scan_tokens(text, lang, match_tokens(text, lang))
        assert (words, [(x.concept, x.start, x.end) for x in fast]) == \
            (slow_words, [(x.concept, x.start, x.end) for x in slow]), text
        n += len(fast)
    assert n > 50  # the sample mentions concepts


def test_find_concepts_same_for_any_jobs_and_chunks():
    p = pd.DataFrame({"doc_id": [f"d{i}" for i in range(len(TRICKY) * 3)],
                      "passage_id": [f"d{i}:0" for i in range(len(TRICKY) * 3)],
                      "lang": [lg for lg, _ in TRICKY] * 3, "text": [t for _, t in TRICKY] * 3})
    one, t1 = find_concepts(p, chunk=4)
    two, t2 = find_concepts(p, jobs=2, chunk=4)
    assert one.equals(two) and list(t1) == list(t2)
    assert len(one) > 20


def test_concept_label_shares_equal_a_plain_count():
    rng = np.random.default_rng(3)
    n = 300
    passages = pd.DataFrame({"date": [None if k % 17 == 0 else dt.date(2000 + k % 4, 1 + k % 12, 1) for k in range(n)]})
    mentions = pd.DataFrame({"row": rng.integers(0, n, 900), "concept": rng.choice(["a", "b", "c"], 900),
                             "lang": rng.choice(["en", "ru"], 900)})
    labels = pd.Series(rng.choice(["why", "how", "other", "junk", None], n))
    got = concept_label_shares(passages, mentions, labels, by="quarter")
    seen: dict = {}
    for r, c, lg in mentions.drop_duplicates(["row", "concept"]).itertuples(index=False):
        d = passages["date"][r]
        per = f"{d.year}-Q{(d.month - 1) // 3 + 1}" if d else "undated"
        seen.setdefault((c, per, lg), []).append(labels[r])
    assert list(zip(got["concept"], got["period"], got["lang"])) == sorted(seen)
    for row in got.itertuples(index=False):
        lab = [x for x in seen[(row.concept, row.period, row.lang)] if x in ("why", "how", "other")]
        assert (row.passages, row.labelled) == (len(seen[(row.concept, row.period, row.lang)]), len(lab))
        for x in ("why", "how", "other"):
            want = lab.count(x) / len(lab) if lab else float("nan")
            assert getattr(row, x) == want or (math.isnan(want) and math.isnan(getattr(row, x)))


@pytest.mark.parametrize("by", ["year", "quarter", "month"])
def test_periods_as_topics_period_of(by):
    from kmdiscourse.concepts import _periods
    from kmdiscourse.topics import period_of

    dates = [dt.date(2019, m, 28) for m in range(1, 13)] + [None, dt.date(7, 1, 1), "2020-05-02",
                                                              pd.Timestamp("2021-11-30"), float("nan")]
    p = pd.DataFrame({"date": dates})
    assert _periods(p, by).equals(p["date"].map(lambda d: period_of(d, by)))
