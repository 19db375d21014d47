"""The HTTP response inside a WARC `response` record: status, headers, decoded body.

WARC readers get the record block as bytes (so they can check it is complete against
`Content-Length`); this undoes the HTTP framing that crawlers store verbatim: chunked transfer
encoding and gzip/deflate content encoding. Bodies that say they are compressed but are not
(some crawlers store the decoded body with the original headers) are kept as they are.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

_HEADER_END = (b"\r\n\r\n", b"\n\n")


@dataclass(frozen=True)
class HttpResponse:
    status: int | None
    headers: dict[str, str]  # lower-cased names; the last value wins
    body: bytes

    @property
    def content_type(self) -> str:
        """Media type without parameters, lower-cased (`text/html`); '' when absent."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


class HttpParseError(ValueError):
    """The block does not start with an HTTP status line and headers."""


def parse_http_response(block: bytes, max_body: int) -> HttpResponse:
    """Split a WARC response block into status, headers and a decoded body (at most `max_body`
    bytes after decoding; longer bodies are cut, which only affects text beyond `max_chars`)."""
    end, sep = -1, b""
    for candidate in _HEADER_END:
        end = block.find(candidate, 0, 1 << 16)
        if end >= 0:
            sep = candidate
            break
    if end < 0 or not block.startswith(b"HTTP/"):
        raise HttpParseError("no HTTP status line and headers")
    lines = block[:end].decode("latin-1").splitlines()
    parts = lines[0].split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    body = block[end + len(sep):]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = _inflate(body, encoding, max_body)
    return HttpResponse(status=status, headers=headers, body=body[:max_body])


def _dechunk(body: bytes) -> bytes:
    """Undo chunked transfer encoding; the body as stored when it is not actually chunked."""
    out, pos = [], 0
    while pos < len(body):
        line_end = body.find(b"\n", pos)
        if line_end < 0:
            return body if not out else b"".join(out)
        size_text = body[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return body if not out else b"".join(out)
        if size == 0:
            break
        start = line_end + 1
        out.append(body[start:start + size])
        pos = start + size
        if body[pos:pos + 2] == b"\r\n":
            pos += 2
        elif body[pos:pos + 1] == b"\n":
            pos += 1
    return b"".join(out)


def _inflate(body: bytes, encoding: str, max_body: int) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if body[:2] == b"\x1f\x8b" else (
        zlib.MAX_WBITS if encoding == "deflate" and body[:1] == b"\x78" else None)
    if wbits is None:
        if encoding == "deflate":
            wbits = -zlib.MAX_WBITS
        else:
            return body  # labelled gzip but stored decoded
    try:
        out = zlib.decompressobj(wbits).decompress(body, max_body)
    except zlib.error as exc:
        if wbits > 0:  # it starts like compressed data, so it is broken, not stored decoded
            raise HttpParseError(f"broken {encoding} content encoding: {exc}") from exc
        return body
    if not out and body:
        raise HttpParseError(f"broken {encoding} content encoding: no data decompressed")
    return out
