"""``ViewReader.select_any``: rows whose column equals any of many values, on every backend."""

from __future__ import annotations

import pytest

from adapters.views import ANY_CHUNK, ViewError
from domain.facade import Miljo
from tests.integration.conftest import GJESDAL, Gjesdal, register_test_student


def test_rows_of_any_of_the_values_across_chunks(store: Miljo, gjesdal: Gjesdal) -> None:
    students = [str(register_test_student(store, number=f"{2000 + n}")) for n in range(3)]
    store.catch_up()
    # More values than one IN list takes: unknown ids on either side of the real ones.
    unknown = [f"ffffffff-ffff-4fff-bfff-{n:012d}" for n in range(ANY_CHUNK + 7)]
    values = [*unknown[: ANY_CHUNK - 1], *students, *unknown[ANY_CHUNK - 1 :]]
    rows = store.views.select_any("students", "student_id", values)
    assert sorted(r["student_id"] for r in rows) == sorted(students)
    assert all(r["school"] == GJESDAL for r in rows)
    one_by_one = [r for s in students for r in store.views.select("students", {"student_id": s})]
    assert sorted(rows, key=str) == sorted(one_by_one, key=str)
    assert store.views.select_any("students", "student_id", []) == []
    assert store.views.select_any("students", "student_id", unknown[:3]) == []


def test_a_column_the_table_lacks_is_refused(store: Miljo) -> None:
    with pytest.raises(ViewError, match="unknown column name in students"):
        store.views.select_any("students", "name", ["Kari"])
