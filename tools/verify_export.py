#!/usr/bin/env python3
"""Verify a miljo audit export with the sealing key, independently of miljo.

Standard library only. Usage::

    python3 verify_export.py EXPORT.jsonl SEALING_KEY_FILE

The sealing key file holds the base64 of 32 bytes (``<store>.keys/sealing.key``). Prints one
JSON object and exits 0 when the chain is intact, 1 when it is broken (naming the first
position that fails: after a gap in positions, the first missing one), 2 on a usage or
format error (a malformed export, or a key that is not base64 of 32 bytes). The chain is
documented in docs/audit-export.md:

    link(n) = HMAC-SHA256(key, link(n-1) || u64(n) || uuid_bytes(originator_id)
                               || u64(version) || u32(len(topic)) || topic
                               || u32(len(state)) || state)
    link(0) = 32 zero bytes; integers big-endian; topic UTF-8; state the stored bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct
import sys
import uuid


def link(
    key: bytes,
    previous: bytes,
    position: int,
    originator_id: str,
    version: int,
    topic: str,
    state: bytes,
) -> bytes:
    topic_bytes = topic.encode("utf-8")
    message = b"".join(
        (
            previous,
            struct.pack(">Q", position),
            uuid.UUID(originator_id).bytes,
            struct.pack(">Q", version),
            struct.pack(">I", len(topic_bytes)),
            topic_bytes,
            struct.pack(">I", len(state)),
            state,
        )
    )
    return hmac.new(key, message, hashlib.sha256).digest()


def verify(lines: list[str], key: bytes) -> dict[str, object]:
    header = json.loads(lines[0])
    if header.get("format") != "miljo-audit-export" or header.get("version") != 1:
        raise ValueError("not a miljo audit export (version 1)")
    trailer = json.loads(lines[-1])
    previous = bytes(32)
    last_position = 0
    checked = 0
    for line in lines[1:-1]:
        row = json.loads(line)
        position = int(row["position"])
        if position <= last_position:
            return {"ok": False, "first_failure": position, "reason": "positions out of order"}
        if row["link"] is None:
            return {"ok": False, "first_failure": position, "reason": "event without a link"}
        expected = link(
            key,
            previous,
            position,
            row["originator_id"],
            int(row["version"]),
            row["topic"],
            base64.b64decode(row["state"]),
        )
        if not hmac.compare_digest(expected.hex(), row["link"]):
            if position == last_position + 1:
                return {"ok": False, "first_failure": position, "reason": "link mismatch"}
            # A gap: a deleted event (its link lost with it) breaks the chain at the gap.
            return {
                "ok": False,
                "first_failure": last_position + 1,
                "reason": f"link mismatch at position {position} after a gap in positions: "
                "an event before it was deleted, or it was changed",
            }
        previous, last_position, checked = expected, position, checked + 1
    if checked != header.get("events"):
        return {
            "ok": False,
            "first_failure": last_position + 1,
            "reason": f"the export holds {checked} events, its header says {header.get('events')}",
        }
    if trailer.get("head_position") != last_position or trailer.get("head_link") != previous.hex():
        return {"ok": False, "first_failure": last_position, "reason": "chain head differs"}
    return {
        "ok": True,
        "checked": checked,
        "head_position": last_position,
        "head_link": previous.hex(),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
        with open(argv[2], "rb") as handle:
            key = base64.b64decode(handle.read().strip(), validate=True)
        if len(key) != 32:
            raise ValueError(f"the sealing key must be 32 bytes, not {len(key)}")
        if len(lines) < 2:
            raise ValueError("the export is empty")
        result = verify(lines, key)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as error:
        print(json.dumps({"ok": False, "error": str(error)}))
        return 2
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
