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


def ingest_options(f):
    """Options every command that reads INPUT shares."""
    f = click.option("--genre", type=GENRE, help="Genre for documents that do not say.")(f)
    f = click.option("--source-type", type=SOURCE_TYPE, help="Source type for documents that do not say.")(f)
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

@cli.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", "store", required=True, type=click.Path(file_okay=False),
              help="Store folder to create or update.")
@ingest_options
def ingest(input, store, jobs, **kw):
    """Read INPUT (a folder, walked recursively, or one file) into the store STORE.

    Formats: .txt, .md (front matter), .html, RSS/Atom feeds, WordPress exports, .jsonl/.json,
    .csv/.tsv, .mbox, .pdf, .docx. Re-running reads only new or changed files.

    Example: kmdiscourse ingest corpora/sample -o sample.kmd --genre business
    """
    from .ingest import ingest_path
    from .summary import format_summary, summarize_corpus

    corpus = ingest_path(input, store, jobs=jobs, progress=show_progress(), **corpus_kwargs(kw))
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

# --- classifier commands -------------------------------------------------------------------------

# --- topic and concept commands ------------------------------------------------------------------

# --- report commands -----------------------------------------------------------------------------


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
