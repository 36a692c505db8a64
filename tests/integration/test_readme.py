"""The embedding example in README.md runs as written.

The first ```python block of the README is extracted and executed in a fresh namespace, so the
documented way to embed miljo cannot drift from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def first_python_block(text: str) -> str | None:
    """The body of the first fenced ```python block in ``text``, or None if there is none."""
    match = PYTHON_BLOCK.search(text)
    return None if match is None else match.group(1)


def test_first_python_block_is_found() -> None:
    text = "intro\n```sh\nmake demo\n```\n```python\nx = 1\n```\n```python\ny = 2\n```\n"
    assert first_python_block(text) == "x = 1\n"
    assert first_python_block("```sh\nmake demo\n```\n") is None


def test_readme_embedding_example_runs() -> None:
    if not README.is_file():
        pytest.fail(f"{README} is missing; it must document how to embed miljo")
    block = first_python_block(README.read_text(encoding="utf-8"))
    if block is None or not block.strip():
        pytest.fail(f"{README} has no ```python block; the embedding example must be one")
    assert "open_store" in block, "the README example must show the composition root"
    code = compile(block, f"{README.name} (first python block)", "exec")
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(code, namespace)  # noqa: S102 - the README's own example, run as documented
