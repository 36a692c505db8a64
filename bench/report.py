"""The result: one Markdown table of absolute figures and ratios, the stores, the targets."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from bench.common import Row
from bench.generate import Manifest

#: Physical rows are compared the other way round: the baseline as a share of the limit.
PHYSICAL_BASIS = {
    "physical.insert": "baseline.save100",
    "physical.read": "baseline.select",
    "physical.wal1": "baseline.save1",
}


def _find(rows: Sequence[Row], key: str, size: str = "") -> Row | None:
    for row in rows:
        if row.key == key and (not size or row.size == size):
            return row
    return None


def _basis_row(rows: Sequence[Row], basis: str, sizes: Sequence[str], size: str) -> Row | None:
    """The row named by ``basis``: a key, ``key@first`` (at the smallest size of the run) or
    ``key@size`` (at the same size as the row)."""
    if basis == "baseline.get.10000":
        basis = "baseline.get"
    if basis.endswith("@first"):
        return _find(rows, basis.removesuffix("@first"), sizes[0]) if sizes else None
    if basis.endswith("@size"):
        return _find(rows, basis.removesuffix("@size"), size)
    return _find(rows, basis)


def with_ratios(rows: Sequence[Row], sizes: Sequence[str]) -> list[Row]:
    """Fill ``ratio`` (this ÷ basis; for physical rows, basis ÷ this) and its description."""
    done = []
    for row in rows:
        basis_key = PHYSICAL_BASIS.get(row.key, row.basis)
        basis = _basis_row(rows, basis_key, sizes, row.size) if basis_key else None
        if basis is None or basis.value is None or row.value is None or not basis.value:
            done.append(row)
            continue
        if row.key in PHYSICAL_BASIS:
            ratio, text = basis.value / row.value, f"{basis.label} ÷ this"
        elif basis_key.endswith("@first"):
            ratio, text = row.value / basis.value, f"this ÷ the same at {basis.size}"
        elif basis_key.endswith("@size"):
            ratio, text = row.value / basis.value, f"this ÷ {basis.label} ({basis.size})"
        else:
            ratio, text = row.value / basis.value, f"this ÷ {basis.label}"
        done.append(attrs.evolve(row, ratio=ratio, basis=text))
    return done


def number(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    if unit in ("ms",) and value < 100:
        return f"{value:,.2f}"
    if value < 100:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| section | measurement | size | value | unit | ratio | ratio of | note |",
        "| --- | --- | --- | ---: | --- | ---: | --- | --- |",
    ]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}×"
        value = number(row.value, row.unit) if row.value is not None else "n/a"
        lines.append(
            f"| {row.section} | {row.label} | {row.size or '-'} | {value} | {row.unit} | "
            f"{ratio} | {row.basis if row.ratio is not None else ''} | {row.note} |"
        )
    return lines


@attrs.frozen
class Target:
    name: str
    verdict: str  # "met", "missed" or "not measured"
    detail: str

    def line(self) -> str:
        return f"- **{self.verdict}**: {self.name}: {self.detail}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def targets(
    rows: Sequence[Row], sizes: Sequence[str], manifests: Mapping[str, Manifest]
) -> list[Target]:
    found: list[Target] = []
    select = _find(rows, "baseline.select")
    name = "command writes ≥ 0.8× raw 1-event saves"
    for size in sizes:
        # the raw saves measured between the command batches, else the baseline's
        save1 = _find(rows, "miljo.save1", size) or _find(rows, "baseline.save1")
        for key, what in (("miljo.observe", "record an observation"), ("miljo.assign", "assign")):
            row = _find(rows, key, size)
            if row is None or row.value is None or save1 is None or save1.value is None:
                found.append(Target(name, "not measured", f"{what} at {size}"))
                continue
            ratio = row.value / save1.value
            found.append(
                Target(
                    name,
                    _verdict(ratio >= 0.8),
                    f"{what} at {size}: {row.value:,.0f} vs {save1.value:,.0f}/s = {ratio:.2f}×",
                )
            )
    name = "full rebuild ≥ 1.0× raw select + decode"
    for size in sizes:
        row = _find(rows, "miljo.rebuild", size)
        if row is None or row.value is None or select is None or select.value is None:
            found.append(Target(name, "not measured", size))
            continue
        ratio = row.value / select.value
        found.append(
            Target(
                name,
                _verdict(ratio >= 1.0),
                f"at {size}: {row.value:,.0f} vs {select.value:,.0f} events/s = {ratio:.2f}×",
            )
        )
    name = "overview at 1M ≤ 1.2× its time at 10k"
    small, big = _find(rows, "miljo.overview", "10k"), _find(rows, "miljo.overview", "1M")
    if small is not None and big is not None and small.value and big.value is not None:
        ratio = big.value / small.value
        found.append(
            Target(
                name,
                _verdict(ratio <= 1.2),
                f"{big.value:,.1f} ms vs {small.value:,.1f} ms = {ratio:.2f}×",
            )
        )
    else:
        measured = [r for r in rows if r.key == "miljo.overview" and r.value is not None]
        detail = "needs the 10k and 1M sizes in one run"
        if len(measured) >= 2 and measured[0].value:
            last = measured[-1]
            assert last.value is not None
            detail += f"; {last.size} vs {measured[0].size}: {last.value / measured[0].value:.2f}×"
        found.append(Target(name, "not measured", detail))
    name = "as-of history of a 10,000-event student ≤ 2× raw repository.get of the same stream"
    raw = _find(rows, "baseline.get")
    any_long = False
    for size in sizes:
        manifest = manifests.get(size)
        if manifest is None or manifest.long_events != 10_000:
            continue
        any_long = True
        for key, what in (
            ("miljo.history", "history(as_of)"),
            ("miljo.case_as_of", "student_case_as_of"),
        ):
            row = _find(rows, key, size)
            if row is None or row.value is None or raw is None or raw.value is None:
                found.append(Target(name, "not measured", f"{what} at {size}"))
                continue
            ratio = row.value / raw.value
            found.append(
                Target(
                    name,
                    _verdict(ratio <= 2.0),
                    f"{what} at {size}: {row.value:,.1f} ms vs {raw.value:,.1f} ms = {ratio:.2f}×",
                )
            )
    if not any_long:
        found.append(
            Target(
                name,
                "not measured",
                "no store with a 10,000-event student in this run (100k and 1M have one)",
            )
        )
    name = "rebuild of 1M under 300 MB RSS"
    rss = _find(rows, "miljo.rss", "1M")
    if rss is not None and rss.value is not None:
        found.append(Target(name, _verdict(rss.value < 300), f"peak {rss.value:,.0f} MB"))
    else:
        biggest = [r for r in rows if r.key == "miljo.rss" and r.value is not None]
        detail = "needs the 1M size"
        if biggest and biggest[-1].value is not None:
            detail += f"; peak at {biggest[-1].size}: {biggest[-1].value:,.0f} MB"
        found.append(Target(name, "not measured", detail))
    return found


def stores_table(manifests: Mapping[str, Manifest], built: Mapping[str, bool]) -> list[str]:
    lines = [
        "| size | events | schools | students | school days | long-history student | generated |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for size, m in manifests.items():
        how = "now" if built.get(size) else "cache"
        lines.append(
            f"| {size} | {m.events:,} | {m.schools} | {m.students:,} | {m.first_day} to "
            f"{m.last_day} | {m.long_events:,} events | {how}: {m.rate:,.0f} events/s "
            f"({m.seconds:,.0f} s, python -O) |"
        )
    return lines


def render(
    *,
    title: str,
    started: datetime,
    command: str,
    info: Mapping[str, str],
    seed: int,
    version: str,
    rows: Sequence[Row],
    manifests: Mapping[str, Manifest],
    built: Mapping[str, bool],
    found: Sequence[Target],
    seconds: float,
) -> str:
    machine = ", ".join(f"{k} {v}" for k, v in info.items())
    lines = [
        f"## {started:%Y-%m-%d %H:%M} UTC: {title}",
        "",
        f"`{command}`: seed {seed}, code version {version}, {seconds:,.0f} s in all.",
        "",
        f"Machine: {machine}.",
        "",
        "Stores:",
        "",
        *stores_table(manifests, built),
        "",
        *table(rows),
        "",
        "Targets:",
        "",
        *(t.line() for t in found),
        "",
    ]
    return "\n".join(lines)
