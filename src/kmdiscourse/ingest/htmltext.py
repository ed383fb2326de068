"""HTML (or trafilatura's extracted XML) to plain text with one blank line between paragraphs."""
from __future__ import annotations

import html as html_mod
import re

#: Elements that start and end a paragraph: HTML blocks plus trafilatura's output tags.
BLOCKS = frozenset(
    """
    p div h1 h2 h3 h4 h5 h6 ul ol li dl dt dd blockquote pre table thead tbody tfoot tr caption
    section article header footer aside main nav figure figcaption address hr form fieldset details
    summary center
    head list item quote row code
    """.split()
)
#: Elements whose content is never text.
DROP = frozenset("script style noscript template iframe object embed svg math select option button "
                 "textarea canvas audio video map head title meta link input".split())
_CELLS = frozenset(("td", "th", "cell"))
_PARA = "\x00P"  # paragraph break marker
_LINE = "\x00L"  # line break marker
_WS = re.compile(r"[ \t\r\n\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK = re.compile(r"\n[ \t]*\n")

# WordPress shortcodes: [caption id="x"]...[/caption], [gallery ids="1,2"], [embed]url[/embed].
_MEDIA_SHORTCODES = ("embed", "video", "audio", "playlist", "gallery", "youtube", "vimeo", "soundcloud",
                     "googlemaps", "instagram", "tweet", "slideshare", "wpvideo", "contact-form",
                     "contact-form-7", "gravityform")
_KNOWN_SHORTCODES = _MEDIA_SHORTCODES + ("caption", "wp_caption", "code", "sourcecode", "source",
                                         "quote", "spoiler", "column", "one_half", "one_third")


def strip_shortcodes(text: str) -> str:
    """Remove WordPress ``[shortcode]`` tags: media ones with their content, others keeping it.

    Only names WordPress themes commonly use, names that appear with a closing ``[/name]``,
    or tags with ``key=value`` attributes count, so "[1]" or "[sic]" stay in the text.
    """
    if "[" not in text:
        return text
    names = set(_KNOWN_SHORTCODES) | {n.lower() for n in re.findall(r"\[/([A-Za-z][\w-]*)\]", text)}
    for name in _MEDIA_SHORTCODES:
        text = re.sub(rf"\[{name}\b[^\]]*\].*?\[/{name}\]", " ", text, flags=re.S | re.I)

    def tag(m: re.Match) -> str:
        name = m.group(2).lower()
        if name in _MEDIA_SHORTCODES:
            return " "
        if name in names or "=" in (m.group(3) or ""):
            return " "
        return m.group(0)

    return re.sub(r"\[(/?)([A-Za-z][\w-]*)((?:\s[^\]]*)?)/?\]", tag, text)


def autop(text: str) -> str:
    """WordPress's rule that blank lines in post content are paragraph breaks (``wpautop``)."""
    if "\n" not in text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _BLANK.sub("\n<p data-kmd-autop></p>\n", text)


def html_to_text(markup, *, wordpress: bool = False) -> str:
    """Plain text of HTML ``markup`` (a string, a fragment or an lxml element).

    Block elements (``<p>``, headings, list items, trafilatura's ``<p>``/``<head>``/``<item>``)
    and two or more consecutive ``<br>`` become paragraph breaks (a blank line); one ``<br>``
    becomes a newline. Scripts, styles and comments are dropped; entities are decoded.
    ``wordpress=True`` also treats blank lines in the source as paragraph breaks and strips
    shortcodes, as WordPress does when it renders post content.

    >>> html_to_text("<p>One <b>two</b></p><p>Three<br><br>Four</p>")
    'One two\\n\\nThree\\n\\nFour'
    """
    if markup is None:
        return ""
    if isinstance(markup, (str, bytes)):
        if isinstance(markup, bytes):
            markup = markup.decode("utf-8", "replace")
        if wordpress:
            markup = autop(strip_shortcodes(markup))
        if "<" not in markup and "&" not in markup:
            return _finish_plain(markup)
        root = _parse(markup)
        if root is None:
            return _finish_plain(html_mod.unescape(re.sub(r"<[^>]*>", " ", markup)))
    else:
        root = markup
    out: list[str] = []
    _walk(root, out, pre=False)
    return _assemble(out)


def _finish_plain(text: str) -> str:
    paras = [_WS.sub(" ", p).strip() for p in _BLANK.split(text.replace("\r\n", "\n").replace("\r", "\n"))]
    return "\n\n".join(p for p in paras if p)


def _parse(markup: str):
    import lxml.html
    from lxml import etree

    markup = re.sub(r"\A\s*<\?xml[^>]*\?>", "", markup)  # lxml refuses str with an encoding declaration
    try:
        return lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError, TypeError):
        try:
            return lxml.html.document_fromstring(markup)
        except (etree.ParserError, ValueError, TypeError):
            return None


def _tag(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""  # comment, processing instruction, entity
    return tag.rsplit("}", 1)[-1].lower()


def _walk(el, out: list[str], pre: bool) -> None:
    tag = _tag(el)
    if tag and tag not in DROP:
        block = tag in BLOCKS
        in_pre = pre or tag == "pre"
        if block:
            out.append(_PARA)
        if tag in ("br", "lb"):
            out.append(_LINE)
        elif tag == "lj":  # LiveJournal <lj user="name"/> or <lj comm="name"/>
            name = el.get("user") or el.get("comm") or el.get("site")
            if name:
                out.append(name)
        elif tag == "img":
            pass  # alt text of images is not running text
        if el.text and tag not in ("br", "lb"):
            out.append(el.text if in_pre else _WS.sub(" ", el.text))
        for child in el:
            _walk(child, out, in_pre)
        if tag in _CELLS:
            out.append(" ")
        if block:
            out.append(_PARA)
    if el.tail:
        out.append(el.tail if pre else _WS.sub(" ", el.tail))


def _assemble(out: list[str]) -> str:
    paras: list[str] = []
    current: list[str] = []
    pending_lines = 0

    def flush():
        text = "".join(current)
        lines = [" ".join(line.split()) for line in text.split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            paras.append(text)
        current.clear()

    for piece in out:
        if piece == _PARA:
            pending_lines = 0
            flush()
        elif piece == _LINE:
            pending_lines += 1
            if pending_lines >= 2:  # <br><br>: a paragraph break
                pending_lines = 0
                flush()
            else:
                current.append("\n")
        else:
            if pending_lines and piece.strip():
                pending_lines = 0
            current.append(piece)
    flush()
    return "\n\n".join(paras)
