"""Zip and tar archives (and single-file gzip): members read in memory, never extracted to disk.

Each member is read with the reader its name and content call for and gets a manifest entry
of its own, ``archive.zip!folder/post.html``. Hostile archives are contained: names that
would escape a folder, links and devices are refused (``unsafe_member``), expanded sizes are
capped (``archive_limit``), and archives inside archives are not opened (``nested_archive``).
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_TOTAL_BYTES = 500 * 1024 * 1024
MAX_MEMBERS = 10_000
MAX_RATIO = 100
RATIO_MIN_BYTES = 1024 * 1024
ARCHIVE_FORMATS = ("zip", "tar", "gzip", "bzip2", "xz")
_TAR_NAMES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass
class Limits:
    max_member_bytes: int
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_members: int = MAX_MEMBERS
    max_ratio: float = MAX_RATIO


class ArchiveLimit(Exception):
    """The archive as a whole breaks a limit (too many members, expands too far)."""


@dataclass
class Member:
    """One archive member: its name, and either its bytes or why it was not read."""

    name: str
    data: bytes | None = None
    reason: str | None = None
    detail: str | None = None
    size: int | None = None


def is_tar(head: bytes) -> bool:
    return len(head) > 262 and head[257:262] == b"ustar"


def archive_kind(name: str, head: bytes) -> str | None:
    """``zip``, ``tar``, ``gzip``, ``bzip2`` or ``xz`` for an archive or compressed file, else None."""
    lower = name.lower()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if lower.endswith((".docx", ".xlsx", ".pptx", ".odt", ".epub")):
            return None
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and lower.endswith((".bz2", ".tbz2")):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if is_tar(head) or lower.endswith(".tar") and len(head) >= 512 and head[:1] != b"\x00" and _tar_checksum_ok(head):
        return "tar"
    return None


def _tar_checksum_ok(head: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
        return True
    except Exception:
        return False


def safe_name(raw_name: str) -> str | None:
    """The member name with forward slashes, or None when it could escape its folder.

    Absolute names (``/etc/x``, ``C:\\x``, ``\\\\server``), ``..`` components with either
    separator, and NUL bytes are unsafe.
    """
    if not raw_name or "\x00" in raw_name:
        return None
    name = raw_name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def display_name(name: str) -> str:
    """A member name that is valid UTF-8 (undecodable bytes shown as ``\\xNN``)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _hidden(name: str) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in name.split("/"))


def bounded_decompress(raw: bytes, kind: str, cap: int) -> bytes:
    """Decompress gzip/bzip2/xz ``raw`` but never past ``cap`` bytes (raises ArchiveLimit)."""
    if kind == "gzip":
        dec: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif kind == "bzip2":
        dec = bz2.BZ2Decompressor()
    else:
        dec = lzma.LZMADecompressor()
    out = bytearray()
    data = raw
    while True:
        if kind == "gzip":
            chunk = dec.decompress(data, cap + 1 - len(out))
            data = dec.unconsumed_tail
        else:
            chunk = dec.decompress(data, max_length=cap + 1 - len(out))
            data = b""
        out += chunk
        if len(out) > cap:
            raise ArchiveLimit(f"expands to more than {cap} bytes")
        if kind == "gzip":
            if dec.eof:
                rest = dec.unused_data
                if rest.strip(b"\x00"):  # concatenated gzip members
                    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
                    continue
                break
            if not data and not chunk:
                break
        else:
            if dec.eof or (not chunk and getattr(dec, "needs_input", True)):
                break
    return bytes(out)


def iter_zip(raw: bytes, limits: Limits) -> Iterator[Member]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"not a readable zip ({exc})") from None
    if len(infos) > limits.max_members:
        raise ArchiveLimit(f"{len(infos)} members > limit {limits.max_members}")
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        name = display_name(info.filename)
        mode = (info.external_attr >> 16) & 0xFFFF
        if mode and (stat.S_ISLNK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
            yield Member(name, reason="unsafe_member", detail="link or device member (not followed)")
            continue
        yield from _checked(name, info.file_size, info.compress_size, limits, total,
                            lambda info=info: _read_zip_member(zf, info, limits.max_member_bytes))
        if not _hidden(name):
            total += info.file_size
        if total > limits.max_total_bytes:
            total = limits.max_total_bytes + 1  # every later member is refused


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:  # the header lied about the size
        raise ArchiveLimit(f"expands past {cap} bytes")
    return data


def iter_tar(raw: bytes, limits: Limits) -> Iterator[Member]:
    try:
        tf = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"not a readable tar ({exc})") from None
    total = count = 0
    try:
        for info in tf:
            count += 1
            if count > limits.max_members:
                raise ArchiveLimit(f"more than {limits.max_members} members")
            if info.isdir():
                continue
            name = display_name(info.name)
            if not info.isfile():
                kind = "symlink" if info.issym() else "hard link" if info.islnk() else "device or special file"
                target = f" to {display_name(info.linkname)!r}" if info.linkname else ""
                yield Member(name, reason="unsafe_member", detail=f"{kind}{target} (not followed)")
                continue
            yield from _checked(name, info.size, None, limits, total,
                                lambda info=info: _read_tar_member(tf, info))
            if not _hidden(name):
                total += info.size
    except tarfile.TarError as exc:
        yield Member(f"(after member {count})", reason="parse_error", detail=f"tar damaged: {exc}")


def _read_tar_member(tf: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    fh = tf.extractfile(info)
    return fh.read() if fh is not None else b""


def _checked(name: str, size: int, compressed: int | None, limits: Limits, total: int,
             read: Callable[[], bytes]) -> Iterator[Member]:
    safe = safe_name(name)
    if safe is None:
        yield Member(name, reason="unsafe_member", detail="absolute name or '..' (would leave the folder)")
        return
    if _hidden(safe):
        return
    if size > limits.max_member_bytes:
        yield Member(safe, reason="too_large", detail=f"{size} bytes > limit {limits.max_member_bytes}", size=size)
        return
    if total + size > limits.max_total_bytes:
        yield Member(safe, reason="archive_limit",
                     detail=f"archive expands past {limits.max_total_bytes} bytes", size=size)
        return
    if compressed is not None and size > RATIO_MIN_BYTES and size > limits.max_ratio * max(compressed, 1):
        yield Member(safe, reason="archive_limit",
                     detail=f"compression ratio {size / max(compressed, 1):.0f}x > {limits.max_ratio:.0f}x "
                            f"(zip bomb?)", size=size)
        return
    try:
        data = read()
    except ArchiveLimit as exc:
        yield Member(safe, reason="archive_limit", detail=str(exc), size=size)
        return
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError) as exc:  # CRC errors, encrypted or odd compression
        reason = "encrypted" if "encrypted" in str(exc).lower() or "password" in str(exc).lower() else "parse_error"
        yield Member(safe, reason=reason, detail=f"{exc.__class__.__name__}: {str(exc)[:160]}", size=size)
        return
    yield Member(safe, data=data, size=len(data))


def iter_members(kind: str, raw: bytes, limits: Limits) -> Iterator[Member]:
    """The members of an archive of ``kind`` (``zip`` or ``tar``, tar possibly compressed)."""
    if kind == "zip":
        yield from iter_zip(raw, limits)
    else:
        yield from iter_tar(raw, limits)


def _office_package(raw: bytes) -> str | None:
    """``docx`` for a Word package, another label for other Office/ODF/EPUB zips, else None."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(raw)).namelist())
    except Exception:  # not readable as a zip: iter_zip reports it
        return None
    if "word/document.xml" in names:
        return "docx"
    if "[Content_Types].xml" in names:
        return "Office (Excel/PowerPoint)"
    if "mimetype" in names and ("content.xml" in names or "META-INF/container.xml" in names):
        return "OpenDocument/EPUB"
    return None


def inner_name(name: str) -> str:
    """``post.html.gz`` -> ``post.html``; ``x.tgz`` -> ``x.tar``."""
    lower = name.lower()
    for suffix, repl in ((".tgz", ".tar"), (".tbz2", ".tar"), (".txz", ".tar"),
                         (".gz", ""), (".bz2", ""), (".xz", "")):
        if lower.endswith(suffix):
            return name[: len(name) - len(suffix)] + repl
    return name


# --- the hook called by core.read_file ---------------------------------------------------------

def _rename(res, rel: str, inner: str):
    """A result read under the inner name (``x.html``) reported under the file's name (``x.html.gz``)."""
    import dataclasses

    res.entry["path"] = rel
    res.documents = [dataclasses.replace(d, source=rel + d.source[len(inner):])
                     if d.source.startswith(inner) else d for d in res.documents]
    return res


def read_archive(rel: str, raw: bytes, kind: str, entry: dict, defaults: dict, *,
                 text_column: str = "text", max_bytes: int, max_total_bytes: int | None = None):
    """Read an archive (or a compressed single file) into a FileResult whose ``members`` hold
    one FileResult per member; the archive's own entry says how many members gave text."""
    from .core import FileResult, _entry, read_file

    max_total_bytes = MAX_TOTAL_BYTES if max_total_bytes is None else max_total_bytes
    limits = Limits(max_member_bytes=max_bytes, max_total_bytes=max_total_bytes,
                    max_members=MAX_MEMBERS, max_ratio=MAX_RATIO)
    entry["format"] = kind
    members: list = []
    if kind in ("gzip", "bzip2", "xz"):
        inner = inner_name(rel)
        cap = max_total_bytes if inner.lower().endswith(".tar") else max_bytes
        try:
            data = bounded_decompress(raw, kind, cap)
        except ArchiveLimit as exc:
            entry.update(reason="archive_limit", detail=f"{kind}: {exc}")
            return FileResult(entry)
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            entry.update(status="failed", reason="parse_error", detail=f"{kind}: {exc.__class__.__name__}: {exc}")
            return FileResult(entry)
        if inner.lower().endswith(".tar") or is_tar(data[:8192]):
            kind, raw = "tar", data
            entry["format"] = f"tar+{entry['format']}"
        else:
            if inner == rel:
                inner = rel + ".out"
            if not data.strip():
                entry.update(reason="empty", detail=f"{kind} holds no data")
                return FileResult(entry)
            if archive_kind(inner, data[:8192]):
                entry.update(reason="nested_archive", detail=f"{kind} of an archive: not opened")
                return FileResult(entry)
            res = read_file(inner, None, defaults, text_column=text_column, max_bytes=max_bytes, raw=data)
            res = _rename(res, rel, inner)
            res.entry["sha256"], res.entry["size"] = entry["sha256"], entry["size"]
            res.entry["compression"] = kind
            res.entry["format"] = f"{res.entry.get('format')}+{kind}"
            return res
    if kind == "zip":
        package = _office_package(raw)
        if package == "docx":  # a Word file under another name (x.txt, x.zip): read it as one
            inner = rel + ".docx"
            res = _rename(read_file(inner, None, defaults, text_column=text_column, max_bytes=max_bytes, raw=raw),
                          rel, inner)
            res.entry["sha256"], res.entry["size"] = entry["sha256"], entry["size"]
            return res
        if package:
            entry.update(reason="unsupported_format", detail=f"{package} package (zip container); not read")
            return FileResult(entry)
    try:
        for m in iter_members(kind, raw, limits):
            mrel = f"{rel}!{m.name}"
            if m.reason:
                members.append(FileResult(_entry(mrel, reason=m.reason, detail=m.detail, size=m.size,
                                                 archive=rel)))
                continue
            if archive_kind(m.name, (m.data or b"")[:8192]):
                import hashlib

                members.append(FileResult(_entry(mrel, reason="nested_archive", size=m.size, archive=rel,
                                                 sha256=hashlib.sha256(m.data or b"").hexdigest(),
                                                 detail="archives inside archives are not opened")))
                continue
            res = read_file(mrel, None, defaults, text_column=text_column, max_bytes=max_bytes, raw=m.data)
            res.entry["archive"] = rel
            members.append(res)
    except ArchiveLimit as exc:
        entry.update(reason="archive_limit", detail=str(exc))
        return FileResult(entry, members=members)
    except ValueError as exc:
        entry.update(status="failed", reason="parse_error", detail=str(exc))
        return FileResult(entry, members=members)
    entry["members"] = len(members)
    good = sum(r.entry["status"] == "ingested" for r in members)
    if good:
        entry.update(status="ingested", reason=None, detail=f"{good} of {len(members)} members read")
    elif not members:
        entry.update(reason="empty", detail="archive holds no files")
    else:
        entry.update(reason="no_readable_member", detail=f"none of {len(members)} members gave text")
    return FileResult(entry, members=members)
