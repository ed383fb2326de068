import json

import pandas as pd
import pytest

from kmdiscourse.errors import KmdError
from kmdiscourse.phrases import apply_phrases, learn_phrases
from kmdiscourse.preprocess import (
    LANG_SETTINGS,
    LEMMAS,
    lemma_sequence,
    lemmatize,
    parse_model_options,
    preprocess_passages,
    tokenize,
    tokenize_lemmas,
)


# --- hand-checked lemmas ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "text,expected",
    [
        # plural nouns, capitalised and upper-case words
        ("Communities", ["community"]),
        ("COMMUNITIES of practice", ["community", "practice"]),
        ("companies' strategies", ["company", "strategy"]),
        # possessive forms and clitics
        ("the organisation's wikis", ["organisation", "wiki"]),
        ("Engineers’ notes didn't help", ["engineer", "note", "help"]),
        # mixed-case acronym plurals, acronyms that spell stop words
        ("CoPs and KPIs", ["cop", "kpi"]),
        ("IT staff in the US", ["it", "staff", "us"]),
        # verbs and comparatives
        ("she taught and they were teaching", ["teach", "teach"]),
        ("best practices and better data", ["best", "practice", "better", "data"]),
        # hyphenated compounds stay whole; only a plural last part is reduced
        ("knowledge-sharing and best-practices for decision-makers", ["knowledge-sharing", "best-practice", "decision-maker"]),
        # abbreviations, numbers, URLs, e-mails and punctuation go
        ("e.g. 25 experts, i.e. 10% in the 1990s (see https://km.example.org/a?b=1 or km@example.com)!",
         ["expert"]),
        # a Cyrillic look-alike letter inside an English word
        ("knowlеdge", ["knowledge"]),
    ],
)
def test_tokenize_lemmas_english(text, expected):
    assert tokenize_lemmas(text, "en") == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        # inflected nouns: instrumental, genitive plural, prepositional plural
        ("Сообществами практиков", ["сообщество", "практик"]),
        ("в организациях и сообществах", ["организация", "сообщество"]),
        ("управление знаниями", ["управление", "знание"]),
        # adjectives to the masculine nominative
        ("российских компаний", ["российский", "компания"]),
        ("лучших практик", ["хороший", "практика"]),
        # verbs to the infinitive
        ("сотрудники делились опытом и научились", ["сотрудник", "делиться", "опыт", "научиться"]),
        # ё folded
        ("объединённых общим делом", ["объединить", "общий", "дело"]),
        # hyphenated compounds, indefinite pronouns
        ("бизнес-процессами и научно-технического", ["бизнес-процесс", "научно-технический"]),
        ("какой-то сотрудник из-за ошибки", ["сотрудник", "ошибка"]),
        # abbreviations, numbers and years
        ("т.е. в 2010-х гг. 15 экспертов", ["эксперт"]),
        # "данные" is data here, not the stop word "данный"
        ("потеряли данные", ["потерять", "данные"]),
        # mixed-script tokens: Latin look-alike inside a Russian word; Latin terms in Russian text
        ("знaния", ["знание"]),
        ("на wiki-портале, CoPs и 1С", ["wiki-портал", "cop", "1с"]),
    ],
)
def test_tokenize_lemmas_russian(text, expected):
    assert tokenize_lemmas(text, "ru") == expected


def test_tokenize_keeps_compounds_and_drops_urls():
    assert tokenize("Knowledge-sharing at ACME's R&D, e.g. wikis: https://x.org/a.") == [
        "Knowledge-sharing", "at", "ACME's", "R&D", "e.g", "wikis"]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_lemmatize_streams_lazily(lang):
    def texts():
        yield "Knowledge" if lang == "en" else "Знания"
        raise AssertionError("read past the first text")

    assert next(lemmatize(texts(), lang)) in (["knowledge"], ["знание"])


def test_lemmatize_keep_stopwords():
    assert next(lemmatize(["The wikis of 2010 didn't help."], "en", keep_stopwords=True)) == [
        "the", "wiki", "of", "do", "not", "help"]


def test_lemmatize_unknown_language_is_an_error():
    with pytest.raises(KmdError, match="'de'"):
        list(lemmatize(["Wissen"], "de"))


def test_lemma_sequence_offsets_point_into_text():
    text = "Communities of practice, e.g. the wikis (https://km.org)."
    seq = lemma_sequence(text, "en")
    assert [s[0] for s in seq] == ["community", "of", "practice", "e.g", "the", "wiki", "https://km.org"]
    assert [text[s:e] for _, s, e in seq] == ["Communities", "of", "practice", "e.g", "the", "wikis", "https://km.org"]


def test_lemma_sequence_russian_keeps_stopwords():
    text = "Обмен знаниями в сообществах."
    seq = lemma_sequence(text, "ru")
    assert [s[0] for s in seq] == ["обмен", "знание", "в", "сообщество"]
    assert text[seq[1][1]:seq[1][2]] == "знаниями"


def test_wrong_language_setting_ruins_model_lemmas(tmp_path):
    """With a spaCy pipeline the passage's language picks the lemmatizer: an English pipeline
    leaves Russian inflections unresolved. The default route analyses each word by its script,
    so it gives the right lemmas even for a mislabelled passage."""
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    text = "Сообществами практиков управляют опытные координаторы."
    right = ["сообщество", "практик", "управлять", "опытный", "координатор"]
    assert tokenize_lemmas(text, "ru") == right
    wrong = next(lemmatize([text], "en", model=nlp))
    assert wrong != right and "сообществами" in wrong
    assert next(lemmatize([text], "en")) == right


# --- the spaCy route ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_en(tmp_path_factory):
    """A tiny English pipeline (blank + lookup lemmatizer) saved to disk, loaded by path."""
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    path = tmp_path_factory.mktemp("models") / "tiny_en"
    nlp.to_disk(path)
    return str(path)


def test_spacy_model_by_path_same_format(tiny_en):
    text = "Teams share knowledge-sharing tips, e.g. on the wikis in 2010 (https://x.org)."
    out = next(lemmatize([text], "en", model=tiny_en))
    # spaCy's lookup lemmatizer misses capitalised and unlisted forms ("Teams", "wikis")
    assert out == ["teams", "share", "knowledge-sharing", "tip", "wikis"]
    assert all(isinstance(t, str) and t == t.lower() for t in out)
    seq = lemma_sequence(text, "en", model=tiny_en)
    assert [text[s:e] for _, s, e in seq][:3] == ["Teams", "share", "knowledge-sharing"]


def test_default_route_matches_spacy_lookup(tiny_en):
    """On lower-case text (spaCy's lookup misses capitalised words), where spaCy's blank +
    lookup pipeline tokenizes the same way, the lemmas agree; on capitalised words ours are right."""
    from kmdiscourse.preprocess import load_pipeline

    nlp = load_pipeline(tiny_en)
    text = ("Firms that let engineers learn from each other avoid repeating mistakes. Managers ran "
            "monthly meetings, wrote reports and asked colleagues for advice about processes and tools.")
    ours = tokenize_lemmas(text.lower(), "en")
    theirs = [t.lemma_.lower() for t in nlp(text.lower()) if t.is_alpha and not t.is_stop]
    assert ours == theirs
    assert tokenize_lemmas(text, "en")[:1] == ["firm"] and nlp(text)[0].lemma_ == "Firms"


def test_preprocess_passages_with_model_mapping(tiny_en):
    df = pd.DataFrame({"passage_id": ["a", "b"], "text": ["Teams share tips.", "Команды делятся советами."],
                       "lang": ["en", "ru"]})
    out = preprocess_passages(df, model={"en": tiny_en}, phrase_threshold=None)
    assert out.tolist() == [["teams", "share", "tip"], ["команда", "делиться", "совет"]]  # spaCy's "Teams"


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(KmdError, match="no_such_model"):
        list(lemmatize(["x"], "en", model=str(tmp_path / "no_such_model")))


@pytest.mark.parametrize("values,expected", [(["en=en_core_web_sm"], {"en": "en_core_web_sm"}),
                                             (["ru = /m/ru", "en=x"], {"ru": "/m/ru", "en": "x"})])
def test_parse_model_options(values, expected):
    assert parse_model_options(values) == expected


@pytest.mark.parametrize("value", ["en", "de=x", "en="])
def test_parse_model_options_rejects(value):
    with pytest.raises(KmdError):
        parse_model_options([value])


# --- settings table -------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "ru"])
def test_lang_settings_table(lang):
    s = LANG_SETTINGS[lang]
    assert s.spacy_lang == lang and s.lemmatizer_mode in ("lookup", "pymorphy3")
    assert all("ё" not in w and w == w.lower() for w in s.stops)
    assert s.keep_words.isdisjoint(s.stops)


# --- phrases ----------------------------------------------------------------------------------------

def _km_passages(n=40):
    en = ["Our community of practice met again.", "A community of practice needs a coordinator.",
          "Knowledge management starts with people.", "The wiki helped the team."]
    ru = ["Управление знаниями начинается с людей.", "Мы обсуждали управление знаниями в компании.",
          "Сообщество практиков собралось снова.", "Вики помогла команде."]
    rows = []
    for i in range(n):
        rows.append({"passage_id": f"e:{i}", "text": en[i % 4], "lang": "en"})
        rows.append({"passage_id": f"r:{i}", "text": ru[i % 4], "lang": "ru"})
    rows.append({"passage_id": "x:0", "text": "Wissensmanagement ist wichtig.", "lang": "other"})
    return pd.DataFrame(rows)


def test_learn_phrases_joins_terms_with_connectors():
    lists = [["community", "of", "practice", "meet"], ["knowledge", "management", "people"],
             ["community", "of", "practice", "coordinator"], ["wiki", "of", "team"]] * 5
    ph = learn_phrases(lists, 0.3, min_count=3, connector_words={"of"})
    out = list(apply_phrases(lists[:2], ph, drop={"of"}))
    assert out == [["community_of_practice", "meet"], ["knowledge_management", "people"]]


def test_preprocess_passages_phrases_both_languages():
    df = _km_passages()
    out = preprocess_passages(df, phrase_threshold=0.3)
    assert out.index.equals(df.index)
    assert out.iloc[0] == ["community_of_practice", "meet"]
    assert out.iloc[1][:1] == ["управление_знание"]
    assert out.iloc[5][:1] == ["сообщество_практик"]
    assert out.iloc[-1] == []  # language without a pipeline
    assert all("of" not in lem for lem in out)


def test_preprocess_passages_no_phrases():
    out = preprocess_passages(_km_passages(4), phrase_threshold=None)
    assert out.iloc[0] == ["community", "practice", "meet"]


# --- the store cache and --jobs ------------------------------------------------------------------

def test_preprocess_passages_cache_in_store(tmp_path):
    df = _km_passages()
    stats = {}
    first = preprocess_passages(df, store=tmp_path, phrase_threshold=0.3, stats=stats)
    assert stats["computed"] == len(df) - 1 and (tmp_path / LEMMAS).is_file()
    stored = pd.read_parquet(tmp_path / LEMMAS)
    assert {"passage_id", "lemmas"} <= set(stored.columns) and len(stored) == len(df)
    stats = {}
    mtime = (tmp_path / LEMMAS).stat().st_mtime_ns
    again = preprocess_passages(df, store=tmp_path, phrase_threshold=0.3, stats=stats)
    assert stats["computed"] == 0 and again.tolist() == first.tolist()
    # a passage in another language (x:0) must not force the terms to be learnt and written again
    assert stats["phrases"] == 0 and (tmp_path / LEMMAS).stat().st_mtime_ns == mtime
    # one changed text: only that passage is lemmatised again
    df2 = df.copy()
    df2.loc[0, "text"] = "Our wiki of practice grew."
    stats = {}
    changed = preprocess_passages(df2, store=tmp_path, phrase_threshold=0.3, stats=stats)
    assert stats["computed"] == 1 and "wiki" in changed.iloc[0]
    # other settings (no phrases) reuse the lemmas but not the phrase-joined output
    stats = {}
    plain = preprocess_passages(df2, store=tmp_path, phrase_threshold=None, stats=stats)
    assert stats["computed"] == 0 and plain.iloc[2] == ["community", "practice", "need", "coordinator"]


def test_preprocess_passages_jobs_same_output():
    df = pd.concat([_km_passages(30)] * 60, ignore_index=True)
    df["passage_id"] = [f"p{i}" for i in range(len(df))]
    one = preprocess_passages(df, jobs=1)
    two = preprocess_passages(df, jobs=2)
    assert one.tolist() == two.tolist()


def test_preprocess_passages_store_same_for_any_jobs(tmp_path):
    """lemmas.parquet (built from the workers' Arrow parts) is the same table for jobs 1 and 2,
    and ``return_lemmas=False`` writes the same store and the same stats."""
    import pyarrow.parquet as pq

    df = pd.concat([_km_passages(30)] * 20, ignore_index=True)
    df["passage_id"] = [f"p{i}" for i in range(len(df))]
    tables, stats = [], []
    for jobs, ret in ((1, True), (2, True), (2, False)):
        store, st = tmp_path / f"s{jobs}{ret}", {}
        store.mkdir()
        out = preprocess_passages(df, store=store, jobs=jobs, chunk=40, phrase_threshold=0.3, stats=st,
                                  return_lemmas=ret)
        tables.append(pq.read_table(store / LEMMAS))
        stats.append(st)
        if ret:
            assert out.tolist() == tables[-1].column("lemmas").to_pylist()
        else:
            assert out is None
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])
    assert tables[0].column("passage_id").to_pylist() == df["passage_id"].tolist()
    assert stats[0] == stats[1] == stats[2] and stats[0]["lemmas"] > 0


def test_lemma_cache_row_groups_do_not_depend_on_parts(tmp_path, monkeypatch):
    """lemmas.parquet is written row group by row group as the parts arrive: fixed-size groups,
    so the file is byte for byte the same however the passages were cut (any --jobs), and the
    same table as a store with cached rows gets (written in one piece)."""
    import pyarrow.parquet as pq

    import kmdiscourse.preprocess as pp

    monkeypatch.setattr(pp, "CACHE_ROW_GROUP", 64)
    df = pd.concat([_km_passages(30)] * 10, ignore_index=True)
    df["passage_id"] = [f"p{i}" for i in range(len(df))]
    files = []
    for jobs, chunk in ((1, 37), (2, 50), (2, 300)):
        store = tmp_path / f"s{jobs}-{chunk}"
        store.mkdir()
        preprocess_passages(df, store=store, jobs=jobs, chunk=chunk, phrase_threshold=0.3)
        files.append((store / LEMMAS).read_bytes())
    assert files[0] == files[1] == files[2]
    meta = pq.ParquetFile(tmp_path / "s1-37" / LEMMAS).metadata
    assert meta.num_row_groups == -(-len(df) // 64)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)][:-1] == [64] * (meta.num_row_groups - 1)
    # a second run with one passage changed writes cached rows and new ones in one piece: same table
    store = tmp_path / "s1-37"
    first = pq.read_table(store / LEMMAS)
    df2 = df.copy()
    df2.loc[5, "text"] = df2.loc[5, "text"] + " Wikis help."
    preprocess_passages(df2, store=store, chunk=37, phrase_threshold=0.3)
    second = pq.read_table(store / LEMMAS)
    assert second.schema == first.schema and second.num_rows == first.num_rows
    assert second.column("passage_id").to_pylist() == first.column("passage_id").to_pylist()
    assert second.column("key")[5] != first.column("key")[5] and second.column("key")[6] == first.column("key")[6]


def test_workers_run_with_the_parents_objects_frozen():
    """Both maps run with the objects that exist before them frozen for the garbage collector
    (forked workers do not scan the parent's lists again), and nothing stays frozen after a run,
    a failed one included."""
    import gc

    from kmdiscourse.engine import LocalEngine

    class Recording(LocalEngine):
        frozen: list[int] = []

        def map(self, func, partitions, **kwargs):
            Recording.frozen.append(gc.get_freeze_count())
            yield from super().map(func, partitions, **kwargs)

    df = _km_passages(30)
    assert gc.get_freeze_count() == 0
    out = preprocess_passages(df, phrase_threshold=0.3, engine=Recording(1))
    assert len(Recording.frozen) == 2 and all(n > 0 for n in Recording.frozen)
    assert gc.get_freeze_count() == 0
    assert out.tolist() == preprocess_passages(df, phrase_threshold=0.3).tolist()

    class Failing(LocalEngine):
        def map(self, func, partitions, **kwargs):
            raise RuntimeError("worker lost")
            yield

    with pytest.raises(RuntimeError, match="worker lost"):
        preprocess_passages(df, engine=Failing(1))
    assert gc.get_freeze_count() == 0


def test_write_cache_keeps_old_rows_in_dict_order(tmp_path):
    """New rows overwrite cached ones in place, other cached rows are kept, a repeated id keeps its
    first place and its last value: the order of ``{**cached, **new}``."""
    import pyarrow as pa

    from kmdiscourse.preprocess import _read_cached, _write_cache

    cached = {"a": ("ka", ["x"], ["x"], "old"), "b": ("kb", ["y", "z"], ["y_z"], "old"),
              "c": ("kc", [], [], "old")}
    words = pa.list_(pa.string())
    batch = pa.record_batch([pa.array([["n1"], ["n2", "n3"], ["n4"]], words),
                             pa.array([["b1"], ["b2"], ["b4"]], words)], names=["lemmas", "base"])
    _write_cache(tmp_path, ["c", "d", "c"], ["k1", "k2", "k3"], "new", [batch], cached)
    rows = _read_cached(tmp_path)
    assert list(rows) == ["a", "b", "c", "d"]
    assert rows["a"] == ("ka", ["x"], ["x"], "old") and rows["b"] == ("kb", ["y", "z"], ["y_z"], "old")
    assert rows["c"] == ("k3", ["b4"], ["n4"], "new") and rows["d"] == ("k2", ["b2"], ["n2", "n3"], "new")


@pytest.mark.parametrize("text", [
    "Knowledge-sharing at ACME's R&D, e.g. wikis: https://x.org/a_b.",
    "snake_case and __dunder__ names_", "Сообщества практиков — это 2.5 раза; т.е. по-моему",
    "mixed_знание l'état 10th 2010-х don’t ½ ⅔ x²", "",
])
def test_tokenizer_fast_path_matches_full_pattern(text):
    from kmdiscourse.preprocess import _TOKEN, _URL, _findall

    for t in (text, text.replace("_", " ")):  # with and without underscores
        plain = _URL.sub(" ", t) if ("://" in t or "www." in t) else t
        assert _findall(t) == _TOKEN.findall(plain)


def test_preprocess_passages_requires_columns():
    with pytest.raises(KmdError, match="passage_id"):
        preprocess_passages(pd.DataFrame({"text": ["x"], "lang": ["en"]}))


# --- the shared sample corpus -----------------------------------------------------------------------

def test_labelled_corpus_lemmas_are_clean():
    """On the team's labelled passages: no upper case, no ё, no digits-only tokens, no stop words."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "corpora" / "labels"
    files = sorted(root.glob("*.jsonl"))
    if not files:
        pytest.skip("corpora/labels is not present")
    for f in files:
        rows = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()[:60] if line.strip()]
        lang = rows[0]["lang"]
        stops = LANG_SETTINGS[lang].stops - {a.lower() for a in LANG_SETTINGS[lang].acronyms}
        for lemmas in lemmatize((r["text"] for r in rows), lang):
            assert lemmas
            for t in lemmas:
                assert t == t.lower() and "ё" not in t and not t.isdigit() and t not in stops, (f.name, t)


# --- the command ----------------------------------------------------------------------------------

def test_cli_preprocess_writes_store_then_reuses(small_corpus, tmp_path):
    from click.testing import CliRunner

    from kmdiscourse.cli import cli

    runner = CliRunner()
    store = tmp_path / "s.kmd"
    res = runner.invoke(cli, ["preprocess", str(small_corpus), "-o", str(store), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    lem = pd.read_parquet(store / LEMMAS)
    assert len(lem) >= 4 and any("сообщество" in list(x) for x in lem["lemmas"])
    res = runner.invoke(cli, ["preprocess", str(store)])
    assert res.exit_code == 0 and "reused" in res.output


def test_cli_preprocess_csv_to_stdout_and_bad_model(small_corpus):
    from click.testing import CliRunner

    from kmdiscourse.cli import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["-q", "preprocess", str(small_corpus / "note.txt"), "--phrase-threshold", "1"])
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert lines[0] == "passage_id,lemmas" and "core group schedule monthly" in lines[1]
    res = runner.invoke(cli, ["preprocess", str(small_corpus), "--spacy-model", "de=x"])
    assert res.exit_code != 0 and isinstance(res.exception, KmdError) and "'de'" in str(res.exception)


def test_cli_preprocess_help_has_example():
    from click.testing import CliRunner

    from kmdiscourse.cli import cli

    res = CliRunner().invoke(cli, ["preprocess", "--help"])
    assert res.exit_code == 0 and "Example: kmdiscourse preprocess" in res.output


def test_resolve_model_prefers_installed_full_pipeline(monkeypatch):
    from kmdiscourse import preprocess

    monkeypatch.setattr(preprocess, "_is_installed", lambda name: name == "en_core_web_sm")
    assert preprocess.resolve_model("en") == "en_core_web_sm"
    assert preprocess.resolve_model("ru") is None
    assert preprocess.resolve_model("en", "default") is None
    assert preprocess.resolve_model("en", {"ru": "x"}) == "en_core_web_sm"
    assert preprocess.resolve_model("ru", {"ru": "x"}) == "x"


# --- terms without gensim, and parts counted apart --------------------------------------------------

def test_terms_equal_gensim_phrases_on_the_sample():
    """The counts-based terms (what workers use) join exactly what gensim's Phrases joins."""
    from conftest import SAMPLE

    from kmdiscourse.ingest import ingest_path
    from kmdiscourse.preprocess import _count_vocab, _join_terms, _lemmatize_chunk, _npmi_terms

    passages = ingest_path(SAMPLE).passages
    for lang, settings in LANG_SETTINGS.items():
        texts = passages.loc[passages["lang"] == lang, "text"].tolist()
        lists = _lemmatize_chunk((texts, [lang] * len(texts), None))
        for threshold, min_count in ((0.3, 2), (0.5, 3)):
            ph = learn_phrases(lists, threshold, min_count=min_count, connector_words=settings.connector_words)
            # counts of two halves, added, give the terms of the whole
            half = len(lists) // 2
            (va, ta), (vb, tb) = (_count_vocab(x, settings.connector_words) for x in (lists[:half], lists[half:]))
            for w, c in vb.items():
                va[w] = va.get(w, 0) + c
            terms = _npmi_terms(va, ta + tb, threshold, min_count)
            assert terms == set(ph.phrasegrams), (lang, threshold)
            expected = list(apply_phrases(lists, ph, drop=settings.connector_words))
            assert _join_terms(lists, terms, settings.connector_words) == expected
        assert terms  # the sample has terms in both languages


def test_preprocess_passages_partly_cached_equals_fresh(tmp_path):
    """Passages reused from the store still count towards the terms: same output as a fresh run."""
    df = pd.concat([_km_passages(30)] * 20, ignore_index=True)
    df["passage_id"] = [f"p{i}" for i in range(len(df))]
    preprocess_passages(df.iloc[: len(df) // 2], store=tmp_path, phrase_threshold=0.3, chunk=50)
    stats = {}
    part = preprocess_passages(df, store=tmp_path, phrase_threshold=0.3, jobs=2, chunk=50, stats=stats)
    assert 0 < stats["computed"] < len(df) - 1 and stats["reused"] > 0
    assert part.tolist() == preprocess_passages(df, phrase_threshold=0.3).tolist()
