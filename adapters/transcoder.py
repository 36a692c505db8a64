"""An orjson transcoder that is byte-compatible with the library's ``JSONTranscoder``.

Stored events written by either transcoder are readable by the other (tests pin this with
golden payloads and with the library's own ``TranscoderTestCase``). Custom types keep the
library's ``{"_type_": name, "_data_": ...}`` envelope, so every ``Transcoding`` registered on
the application keeps working. See docs/adr/0004-orjson-transcoder.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

_NATIVE_SCALARS = (str, int, float, bool, type(None))
_UNKNOWN_SAFETY = SafeUUID.unknown  # an enum member: looked up once, not per UUID


def uuid_from_hex(text: str) -> UUID:
    """``UUID(text)`` for the 32 hex digits of ``UUID.hex`` (or the 36-character hyphenated
    form), built without ``UUID.__init__``'s parsing; any other form goes through it."""
    if len(text) == 36 and text[8] == "-" and text[13] == "-" and text[18] == "-":
        text = text.replace("-", "")
    if len(text) != 32:
        return UUID(text)
    value = object.__new__(UUID)
    object.__setattr__(value, "int", int(text, 16))
    object.__setattr__(value, "is_safe", _UNKNOWN_SAFETY)
    return value


def _uuid_decode(data: Any) -> UUID:
    if type(data) is not str:
        if not isinstance(data, str):
            raise TypeError("a uuid_hex value must be a string")
        return uuid_from_hex(data)
    if len(data) != 32:  # the hyphenated form or something UUID() must judge
        return uuid_from_hex(data)
    value = object.__new__(UUID)  # the 32 hex digits UUIDAsHex writes: as uuid_from_hex
    object.__setattr__(value, "int", int(data, 16))
    object.__setattr__(value, "is_safe", _UNKNOWN_SAFETY)
    return value


def _datetime_decode(data: Any) -> datetime:
    if not isinstance(data, str):
        raise TypeError("a datetime_iso value must be a string")
    return datetime.fromisoformat(data)


#: The library's own transcodings of the types every event carries, by class: the same
#: results (tests/contract/test_transcoder.py), decoded without the generic method call.
_FAST_DECODERS: dict[type[Transcoding], Callable[[Any], Any]] = {
    UUIDAsHex: _uuid_decode,
    DatetimeAsISO: _datetime_decode,
}


class OrjsonTranscoder(JSONTranscoder):
    """``JSONTranscoder`` with orjson doing the byte work.

    Encoding pre-walks the object: registered types (by exact type, as the library does)
    become envelopes, tuples become lists, everything else orjson writes natively.
    Decoding parses with orjson and rebuilds envelopes bottom-up, like ``object_hook``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._decoders: dict[str, Callable[[Any], Any]] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        fast = _FAST_DECODERS.get(type(transcoding))
        self._decoders[transcoding.name] = fast if fast is not None else transcoding.decode

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._prepare(obj))

    def decode(self, data: bytes) -> Any:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"stored payload is not valid JSON: {error}") from None
        return self._restore(parsed)

    # -- encoding -----------------------------------------------------------------------------

    def _prepare(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _NATIVE_SCALARS:
            return obj
        transcoding = self.types.get(kind)
        if transcoding is not None:
            return {"_type_": transcoding.name, "_data_": self._prepare(transcoding.encode(obj))}
        if kind is dict:
            return {key: self._prepare(value) for key, value in obj.items()}
        if kind is list or kind is tuple:
            return [self._prepare(value) for value in obj]
        # Subclasses the stdlib json module writes natively (str/int enums, dict/list subclasses).
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, bool | int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, dict):
            return {key: self._prepare(value) for key, value in obj.items()}
        if isinstance(obj, list | tuple):
            return [self._prepare(value) for value in obj]
        msg = (
            f"Object of type {kind} is not serializable. Please define and register "
            "a custom transcoding for this type."
        )
        raise TranscodingNotRegisteredError(msg)

    # -- decoding -----------------------------------------------------------------------------

    def _restore(self, obj: Any) -> Any:
        """Rebuild envelopes bottom-up, like ``object_hook``; containers freshly parsed by
        orjson are updated in place (only nested dicts and lists are visited)."""
        kind = type(obj)
        if kind is dict:
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                return self._envelope(obj)
            for key, value in obj.items():
                inner = type(value)
                if inner is dict:
                    if len(value) == 2 and "_type_" in value and "_data_" in value:
                        obj[key] = self._envelope(value)
                    else:
                        obj[key] = self._restore(value)
                elif inner is list:
                    obj[key] = self._restore(value)
            return obj
        if kind is list:
            for index, value in enumerate(obj):
                inner = type(value)
                if inner is dict or inner is list:
                    obj[index] = self._restore(value)
            return obj
        return obj

    def _envelope(self, obj: dict[str, Any]) -> Any:
        data = obj["_data_"]
        if type(data) is dict or type(data) is list:
            data = self._restore(data)
        name = obj["_type_"]
        decode = self._decoders.get(name) if isinstance(name, str) else None
        if decode is None:
            return self._from_envelope(name, data)
        return decode(data)

    def _from_envelope(self, name: Any, data: Any) -> Any:
        transcoding: Transcoding | None = self.names.get(name) if isinstance(name, str) else None
        if transcoding is None:
            msg = (
                f"Data serialized with name '{name}' is not deserializable. "
                "Please register a custom transcoding for this type."
            )
            raise TranscodingNotRegisteredError(msg)
        return transcoding.decode(data)
