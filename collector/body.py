"""Read a request body with a hard bound on its size after decompression.

The bound is enforced while streaming, so neither a large upload nor a gzip bomb ever
materialises more than ``limit`` bytes (plus one read chunk) in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from collector.errors import BodyTooLarge, MalformedRequest, UnsupportedMediaType

_GZIP_WBITS = 16 + zlib.MAX_WBITS


async def read_bounded(chunks: AsyncIterator[bytes], encoding: str, limit: int) -> bytes:
    """Concatenate ``chunks``, gunzipping when ``encoding`` is gzip, never exceeding ``limit``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return await _read_plain(chunks, limit)
    if encoding == "gzip":
        return await _read_gzip(chunks, limit)
    raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}; use gzip or none")


async def _read_plain(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"request body exceeds the {limit}-byte limit")
    return bytes(body)


async def _read_gzip(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    inflater = zlib.decompressobj(_GZIP_WBITS)
    body = bytearray()
    try:
        async for chunk in chunks:
            _inflate_into(body, inflater, chunk, limit)
        body += inflater.flush(limit + 1 - len(body))
    except zlib.error as error:
        raise MalformedRequest(f"invalid gzip body: {error}") from error
    if len(body) > limit:
        raise BodyTooLarge(f"decompressed body exceeds the {limit}-byte limit")
    if not inflater.eof:
        raise MalformedRequest("truncated gzip body")
    return bytes(body)


def _inflate_into(body: bytearray, inflater: zlib._Decompress, data: bytes, limit: int) -> None:
    # max_length caps each step's output; what is left waits in unconsumed_tail.
    while data:
        body += inflater.decompress(data, limit + 1 - len(body))
        if len(body) > limit:
            raise BodyTooLarge(f"decompressed body exceeds the {limit}-byte limit")
        data = inflater.unconsumed_tail
