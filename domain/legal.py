"""Legal references for vedtak, held as data (``domain/data/legal_references.json``).

Section numbers of the Education Act and the Public Administration Act are never literals in
Python code: they live in the packaged data file, which marks each reference as verified or
not, and a deployment may supply its own mapping with :meth:`LegalReferences.from_mapping`.
The same file holds the appeal deadline (in days from the notice) and the appeal body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import attrs

from domain.errors import InvalidValue
from domain.vedtak import VedtakKind

DATA_PACKAGE = "domain"
DATA_RESOURCE = "data/legal_references.json"
_MAX_DEADLINE_DAYS = 366


@attrs.frozen
class LegalReference:
    """One statutory reference, e.g. the section a vedtak kind is decided under."""

    reference: str
    verified: bool


@attrs.frozen
class AppealRules:
    """Who hears an appeal against a vedtak and how long the parties have to lodge it."""

    body: str
    deadline_days: int
    reference: str
    verified: bool

    def deadline_for(self, notice_date: date) -> date:
        """The last day to appeal when the notice reached the parties on ``notice_date``."""
        return notice_date + timedelta(days=self.deadline_days)


@attrs.frozen
class LegalReferences:
    """The legal references a deployment uses: per vedtak kind, for reasons and for appeal."""

    law: str
    kinds: dict[VedtakKind, LegalReference]
    reasons: LegalReference
    appeal: AppealRules

    def reference_for(self, kind: VedtakKind | str) -> str:
        """The statutory reference a vedtak of ``kind`` is decided under."""
        return self._entry(kind).reference

    def is_verified(self, kind: VedtakKind | str) -> bool:
        """Whether the reference for ``kind`` has been checked against the statute."""
        return self._entry(kind).verified

    def unverified(self) -> list[str]:
        """Names of the entries not yet checked (kinds by value, then 'reasons', 'appeal')."""
        names = [k.value for k, ref in self.kinds.items() if not ref.verified]
        if not self.reasons.verified:
            names.append("reasons")
        if not self.appeal.verified:
            names.append("appeal")
        return names

    def _entry(self, kind: VedtakKind | str) -> LegalReference:
        try:
            return self.kinds[VedtakKind(kind)]
        except ValueError:
            raise InvalidValue("vedtak kind", _kind_choices()) from None

    # -- loading --------------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LegalReferences:
        """Build from a mapping shaped like the packaged JSON file; every kind is required."""
        if not isinstance(data, Mapping):
            raise InvalidValue("legal references", "must be a mapping")
        law = _text(data.get("law", ""), "legal references law", required=False)
        raw_kinds = data.get("kinds")
        if not isinstance(raw_kinds, Mapping):
            raise InvalidValue("legal references kinds", "must be a mapping of kind to reference")
        unknown = sorted(set(raw_kinds) - {k.value for k in VedtakKind})
        if unknown:
            raise InvalidValue("legal references kinds", f"unknown kind {unknown[0]!r}")
        kinds: dict[VedtakKind, LegalReference] = {}
        for kind in VedtakKind:
            if kind.value not in raw_kinds:
                raise InvalidValue("legal references kinds", f"missing kind {kind.value!r}")
            kinds[kind] = _reference(raw_kinds[kind.value], f"legal reference for {kind.value}")
        reasons = _reference(data.get("reasons"), "legal reference for reasons")
        raw_appeal = data.get("appeal")
        appeal_ref = _reference(raw_appeal, "legal reference for appeal")
        raw_appeal = raw_appeal if isinstance(raw_appeal, Mapping) else {}
        days = raw_appeal.get("deadline_days")
        if isinstance(days, bool) or not isinstance(days, int):
            raise InvalidValue("appeal deadline days", "must be a whole number of days")
        if not 1 <= days <= _MAX_DEADLINE_DAYS:
            raise InvalidValue("appeal deadline days", f"must be from 1 to {_MAX_DEADLINE_DAYS}")
        body = _text(raw_appeal.get("body"), "appeal body")
        appeal = AppealRules(
            body=body,
            deadline_days=days,
            reference=appeal_ref.reference,
            verified=appeal_ref.verified,
        )
        return cls(law=law, kinds=kinds, reasons=reasons, appeal=appeal)

    @classmethod
    def from_json(cls, text: str | bytes) -> LegalReferences:
        """Build from JSON text shaped like the packaged data file."""
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidValue("legal references", "must be valid JSON") from None
        return cls.from_mapping(data)

    @classmethod
    def default(cls) -> LegalReferences:
        """The references packaged with miljo (``domain/data/legal_references.json``)."""
        return _packaged()


@cache
def _packaged() -> LegalReferences:
    text = files(DATA_PACKAGE).joinpath(DATA_RESOURCE).read_text(encoding="utf-8")
    return LegalReferences.from_json(text)


def _kind_choices() -> str:
    return "must be one of: " + ", ".join(k.value for k in VedtakKind)


def _text(value: object, what: str, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidValue(what, "must be text")
    if required and not value.strip():
        raise InvalidValue(what, "must not be empty")
    if len(value) > 200:
        raise InvalidValue(what, "must be at most 200 characters")
    return value


def _reference(value: object, what: str) -> LegalReference:
    if not isinstance(value, Mapping):
        raise InvalidValue(what, "must be a mapping with 'reference' and 'verified'")
    verified = value.get("verified")
    if not isinstance(verified, bool):
        raise InvalidValue(what, "'verified' must be true or false")
    return LegalReference(reference=_text(value.get("reference"), what), verified=verified)
