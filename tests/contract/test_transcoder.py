"""The orjson transcoder passes the library's own TranscoderTestCase and is byte-compatible
with the library's JSONTranscoder in both directions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from eventsourcing.tests import persistence as library_suites
from hypothesis import given
from hypothesis import strategies as st

from adapters.transcoder import OrjsonTranscoder
from domain.codec import DateAsISO


# The library's TranscoderTestCase expects these transcodings; its own repository defines
# them in a test module that the wheel does not ship, so they are written here.
class TupleAsList(Transcoding):
    type = tuple
    name = "tuple_as_list"

    def encode(self, obj: tuple[Any, ...]) -> list[Any]:
        return list(obj)

    def decode(self, data: list[Any]) -> tuple[Any, ...]:
        return tuple(data)


class _Subclass(Transcoding):
    def __init__(self, cls: type[Any], base: type[Any], name: str) -> None:
        self.type = cls
        self.base = base
        self.name = name

    def encode(self, obj: Any) -> Any:
        return self.base(obj)

    def decode(self, data: Any) -> Any:
        return self.type(data)


class CustomType1AsDict(Transcoding):
    type = library_suites.CustomType1
    name = "custom_type1_as_dict"

    def encode(self, obj: Any) -> UUID:
        value: UUID = obj.value
        return value

    def decode(self, data: UUID) -> Any:
        return library_suites.CustomType1(value=data)


class CustomType2AsDict(Transcoding):
    type = library_suites.CustomType2
    name = "custom_type2_as_dict"

    def encode(self, obj: Any) -> Any:
        return obj.value

    def decode(self, data: Any) -> Any:
        return library_suites.CustomType2(data)


def _register_all(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (
        UUIDAsHex(),
        DecimalAsStr(),
        DatetimeAsISO(),
        DateAsISO(),
        TupleAsList(),
        _Subclass(library_suites.Mydict, dict, "mydict"),
        _Subclass(library_suites.MyList, list, "mylist"),
        _Subclass(library_suites.MyStr, str, "mystr"),
        _Subclass(library_suites.MyInt, int, "myint"),
        CustomType1AsDict(),
        CustomType2AsDict(),
    ):
        transcoder.register(transcoding)
    return transcoder


class TestOrjsonTranscoderWithLibrarySuite(library_suites.TranscoderTestCase):
    """The library's suite expects registered transcodings to win over json's native
    handling of tuples and str/int/dict/list subclasses; ours does (by exact type)."""

    def construct_transcoder(self) -> Transcoder:
        return _register_all(OrjsonTranscoder())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text()
    | st.uuids()
    | st.dates()
    | st.datetimes(timezones=st.just(UTC))
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_byte_compatible_with_library_transcoder(value: Any) -> None:
    ours = _register_all(OrjsonTranscoder())
    theirs = _register_all(JSONTranscoder())
    encoded = ours.encode(value)
    assert encoded == theirs.encode(value)
    assert ours.decode(encoded) == theirs.decode(encoded) == value


def test_unregistered_type_is_refused() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        OrjsonTranscoder().encode({"when": date(2024, 1, 1)})


def test_invalid_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        OrjsonTranscoder().decode(b"{not json")


def test_unknown_envelope_name_is_refused() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        OrjsonTranscoder().decode(b'{"_type_":"nope","_data_":1}')


def test_known_payload_bytes() -> None:
    value = {
        "at": datetime(2024, 9, 2, 8, 30, tzinfo=UTC),
        "on": date(2024, 9, 2),
        "id": UUID(int=1),
        "hours": Decimal("1912.5"),
        "text": "Ærlig talt, øy og å",
    }
    expected = (
        '{"at":{"_type_":"datetime_iso","_data_":"2024-09-02T08:30:00+00:00"},'
        '"on":{"_type_":"date_iso","_data_":"2024-09-02"},'
        '"id":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"},'
        '"hours":{"_type_":"decimal_str","_data_":"1912.5"},'
        '"text":"Ærlig talt, øy og å"}'
    ).encode()
    assert _register_all(OrjsonTranscoder()).encode(value) == expected
