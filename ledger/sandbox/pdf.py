"""A tiny one-page PDF writer for sandbox invoice copies (text lines in Helvetica, no dependencies)."""

from __future__ import annotations

from collections.abc import Sequence

_MAX_LINES = 52


def _pdf_text(text: str) -> bytes:
    """Escape a line for a PDF literal string; characters outside Latin-1 become '?'."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("latin-1", errors="replace")


def render_pdf(lines: Sequence[str], *, title: str = "") -> bytes:
    """Return a valid one-page A4 PDF showing `lines`; the same input always gives the same bytes.

    The first line is set as a bold heading. Extra lines beyond one page are cut.
    """
    shown = list(lines[:_MAX_LINES])
    stream = b"BT /F2 16 Tf 56 790 Td 20 TL (" + _pdf_text(shown[0] if shown else "") + b") Tj T* /F1 10 Tf 14 TL"
    for line in shown[1:]:
        stream += b" T* (" + _pdf_text(line) + b") Tj"
    stream += b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 6 0 R"
        b" /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Title (" + _pdf_text(title) + b") /Producer (ledger sandbox) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)
