"""The transcoder's typed decoders give what the library's transcodings give
(adapters/transcoder.py; docs/adr/0014-fast-view-rebuild.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st

from adapters.transcoder import OrjsonTranscoder, uuid_from_hex


@given(st.uuids(version=None) | st.builds(UUID, int=st.integers(0, 2**128 - 1)))
def test_uuid_from_hex_equals_the_uuid_constructor(value: UUID) -> None:
    for text in (value.hex, str(value), value.hex.upper(), f"{{{value}}}", value.urn):
        built = uuid_from_hex(text)
        assert built == UUID(text) == value
        assert str(built) == str(value)
        assert built.hex == value.hex
        assert hash(built) == hash(value)
        assert built.int == value.int
        assert built.version == value.version
        assert built.is_safe == value.is_safe


REFUSED = "badly formed hexadecimal UUID string|invalid literal for int"


@pytest.mark.parametrize("text", ["", "0" * 31, "g" * 32, "0" * 33, "-" * 36, "12345678-1234"])
def test_uuid_from_hex_refuses_what_the_constructor_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=REFUSED):
        UUID(text)
    with pytest.raises(ValueError, match=REFUSED):
        uuid_from_hex(text)


def transcoders() -> tuple[OrjsonTranscoder, JSONTranscoder]:
    fast, plain = OrjsonTranscoder(), JSONTranscoder()
    for transcoder in (fast, plain):
        transcoder.register(UUIDAsHex())
        transcoder.register(DatetimeAsISO())
    return fast, plain


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.uuids()
        | st.datetimes(timezones=st.just(UTC))
        | st.lists(st.uuids(), max_size=3)
        | st.dictionaries(st.text(max_size=3), st.datetimes(), max_size=2),
        max_size=5,
    )
)
def test_typed_decoders_decode_as_the_library_does(state: dict[str, object]) -> None:
    fast, plain = transcoders()
    data = plain.encode(state)
    assert fast.decode(data) == plain.decode(data) == state


@pytest.mark.parametrize(
    "payload", [b'{"_type_": "uuid_hex", "_data_": 7}', b'{"_type_": "datetime_iso", "_data_": []}']
)
def test_a_malformed_envelope_is_an_error(payload: bytes) -> None:
    fast, _ = transcoders()
    with pytest.raises(TypeError):
        fast.decode(payload)


def test_a_datetime_decodes_to_an_equal_aware_instant() -> None:
    fast, plain = transcoders()
    instant = datetime(2024, 8, 19, 6, 30, 0, 500, tzinfo=UTC)
    data = plain.encode({"at": instant})
    assert fast.decode(data)["at"] == instant == plain.decode(data)["at"]
