"""The ``kmdiscourse`` command line: a thin skin over the library."""
from __future__ import annotations

import logging
import sys
import traceback

import click

from . import __version__
from .errors import KmdError

log = logging.getLogger("kmdiscourse")

GENRE = click.Choice(["business", "academic"])
SOURCE_TYPE = click.Choice(["blog", "article", "forum"])
LANG = click.Choice(["en", "ru"])
PERIOD = click.Choice(["year", "quarter", "month"])


class _State:
    quiet = False
    verbose = False
    debug = False


STATE = _State()


def show_progress() -> bool:
    """Progress bars only when stderr is a terminal and the user did not ask for quiet."""
    return not STATE.quiet and sys.stderr.isatty()


def message(text: str) -> None:
    """A message for the user, on stderr (data goes to stdout or -o)."""
    if not STATE.quiet:
        click.echo(text, err=True)


def ingest_options(f, *, lang_default: bool = True):
    """Options every command that reads INPUT shares (``--lang`` as a default language unless
    the command uses ``--lang`` as a filter)."""
    f = click.option("--genre", type=GENRE, help="Genre for documents that do not say.")(f)
    f = click.option("--source-type", type=SOURCE_TYPE, help="Source type for documents that do not say.")(f)
    if lang_default:
        f = click.option("--lang", "default_lang", type=LANG, help="Language where detection cannot decide.")(f)
    f = click.option("--metadata", type=click.Path(dir_okay=False),
                     help="CSV with a 'path' column and metadata that overrides the files.")(f)
    f = click.option("--text-column", default="text", show_default=True, help="Text column of CSV/JSON tables.")(f)
    f = click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 64),
                     help="Processes to use.")(f)
    return f


def corpus_kwargs(kw: dict) -> dict:
    return {"genre": kw.pop("genre", None), "source_type": kw.pop("source_type", None),
            "lang": kw.pop("default_lang", None), "metadata": kw.pop("metadata", None),
            "text_column": kw.pop("text_column", "text")}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kmdiscourse")
@click.option("--quiet", "-q", is_flag=True, help="Only errors on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Every warning, not only the first few.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(quiet: bool, verbose: bool, debug: bool) -> None:
    """Study how organisations talk about knowledge management (KM), in English and Russian.

    Ingest blogs, articles, feeds, exports, tables and mailing lists; classify passages as
    why / how / other; follow topics and concepts over time.

    Example: kmdiscourse classify corpora/sample -o labels.csv --by year
    """
    STATE.quiet, STATE.verbose, STATE.debug = quiet, verbose, debug
    level = logging.ERROR if quiet else logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)


def print_file_warnings(corpus, limit: int = 5) -> None:
    """Warnings about skipped files and records, on stderr; all of them with --verbose."""
    if STATE.quiet:
        return
    shown = 0
    limit = 10**9 if STATE.verbose else limit
    hidden = 0
    for f in corpus.files:
        problems = []
        if f["status"] != "ingested" and f.get("reason") not in ("duplicate",):
            problems.append(f"{f['path']}: {f['status']} ({f['reason']}{': ' + f['detail'] if f.get('detail') else ''})")
        problems.extend(f.get("warnings") or [])
        for p in problems:
            if shown < limit:
                click.echo(f"Warning: {p}", err=True)
                shown += 1
            else:
                hidden += 1
    if hidden:
        click.echo(f"Warning: {hidden} more warnings (see the manifest, or use --verbose)", err=True)


# --- ingest commands ---------------------------------------------------------------------------

def engine_options(f):
    """--engine local|dask and --scheduler ADDRESS (see kmdiscourse.engine)."""
    f = click.option("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address (tcp://host:8786) or scheduler file; "
                          "default: a local cluster of --jobs workers.")(f)
    f = click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
                     help="Run on local processes or on a Dask cluster (pip install 'kmdiscourse[dask]').")(f)
    return f


@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", "store", required=True, type=click.Path(file_okay=False),
              help="Store folder to create or update.")
@ingest_options
@engine_options
def ingest(input, store, jobs, engine, scheduler, **kw):
    """Read INPUT (a folder, walked recursively, or one file) into the store STORE.

    Formats: .txt, .md (front matter), .html, RSS/Atom feeds, WordPress exports, .jsonl/.json,
    .csv/.tsv, .mbox, .pdf, .docx. Re-running reads only new or changed files. With
    --engine dask the files are read on a Dask cluster (see "Running on a cluster").

    Example: kmdiscourse ingest corpora/sample -o sample.kmd --genre business
    """
    from .ingest import ingest_path
    from .summary import format_summary, summarize_corpus

    corpus = ingest_path(input, store, jobs=jobs, progress=show_progress(), engine=engine, scheduler=scheduler,
                         **corpus_kwargs(kw))
    print_file_warnings(corpus)
    s = corpus.manifest["summary"]
    message(f"Ingested {s['ingested']} of {s['files']} files: {s['documents']} documents, "
            f"{s['passages']} passages (reused {s['reused_files']} unchanged files) -> {store}")
    message(format_summary(summarize_corpus(corpus)))


@cli.command()
@click.argument("input", type=click.Path())
@ingest_options
def info(input, jobs, **kw):
    """Summarise a corpus: documents, passages and tokens by language, genre, type and year.

    INPUT is a store made by 'ingest', a folder or a file (ingested on the fly).

    Example: kmdiscourse info corpora/sample
    """
    from .ingest import open_corpus
    from .summary import format_summary, summarize_corpus

    corpus = open_corpus(input, jobs=jobs, progress=show_progress(), **corpus_kwargs(kw))
    click.echo(format_summary(summarize_corpus(corpus)))


# --- language processing commands ----------------------------------------------------------------

@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", "store", type=click.Path(file_okay=False),
              help="Store to write the lemmas to (default: INPUT when it is a store; else CSV to stdout).")
@click.option("--spacy-model", "spacy_models", multiple=True, metavar="LANG=NAME",
              help="spaCy pipeline (package or path) for a language, e.g. en=en_core_web_sm. Repeatable.")
@click.option("--phrase-threshold", type=float, default=None, show_default="0.5",
              help="NPMI above which word pairs become terms (community_of_practice); 1 turns terms off.")
@ingest_options
@engine_options
def preprocess(input, store, spacy_models, phrase_threshold, jobs, engine, scheduler, **kw):
    """Compute the lemmas of every passage of INPUT and keep them in the store.

    Lemmas are cached in STORE/lemmas.parquet, keyed by the pipeline settings and the text,
    so later commands and re-runs reuse them. With --engine dask the passages are lemmatised
    on a Dask cluster (see "Running on a cluster"); the lemmas are the same.

    Example: kmdiscourse preprocess corpora/sample -o sample.kmd --jobs 2
    """
    import time

    from .engine import open_engine
    from .phrases import DEFAULT_PHRASE_THRESHOLD
    from .preprocess import is_store_folder, parse_model_options, preprocess_passages, preprocess_store

    models = parse_model_options(spacy_models) or None
    threshold = DEFAULT_PHRASE_THRESHOLD if phrase_threshold is None else phrase_threshold
    if store is None and engine == "local" and is_store_folder(input):  # only its passage columns are read
        stats: dict = {}
        start = time.perf_counter()
        preprocess_store(input, jobs=jobs, progress=show_progress(), phrase_threshold=threshold, model=models,
                         stats=stats)
        message(f"Lemmatised {stats['computed']} passages, reused {stats['reused']}: {stats['lemmas']} lemmas, "
                f"{stats['phrases']} multi-word terms, {time.perf_counter() - start:.1f} s -> {input}")
        return
    from .ingest import open_corpus

    with open_engine(engine, jobs=jobs, scheduler=scheduler) as eng:
        corpus = open_corpus(input, store, jobs=jobs, progress=show_progress(),
                             engine=eng if engine == "dask" else "local", **corpus_kwargs(kw))
        target = store or corpus.store
        stats = {}
        start = time.perf_counter()
        lemmas = preprocess_passages(corpus.passages, store=target, jobs=jobs, progress=show_progress(),
                                     phrase_threshold=threshold, model=models, stats=stats, engine=eng,
                                     return_lemmas=target is None)
        took = time.perf_counter() - start
    if target is None:
        import pandas as pd

        from .store import export_table

        export_table(pd.DataFrame({"passage_id": corpus.passages["passage_id"],
                                   "lemmas": lemmas.map(" ".join)}), "-")
    message(f"Lemmatised {stats['computed']} passages, reused {stats['reused']}: {stats['lemmas']} lemmas, "
            f"{stats['phrases']} multi-word terms, {took:.1f} s" + (f" -> {target}" if target else ""))

# --- classifier commands -------------------------------------------------------------------------

@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", required=True, help="Output table: .csv, .jsonl or .parquet; '-' writes CSV to stdout.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="A model made by 'train' (default: the shipped one).")
@click.option("--by", type=PERIOD, help="Also break the summary down by period.")
@click.option("--store", type=click.Path(file_okay=False), help="Store to ingest INPUT into (reused next time).")
@ingest_options
@engine_options
def classify(input, output, model_path, by, store, jobs, engine, scheduler, **kw):
    """Label every passage of INPUT why / how / other, with calibrated probabilities and evidence.

    Prints the shares per language x genre (and period with --by) with 95% intervals on stderr.

    Example: kmdiscourse classify corpora/sample -o labels.csv --by year
    """
    from .classify import classify_to
    from .trends import format_shares

    # streamed: passages are read, labelled and written a store row group at a time
    res = classify_to(input, output, model_path, jobs=jobs, store=store, by=by, progress=show_progress(),
                      engine=engine, scheduler=scheduler, **corpus_kwargs(kw))
    unlabelled = res.unlabelled
    message(f"Classified {res.n - unlabelled} passages ({unlabelled} in other languages left unlabelled)"
            + ("" if output == "-" else f" -> {output}"))
    message(format_shares(res.shares, unlabelled=unlabelled))
    if by:
        message("")
        message(format_shares(res.shares_by))


@cli.command()
@click.argument("labels", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Model file to write (.skops).")
@click.option("--base", type=click.Choice(["default", "none"]), default="default", show_default=True,
              help="Add LABELS to the shipped training passages, or train on LABELS alone.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same model).")
@click.option("--cv", "cv_folds", default=5, show_default=True, type=click.IntRange(0, 20),
              help="Folds for the cross-validated metrics in the model card (0: none).")
def train(labels, output, base, seed, cv_folds):
    """Train a classifier on labelled passages (JSONL/CSV with text, label and optional lang).

    Writes the model (skops) and a JSON model card beside it.

    Example: kmdiscourse train my_labels.jsonl -o my_model.skops --base default
    """
    from .classify import read_labels, save_model, train_model

    data = read_labels(labels)
    clf, card = train_model(data, base=base, seed=seed, cv_folds=cv_folds, sources=[str(p) for p in labels])
    save_model(clf, output, card)
    cvm = card.get("cv_metrics")
    message(f"Trained on {card['training_data']['n']} passages -> {output}"
            + (f" (cv macro-F1 {cvm['macro_f1']:.3f}, Brier {cvm['brier']:.3f}, ECE {cvm['ece']:.3f})" if cvm else ""))


@cli.command()
@click.argument("gold", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="A model made by 'train' (default: the shipped one).")
@click.option("--json", "as_json", is_flag=True, help="Write the full result as JSON to stdout.")
def evaluate(gold, model_path, as_json):
    """Evaluate a model on gold passages (JSONL/CSV with text, label, lang): accuracy, macro-F1,
    per-class scores, confusion matrix, per language, bootstrap 95% intervals, keyword baseline.

    Example: kmdiscourse evaluate ../shared/data/gold_dev.jsonl
    """
    import json as _json

    from .classify import evaluate as evaluate_model, format_evaluation

    res = evaluate_model(gold, model_path)
    click.echo(_json.dumps(res, ensure_ascii=False, indent=1, default=str) if as_json else format_evaluation(res))


@cli.command()
@click.argument("input", type=click.Path())
@click.option("--labels", "labels_file", required=True, type=click.Path(dir_okay=False),
              help="JSONL file the answers are appended to.")
@click.option("--annotator", default="anonymous", show_default=True, help="Your name, for agreement.")
@click.option("--n", "n", type=click.IntRange(1), help="Stop after N passages.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="Model that ranks passages by uncertainty.")
@ingest_options
def annotate(input, labels_file, annotator, n, model_path, jobs, **kw):
    """Label passages of INPUT in the terminal, most uncertain first.

    Keys: w why, h how, o other, s skip, u undo, q quit. Each answer is appended to the
    labels file at once; retrain with 'kmdiscourse train LABELS'.

    Example: kmdiscourse annotate corpora/sample --labels mine.jsonl --annotator anna --n 50
    """
    from .annotate import annotate as run_annotation
    from .classify import load_model, predict_passages
    from .ingest import open_corpus
    from .records import LANGS

    corpus = open_corpus(input, jobs=jobs, progress=show_progress(), **corpus_kwargs(kw))
    pas = corpus.passages[corpus.passages["lang"].isin(LANGS)].reset_index(drop=True)
    proba, _ = predict_passages(load_model(model_path), pas["text"].tolist())

    def ask(prompt):
        return click.prompt(prompt, default="s", show_default=False, err=True)

    stats = run_annotation(pas, labels_file, proba=proba, annotator=annotator, n=n, ask=ask,
                           show=lambda t: click.echo(t, err=True))
    message("Answers: " + (", ".join(f"{k} {v}" for k, v in sorted(stats.items())) or "none") + f" -> {labels_file}")


@cli.command()
@click.argument("labels_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Write the result as JSON.")
def agreement(labels_file, as_json):
    """Cohen's kappa per annotator pair and Krippendorff's alpha over all annotators.

    Example: kmdiscourse agreement labels.jsonl
    """
    import json as _json

    from .annotate import agreement as compute_agreement, format_agreement

    res = compute_agreement(labels_file)
    click.echo(_json.dumps(res, ensure_ascii=False, indent=1) if as_json else format_agreement(res))


# --- topic and concept commands ------------------------------------------------------------------

def _corpus_options(f):
    """INPUT options of ingest_options without --lang (these commands use --lang as a filter)."""
    return ingest_options(f, lang_default=False)


def _k_value(value: str):
    if value == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number or 'auto'", param_hint="--k") from None
    if k < 1:
        raise click.BadParameter(f"{value!r} must be at least 1", param_hint="--k")
    return k


def _iterations_value(ctx, param, value: str):
    """--iterations: a positive number of sweeps, or 'auto' (None: the size-based default)."""
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number or 'auto'") from None
    if n < 1:
        raise click.BadParameter(f"{value!r} must be at least 1")
    return n


@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Folder for topics.csv, doc_topics.parquet, prevalence.csv, effects.csv, plots...")
@click.option("--k", "k", default="20", show_default=True, help="Number of topics, or 'auto' (chosen by NPMI "
              "coherence and topic diversity).")
@click.option("--method", type=click.Choice(["lda", "nmf"]), default="lda", show_default=True,
              help="LDA on lemma counts (tomotopy) or NMF on TF-IDF.")
@click.option("--by", type=PERIOD, default="year", show_default=True, help="Period of prevalence.csv.")
@click.option("--lang", "lang", type=click.Choice(["en", "ru", "all"]), default="all", show_default=True,
              help="Language(s) to model; one model per language.")
@click.option("--unit", type=click.Choice(["document", "passage"]), default="document", show_default=True,
              help="What one topic mixture describes.")
@click.option("--dynamic", is_flag=True, help="Also fit a dynamic topic model: topic_terms_by_period.csv.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed and --jobs, same topics).")
@click.option("--iterations", default="auto", show_default=True, callback=_iterations_value, metavar="N",
              help="Gibbs sweeps per model (NMF: iterations); auto: 200 on large corpora, up to 1,000 on small.")
@_corpus_options
def topics(input, outdir, k, method, by, lang, unit, dynamic, seed, iterations, jobs, **kw):
    """Fit topics on lemmas and phrases; write top terms, shares, prevalence by period and
    genre with 95% intervals, effects (academic minus business, trend), coherence and plots.

    Example: kmdiscourse topics corpora/sample -o out/topics --k auto --by year
    """
    from .topics import run_topics

    ck = corpus_kwargs(kw)
    ck.pop("lang", None)  # --lang here picks the models, not a default language
    res = run_topics(input, outdir, k=_k_value(k), method=method, by=by, lang=lang, unit=unit, dynamic=dynamic,
                     seed=seed, jobs=jobs, progress=show_progress(), iterations=iterations, **ck)
    for note in res.notes:
        message(note)
    ks = ", ".join(f"{lg}: K={kk} on {res.units[lg]} {unit}s" for lg, kk in res.chosen_k.items())
    message(f"Topics ({method}; {ks}) -> {outdir}")


@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Folder for concept_mentions.csv, concept_trends.csv, concept_labels.csv.")
@click.option("--lexicon", type=click.Path(dir_okay=False), help="YAML or CSV lexicon that extends the shipped one.")
@click.option("--by", type=PERIOD, default="year", show_default=True, help="Period of the trends.")
@click.option("--labels", type=click.Path(dir_okay=False),
              help="Output of 'kmdiscourse classify' (passage_id, label) for concept_labels.csv.")
@ingest_options
@engine_options
def concepts(input, outdir, lexicon, by, labels, jobs, engine, scheduler, **kw):
    """Find KM and communities-of-practice concepts (English and Russian) on lemmas; count them
    by period, genre and language, and the why/how/other shares of passages that mention them.
    With --engine dask the passages are scanned on a Dask cluster; the outputs are the same.

    Example: kmdiscourse concepts corpora/sample -o out/concepts --by year
    """
    from .concepts import run_concepts

    res = run_concepts(input, outdir, lexicon=lexicon, by=by, labels=labels, jobs=jobs, progress=show_progress(),
                       engine=engine, scheduler=scheduler, **corpus_kwargs(kw))
    for note in res.notes:
        message(note)
    n = res.mentions["concept"].nunique() if len(res.mentions) else 0
    message(f"{len(res.mentions)} mentions of {n} concepts -> {outdir}")


@cli.command()
@click.argument("input", type=click.Path())
@click.argument("term", required=False)
@click.option("--concept", help="A concept id of the lexicon instead of TERM.")
@click.option("--lexicon", type=click.Path(dir_okay=False), help="YAML or CSV lexicon that extends the shipped one.")
@click.option("--width", default=40, show_default=True, type=click.IntRange(5, 500),
              help="Characters of context on each side.")
@click.option("--lang", "lang", type=LANG, help="Only passages in this language.")
@click.option("-o", "--output", default=None, help="Write a table (.csv, .jsonl, .parquet; '-' CSV to stdout) "
              "instead of aligned lines.")
@_corpus_options
def kwic(input, term, concept, lexicon, width, lang, output, jobs, **kw):
    """Keyword in context: concordance lines for TERM (matched on lemmas, so every inflection
    counts) or for a lexicon concept, with document id and date.

    Example: kmdiscourse kwic corpora/sample "community of practice" --width 50
    """
    from .concepts import format_kwic, kwic as kwic_fn, load_lexicon
    from .ingest import open_corpus
    from .store import export_table

    if (term is None) == (concept is None):
        raise click.UsageError("give either TERM or --concept ID")
    ck = corpus_kwargs(kw)
    ck.pop("lang", None)  # --lang here filters passages
    corpus = open_corpus(input, jobs=jobs, progress=show_progress(), **ck)
    df = kwic_fn(corpus.passages, term, concept=concept, lexicon=load_lexicon(lexicon), width=width, lang=lang)
    if output:
        export_table(df, output)
    elif len(df):
        click.echo(format_kwic(df, width))
    message(f"{len(df)} lines")


@cli.command()
@click.argument("input", type=click.Path())
@click.option("--by", type=click.Choice(["genre", "lang", "period"]), default="genre", show_default=True,
              help="What divides the two groups.")
@click.option("--a", "a", help="Group A (default: academic, en, or the latest year).")
@click.option("--b", "b", help="Group B (default: every other passage).")
@click.option("--min-count", default=5, show_default=True, type=click.IntRange(1), help="Least count in A+B.")
@click.option("--top", default=50, show_default=True, type=click.IntRange(1), help="Rows to write.")
@click.option("-o", "--output", default="-", show_default=True, help="Output table (.csv, .jsonl, .parquet; '-' stdout).")
@ingest_options
def keyness(input, by, a, b, min_count, top, output, jobs, **kw):
    """Key terms of group A against group B: log-likelihood G2, log ratio and counts on lemmas.

    Example: kmdiscourse keyness corpora/sample --by genre --a academic --b business
    """
    from .concepts import keyness as keyness_fn
    from .ingest import open_corpus
    from .topics import corpus_lemmas

    corpus = open_corpus(input, jobs=jobs, progress=show_progress(), **corpus_kwargs(kw))
    lemmas = corpus_lemmas(corpus, jobs=jobs, progress=show_progress())
    table, ga, gb = keyness_fn(corpus.passages, lemmas.tolist(), by=by, a=a, b=b, min_count=min_count)
    from .store import export_table

    export_table(table.head(top), output)
    message(f"{len(table)} terms; A = {ga}, B = {gb}; top {min(top, len(table))} written")

# --- report commands -----------------------------------------------------------------------------

@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--by", type=PERIOD, default="year", show_default=True, help="Period of the time axes.")
@click.option("--title", help="Title of the page.")
@click.option("--topics-k", default=6, show_default=True, type=click.IntRange(1, 100),
              help="Topics per language fitted for the report (NMF; use 'topics' for the full model).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for topics and example passages.")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False),
              help="Output of 'kmdiscourse classify' on the same INPUT: reused instead of classifying again.")
@click.option("--concepts", "concepts_dir", type=click.Path(file_okay=False),
              help="Folder written by 'kmdiscourse concepts -o DIR' on the same INPUT with the same --by: "
                   "its counts are shown instead of matching the concepts again.")
@ingest_options
def report(input, output, by, title, topics_k, seed, labels_file, concepts_dir, jobs, **kw):
    """Write one self-contained HTML page (works offline) about INPUT: the corpus, why/how/other
    shares over time, topics and concepts, with the passages behind every chart point.

    Example: kmdiscourse report corpora/sample -o report.html --by year

    After 'classify' and 'concepts' on the same input, reuse their outputs (much quicker):
    kmdiscourse report STORE -o report.html --labels labels.csv --concepts concepts/
    """
    import time

    from .report import read_labels_table, write_report

    t0 = time.perf_counter()
    classified = read_labels_table(labels_file) if labels_file else None
    path = write_report(input, output, by=by, title=title, topics_k=topics_k, seed=seed, jobs=jobs,
                        classified=classified, concepts_dir=concepts_dir, progress=show_progress(),
                        **corpus_kwargs(kw))
    size = path.stat().st_size
    message(f"Report ({size / 1e6:.1f} MB, {time.perf_counter() - t0:.0f} s) -> {path}")


def main(argv=None) -> None:
    """Run the CLI: our errors become one ``Error:`` line and exit 1; a bug shows a traceback
    only with --debug."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="kmdiscourse", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KmdError as exc:
        if debug:
            traceback.print_exc()
        msg = str(exc)
        click.echo(msg if msg.startswith("Error:") else f"Error: {msg}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {exc.__class__.__name__}: {exc} (a bug; run with --debug for details)", err=True)
        sys.exit(1)
