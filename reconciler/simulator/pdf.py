"""A minimal PDF writer for the simulator's run report: one page of plain text lines.

Written by hand rather than with a library: the page is a few lines of Helvetica, and the
structure a reader needs (objects, a cross-reference table with exact byte offsets, a trailer)
is a few dozen lines. Text is reduced to printable ASCII, which the standard font shows as is.
"""

from __future__ import annotations

from collections.abc import Sequence

_PAGE_WIDTH, _PAGE_HEIGHT = 612, 792  # US Letter, in points
_FONT_SIZE, _LEADING, _MARGIN = 11, 15, 56


def _escape(text: str) -> bytes:
    """``text`` as the inside of a PDF literal string: ASCII, with ``\\``, ``(``, ``)`` escaped."""
    ascii_text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("ascii")


def text_pdf(lines: Sequence[str], *, title: str) -> bytes:
    """A valid one-page PDF showing ``lines`` top to bottom (as many as fit on the page)."""
    fitting = (_PAGE_HEIGHT - 2 * _MARGIN) // _LEADING
    content = b"BT /F1 %d Tf %d TL %d %d Td\n" % (
        _FONT_SIZE,
        _LEADING,
        _MARGIN,
        _PAGE_HEIGHT - _MARGIN,
    )
    content += b"".join(b"(%s) Tj T*\n" % _escape(line) for line in lines[:fitting])
    content += b"ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>" % (_PAGE_WIDTH, _PAGE_HEIGHT),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Title (%s) /Producer (reconciler simulator) >>" % _escape(title),
    ]
    # The binary comment line tells transfer tools the file is not text.
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    # Each entry is exactly 20 bytes: 10-digit offset, 5-digit generation, type, CR-less EOL.
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        len(objects),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)
