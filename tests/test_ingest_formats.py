"""mbox, PDF, DOCX and archive readers: handwritten inputs, plus the real fixtures when present."""
from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import shared_or_skip
from kmdiscourse.ingest import ingest_path
from kmdiscourse.ingest import archive as archive_mod
from kmdiscourse.ingest.base import SkipFile, SourceFile
from kmdiscourse.ingest.docx import read_docx
from kmdiscourse.ingest.mbox import read_mbox, strip_quotes_and_signature
from kmdiscourse.ingest.pdf import good_title, read_pdf, rebuild_paragraphs

EN = ("Communities of practice keep what engineers learn on one project available to the next "
      "team, which is why the company funds a coordinator for each of them.")
RU = ("Сообщество практики помогает инженерам делиться опытом между филиалами, поэтому компания "
      "оплачивает работу координатора каждого сообщества.")


def _src(name: str, raw: bytes) -> SourceFile:
    return SourceFile(path=name, raw=raw)


# --- mbox ----------------------------------------------------------------------------------------

MBOX = (
    "From alice@example.org Mon Mar  1 10:00:00 2010\n"
    "From: Alice Example <alice@example.org>\n"
    "Subject: Why share lessons?\n"
    "Date: Mon, 01 Mar 2010 10:00:00 +0000\n"
    "Message-ID: <m1@example.org>\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    f"{EN}\n\n-- \nAlice, KM lead\nPhone 555\n\n"
    "From bob@example.org Tue Mar  2 11:00:00 2010\n"
    "From: bob at example.org (=?utf-8?b?0JHQvtGA0LjRgQ==?=)\n"
    "Subject: =?utf-8?b?UmU6INCX0LDRh9C10Lw=?=\n"
    "Date: Tue, 02 Mar 2010 11:00:00 +0300\n"
    "Message-ID: <m2@example.org>\n"
    "In-Reply-To: <m1@example.org>\n"
    "Content-Type: text/plain; charset=koi8-r\n"
    "Content-Transfer-Encoding: 8bit\n\n"
).encode("utf-8") + (
    "Алиса пишет:\n> Communities of practice keep what engineers learn\n> on one project.\n\n"
    f"{RU}\n"
).encode("koi8-r") + (
    b"\nFrom carol@example.org Wed Mar  3 12:00:00 2010\n"
    b"From: carol@example.org\n"
    b"Subject: no charset given\n"
    b"Message-ID: <m3@example.org>\n"
    b"In-Reply-To: <elsewhere@example.org>\n\n"
) + RU.encode("cp1251") + b"\n"


def test_mbox_one_forum_record_per_message():
    src = _src("list.mbox", MBOX)
    recs = list(read_mbox(src))
    assert [r.key for r in recs] == ["#msg1", "#msg2", "#msg3"]
    assert all(r.source_type == "forum" for r in recs)
    a, b, c = recs
    assert a.title == "Why share lessons?" and a.author == "Alice Example"
    assert a.date == "Mon, 01 Mar 2010 10:00:00 +0000" and a.id == "m1@example.org"
    assert a.text == EN and a.extra["signature_lines_dropped"] >= 3
    assert b.author == "Борис" and b.title == "Re: Зачем"
    assert b.parent_id == "m1@example.org"  # In-Reply-To inside the file
    assert b.text == RU and b.extra["quoted_lines_dropped"] == 3  # two "> " lines and "Алиса пишет:"
    assert c.author is None  # only an address: it stays out of the data
    assert c.parent_id is None and c.extra["in_reply_to"] == "elsewhere@example.org"
    assert c.text == RU  # no charset parameter: detected as cp1251
    assert "@" not in " ".join(str(r.author) for r in recs)


def test_mbox_broken_message_skipped_with_number(monkeypatch):
    import kmdiscourse.ingest.mbox as mbox_mod

    real = mbox_mod._parse

    def flaky(n, raw, src, encodings):
        if n == 2:
            raise ValueError("boom")
        return real(n, raw, src, encodings)

    monkeypatch.setattr(mbox_mod, "_parse", flaky)
    src = _src("list.mbox", MBOX)
    recs = list(read_mbox(src))
    assert [r.key for r in recs] == ["#msg1", "#msg3"]
    assert src.records_skipped == 1 and "message 2" in src.warnings[0]


@pytest.mark.parametrize("text, quoted, sig", [
    ("Hello\n>From the start\n", 0, 0),  # mbox ">From" quoting is not a quote
    ("Ответ\n\nИван писал(а):\n> старое\n>> совсем старое\nновое", 3, 0),
    ("body\n--\nsig", 0, 2),
])
def test_mbox_strip_quotes_and_signature(text, quoted, sig):
    out, q, s = strip_quotes_and_signature(text)
    assert (q, s) == (quoted, sig)
    assert ">" not in out.replace(">From", "")


def test_mbox_ingested_with_dates_and_threads(tmp_path):
    (tmp_path / "list.mbox").write_bytes(MBOX)
    corpus = ingest_path(tmp_path)
    docs = corpus.documents.set_index("doc_id")
    assert str(docs.loc["m1@example.org", "date"]) == "2010-03-01"
    assert docs.loc["m2@example.org", "parent_id"] == "m1@example.org"
    assert set(docs.source_type) == {"forum"}


def test_mbox_real_fixtures_read():
    root = shared_or_skip("fixtures", "chaoss-grimoirelab-perceval", "mbox")
    src = _src("mbox_no_fields.mbox", (root / "mbox_no_fields.mbox").read_bytes())
    recs = list(read_mbox(src))
    assert len(recs) == 6  # missing/empty Date and Message-ID, duplicated ids: all kept
    assert len({r.id for r in recs}) == 6
    src = _src("u.mbox", (root / "mbox_unknown_encoding.mbox").read_bytes())
    assert all("\ufffd" not in r.text for r in read_mbox(src))


# --- PDF -------------------------------------------------------------------------------------------

def make_pdf(pages: list[list[str]], info: dict[str, str] | None = None) -> bytes:
    """A minimal valid PDF with one text line per string (Helvetica, 14 pt leading)."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", None,
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        body = "BT /F1 11 Tf 72 760 Td 14 TL " + " ".join(
            "(" + ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj T*" for ln in lines) + " ET"
        objs.append(f"<< /Length {len(body)} >>\nstream\n{body}\nendstream")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    f"/Resources << /Font << /F1 3 0 R >> >> /Contents {len(objs)} 0 R >>")
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    info_ref = ""
    if info:
        objs.append("<< " + " ".join(f"/{k} ({v})" for k, v in info.items()) + " >>")
        info_ref = f" /Info {len(objs)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R{info_ref} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_rebuild_paragraphs_joins_hyphens_and_drops_page_numbers():
    pages = [
        "Knowledge sharing in large firms depends on trust between col-\nleagues and on time set aside for it.\n"
        "That is the short version.\n\nA second paragraph starts here and goes on\nfor a while.\n3",
        "- 4 -\nThe last page has one paragraph of its own, ending here.",
    ]
    text = rebuild_paragraphs(pages)
    paras = text.split("\n\n")
    assert "colleagues" in paras[0] and "col-" not in text
    assert paras[0].endswith("That is the short version.")
    assert paras[1] == "A second paragraph starts here and goes on for a while."
    assert "3" not in paras[1] and "- 4 -" not in text
    assert paras[-1].startswith("The last page")


@pytest.mark.parametrize("title, ok", [
    ("Microsoft Word - report.doc", False), ("zen_of_python.txt", False), ("C:\\tmp\\a", False),
    ("untitled", False), ("Communities of practice in banks", True), ("PDF Example Document", True),
])
def test_pdf_good_title(title, ok):
    assert (good_title(title) is not None) == ok


def test_pdf_generated_read_with_metadata():
    raw = make_pdf([["Why firms fund communities of practice:", "they keep what people learn."], ["2"]],
                   {"Title": "Microsoft Word - draft7.docx", "Author": "A. Researcher",
                    "CreationDate": "D:20190101000000Z"})
    recs = list(read_pdf(_src("a.pdf", raw)))
    assert len(recs) == 1
    r = recs[0]
    assert "Why firms fund communities of practice" in r.text and "keep what people learn" in r.text
    assert r.title is None and r.extra["pdf_title_ignored"].startswith("Microsoft Word")
    assert r.date is None and r.extra["pdf_creation_date"] == "D:20190101000000Z"
    assert r.author == "A. Researcher"


def test_pdf_without_text_is_no_text():
    raw = make_pdf([[], []])
    with pytest.raises(SkipFile) as exc:
        list(read_pdf(_src("scan.pdf", raw)))
    assert exc.value.reason == "no_text" and "scanned" in exc.value.detail


def test_pdf_garbage_is_a_skip_not_a_crash():
    with pytest.raises(SkipFile) as exc:
        list(read_pdf(_src("bad.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 50)))
    assert exc.value.reason in ("parse_error", "no_text")


def test_pdf_real_fixtures():
    root = shared_or_skip("fixtures", "pdfminer-pdfminer.six")
    for name in ("encryption/aes-256.pdf", "encryption/rc4-40.pdf"):
        with pytest.raises(SkipFile) as exc:
            list(read_pdf(_src(name, (root / name).read_bytes())))
        assert exc.value.reason == "encrypted"
    rec = next(read_pdf(_src("simple1.pdf", (root / "simple1.pdf").read_bytes())))
    assert rec.extra["pdf_engine"] == "pdfminer" and "Hello" in rec.text  # pypdf fails on it
    rec = next(read_pdf(_src("f.pdf", (root / "font-size-test.pdf").read_bytes())))
    assert rec.title is None


# --- DOCX ------------------------------------------------------------------------------------------

def make_docx(paragraphs, table=None, title=None, drop_core=False) -> bytes:
    import docx

    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for i, row in enumerate(table):
            for j, cell in enumerate(row):
                t.cell(i, j).text = cell
    if title:
        d.core_properties.title = title
    buf = io.BytesIO()
    d.save(buf)
    raw = buf.getvalue()
    if drop_core:  # remove docProps/core.xml and its relationship, as some generators do
        zin = zipfile.ZipFile(io.BytesIO(raw))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zout:
            for item in zin.infolist():
                if item.filename == "docProps/core.xml":
                    continue
                data = zin.read(item)
                if item.filename == "_rels/.rels":
                    import re

                    data = re.sub(rb"<Relationship [^>]*core-properties[^>]*/>", b"", data)
                if item.filename == "[Content_Types].xml":
                    import re

                    data = re.sub(rb'<Override PartName="/docProps/core.xml"[^>]*/>', b"", data)
                zout.writestr(item, data)
        raw = out.getvalue()
    return raw


def test_docx_paragraphs_tables_and_title():
    raw = make_docx([EN, RU], table=[["Practice", "Why"], ["Lessons learned", "Saves rework"]],
                    title="KM in engineering")
    rec = next(read_docx(_src("a.docx", raw)))
    assert rec.text.split("\n\n") == [EN, RU, "Practice | Why", "Lessons learned | Saves rework"]
    assert rec.title == "KM in engineering"


def test_docx_without_core_properties_has_no_invented_title():
    raw = make_docx([EN], drop_core=True)
    rec = next(read_docx(_src("a.docx", raw)))
    assert rec.title is None and rec.extra["docx_core_properties"] == "absent"


@pytest.mark.parametrize("raw, reason", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "unsupported_format"),
    (b"plain text saved as docx", "parse_error"),
    (b"PK\x03\x04 not really a zip", "parse_error"),
])
def test_docx_legacy_and_fake_files_skipped(raw, reason):
    with pytest.raises(SkipFile) as exc:
        list(read_docx(_src("old.docx", raw)))
    assert exc.value.reason == reason


def test_docx_ole_sniffed_doc_is_unsupported_with_detail(tmp_path):
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 600)
    (tmp_path / "a.txt").write_text(EN)
    entry = {f["path"]: f for f in ingest_path(tmp_path).files}["old.doc"]
    assert entry["reason"] == "unsupported_format" and "legacy" in entry["detail"]


# --- archives --------------------------------------------------------------------------------------

def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(add, mode="w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        add(tf)
    return buf.getvalue()


def _file(tf, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def _entries(corpus):
    return {f["path"]: f for f in corpus.files}


def test_archive_zip_members_get_own_entries(tmp_path):
    raw = _zip({"posts/en.txt": EN.encode(), "posts/ru.md": ("---\ntitle: T\n---\n" + RU).encode(),
                "list.mbox": MBOX, "nested.zip": _zip({"x.txt": b"hidden text"}), "empty.txt": b""})
    (tmp_path / "corpus.zip").write_bytes(raw)
    corpus = ingest_path(tmp_path)
    e = _entries(corpus)
    assert e["corpus.zip"]["status"] == "ingested" and e["corpus.zip"]["members"] == 5
    assert e["corpus.zip!posts/en.txt"]["status"] == "ingested"
    mb = e["corpus.zip!list.mbox"]
    assert mb["documents"] + mb["duplicates"] == 3  # its texts repeat en.txt and ru.md: duplicates
    assert e["corpus.zip!nested.zip"]["reason"] == "nested_archive"
    assert e["corpus.zip!empty.txt"]["reason"] == "empty"
    sources = set(corpus.documents.source)
    assert {"corpus.zip!posts/en.txt", "corpus.zip!posts/ru.md"} <= sources
    assert "hidden text" not in " ".join(corpus.passages.text)
    s = corpus.manifest["summary"]
    assert s["files"] == len(corpus.files) == 6 and s["ingested"] + s["skipped"] + s["failed"] == s["files"]


@pytest.mark.parametrize("name", ["../../evil.txt", "/etc/evil.txt", "..\\..\\Temp\\evil.txt",
                                  "a/../../evil.txt", "C:\\evil.txt"])
def test_archive_unsafe_names_refused(tmp_path, name):
    (tmp_path / "a.zip").write_bytes(_zip({"good.txt": EN.encode(), name: b"EVIL PAYLOAD text here"}))
    (tmp_path / "a.tar").write_bytes(_tar(lambda tf: (_file(tf, "good.txt", RU.encode()),
                                                      _file(tf, name, b"EVIL PAYLOAD text here"))))
    corpus = ingest_path(tmp_path)
    bad = [f for f in corpus.files if "evil" in f["path"]]
    assert len(bad) == 2 and all(f["reason"] == "unsafe_member" for f in bad)
    assert "EVIL" not in " ".join(corpus.documents.text)
    assert not list(tmp_path.parent.rglob("evil.txt"))


def test_archive_tar_links_and_devices_never_followed(tmp_path):
    def add(tf):
        _file(tf, "good.txt", EN.encode())
        for name, kind, target in [("passwd", tarfile.SYMTYPE, "/etc/passwd"),
                                   ("env", tarfile.SYMTYPE, "/proc/self/environ"),
                                   ("hard", tarfile.LNKTYPE, "/etc/hostname"),
                                   ("dev", tarfile.CHRTYPE, ""), ("fifo", tarfile.FIFOTYPE, "")]:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tf.addfile(info)

    (tmp_path / "links.tar.gz").write_bytes(_tar(add, "w:gz"))
    corpus = ingest_path(tmp_path)
    e = _entries(corpus)
    for name in ("passwd", "env", "hard", "dev", "fifo"):
        assert e[f"links.tar.gz!{name}"]["reason"] == "unsafe_member"
    assert e["links.tar.gz!good.txt"]["status"] == "ingested"
    assert e["links.tar.gz"]["format"] == "tar+gzip"
    text = " ".join(corpus.documents.text)
    assert "root:" not in text and "PATH=" not in text


def test_archive_zip_symlink_member_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("good.txt", EN)
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    (tmp_path / "l.zip").write_bytes(buf.getvalue())
    e = _entries(ingest_path(tmp_path))
    assert e["l.zip!link"]["reason"] == "unsafe_member"


def test_archive_zip_bomb_refused_by_ratio(tmp_path):
    (tmp_path / "bomb.zip").write_bytes(_zip({"zeros.txt": b"0" * (20 * 1024 * 1024), "ok.txt": EN.encode()}))
    assert (tmp_path / "bomb.zip").stat().st_size < 100_000
    e = _entries(ingest_path(tmp_path))
    assert e["bomb.zip!zeros.txt"]["reason"] == "archive_limit" and "ratio" in e["bomb.zip!zeros.txt"]["detail"]
    assert e["bomb.zip!ok.txt"]["status"] == "ingested"


def test_archive_total_size_member_size_and_count_limits(tmp_path, monkeypatch):
    rnd = __import__("random").Random(1)
    big = bytes(rnd.getrandbits(8) for _ in range(3000))  # incompressible
    (tmp_path / "a.zip").write_bytes(_zip({f"m{i}.txt": f"{i} {EN} ".encode() + big.hex().encode() for i in range(5)}))
    (tmp_path / "b.txt").write_text(RU)
    monkeypatch.setattr(archive_mod, "MAX_TOTAL_BYTES", 20_000)
    e = _entries(ingest_path(tmp_path))
    reasons = [e[f"a.zip!m{i}.txt"]["reason"] for i in range(5)]
    assert reasons[:3] == [None, None, None] and reasons[3:] == ["archive_limit", "archive_limit"]
    monkeypatch.setattr(archive_mod, "MAX_MEMBERS", 3)
    e = _entries(ingest_path(tmp_path))
    assert e["a.zip"]["reason"] == "archive_limit" and "members" in e["a.zip"]["detail"]
    monkeypatch.setattr(archive_mod, "MAX_MEMBERS", 100)
    (tmp_path / "c.zip").write_bytes(_zip({"long.txt": ((EN + " ") * 300).encode()}))
    assert (tmp_path / "c.zip").stat().st_size < 10_000
    e = _entries(ingest_path(tmp_path, max_bytes=10_000))
    assert e["c.zip!long.txt"]["reason"] == "too_large"


def test_archive_single_gzip_read_by_inner_name(tmp_path):
    html = f"<html><body><p>{EN}</p></body></html>".encode()
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(EN.encode()))
    (tmp_path / "bomb.txt.gz").write_bytes(gzip.compress(b" " * (3 * 1024 * 1024)))
    (tmp_path / "page.html.gz").write_bytes(gzip.compress(html))
    corpus = ingest_path(tmp_path, max_bytes=1024 * 1024)
    e = _entries(corpus)
    assert e["notes.txt.gz"]["status"] == "ingested" and e["notes.txt.gz"]["compression"] == "gzip"
    assert "notes.txt.gz" in set(corpus.documents.source)
    assert e["bomb.txt.gz"]["reason"] == "archive_limit"
    assert e["page.html.gz"]["path"] == "page.html.gz"  # read by the HTML reader when it is there


def test_archive_corrupt_zip_fails_cleanly(tmp_path):
    raw = _zip({"a.txt": EN.encode()})
    (tmp_path / "broken.zip").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "ok.txt").write_text(RU)
    e = _entries(ingest_path(tmp_path))
    assert e["broken.zip"]["status"] == "failed" and e["broken.zip"]["reason"] == "parse_error"


def test_archive_real_zip_slip_fixtures(tmp_path):
    root = shared_or_skip("fixtures", "snyk-zip-slip-vulnerability")
    corpus = ingest_path(root)
    e = _entries(corpus)
    evil = [p for p in e if "evil" in p]
    assert len(evil) == 4 and all(e[p]["reason"] == "unsafe_member" for p in evil)
    assert not Path("/tmp/evil.txt").exists() or Path("/tmp/evil.txt").stat().st_mtime < __import__("time").time() - 3600


def test_archive_word_file_under_other_name_is_read_as_docx(tmp_path):
    (tmp_path / "report.txt").write_bytes(make_docx([EN]))
    (tmp_path / "sheet.zip").write_bytes(_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<x/>"}))
    corpus = ingest_path(tmp_path)
    e = _entries(corpus)
    assert e["report.txt"]["status"] == "ingested" and e["report.txt"]["format"] == "docx"
    assert list(corpus.documents.source) == ["report.txt"]
    assert e["sheet.zip"]["reason"] == "unsupported_format" and "Office" in e["sheet.zip"]["detail"]
