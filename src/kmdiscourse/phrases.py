"""Multi-word terms: collocations learned per corpus on lemmas (gensim Phrases), joined with ``_``."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

#: Normalised PMI a pair (or a pair around connector words) must exceed to become one term.
#: NPMI lies in [-1, 1]; 1 turns phrase detection off.
DEFAULT_PHRASE_THRESHOLD = 0.5
#: How often a candidate must occur in the corpus.
DEFAULT_MIN_COUNT = 5
DELIMITER = "_"


def learn_phrases(
    token_lists: Iterable[list[str]],
    threshold: float = DEFAULT_PHRASE_THRESHOLD,
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    connector_words: Iterable[str] = (),
):
    """Learn collocations from lemma lists; return a frozen gensim ``Phrases`` model.

    Scoring is normalised PMI, so ``threshold`` means the same on a small and a large
    corpus. ``connector_words`` ("of", "the") may sit inside a term but never start or end
    one, so "community of practice" becomes ``community_of_practice``.

    Parameters
    ----------
    token_lists : iterable of list of str
        Lemmas per passage (connector words kept where they occur).
    threshold : float
        NPMI above which a candidate becomes a term, in [-1, 1].
    min_count : int
        Minimum corpus frequency of a term.
    connector_words : iterable of str
        Words allowed inside a term.

    Returns
    -------
    gensim.models.phrases.FrozenPhrases

    Examples
    --------
    >>> ph = learn_phrases([["управление", "знание", "важный"]] * 6, 0.3)
    >>> ph[["управление", "знание"]]
    ['управление_знание']
    """
    from gensim.models.phrases import Phrases

    model = Phrases(
        token_lists,
        min_count=min_count,
        threshold=threshold,
        scoring="npmi",
        delimiter=DELIMITER,
        connector_words=frozenset(connector_words),
    )
    return model.freeze()


def apply_phrases(token_lists: Iterable[list[str]], phrases, *, drop: Iterable[str] = ()) -> Iterator[list[str]]:
    """Yield each lemma list with learned terms joined; words in ``drop`` (connector words
    left outside any term) are removed.

    Examples
    --------
    >>> ph = learn_phrases([["community", "of", "practice"]] * 6, 0.3, connector_words={"of"})
    >>> next(apply_phrases([["community", "of", "practice", "of", "it"]], ph, drop={"of"}))
    ['community_of_practice', 'it']
    """
    drop = frozenset(drop)
    for tokens in token_lists:
        joined = phrases[tokens] if phrases is not None and tokens else tokens
        yield [t for t in joined if t not in drop] if drop else list(joined)
