"""The audit log as a document: CSV, JSON or PDF of every verdict (rule id and version,
data snapshot hash, date evaluated, reason and evidence) and every screening review
decision (what was judged, the decision, who took it and when), with the chain's head.

The PDF is plain text pages written directly (no browser needed), so an auditor can file it.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from onshore.store.audit import AuditLog
from onshore.store.reviews import ReviewQueue

FIELDS = (
    "kind",
    "seq",
    "recorded_at",
    "rule_id",
    "rule_version",
    "snapshot",
    "evaluated_on",
    "buyer",
    "product",
    "verdict",
    "reason",
    "evidence",
    "decided_by",
    "hash",
)


def rows(con: Any) -> list[dict[str, Any]]:
    """Every audit row (kind ``verdict``, or ``review`` for a reviewer's judgement) and every
    review-queue row (kind ``review_queue``), as flat dicts with :data:`FIELDS`."""
    out: list[dict[str, Any]] = []
    for r in AuditLog(con).rows().to_dict("records"):
        review = r["rule_id"] == "screen-review"
        out.append(
            {
                "kind": "review" if review else "verdict",
                "seq": int(r["seq"]),
                "recorded_at": r["recorded_at"],
                "rule_id": r["rule_id"],
                "rule_version": int(r["rule_version"]),
                "snapshot": r["snapshot"],
                "evaluated_on": r["evaluated_on"],
                "buyer": "" if review else r["buyer"],
                "product": r["product"],
                "verdict": r["verdict"],
                "reason": r["reason"],
                "evidence": r["inputs"],
                "decided_by": r["buyer"] if review else "",
                "hash": r["hash"],
            }
        )
    for r in ReviewQueue(con).rows().to_dict("records"):
        out.append(
            {
                "kind": "review_queue",
                "seq": int(r["seq"]),
                "recorded_at": r["at"],
                "rule_id": "screen-review",
                "rule_version": 1,
                "snapshot": "",
                "evaluated_on": str(r["at"])[:10],
                "buyer": "",
                "product": f"{r['input']} -> {r['candidate']}",
                "verdict": r["decision"],
                "reason": f"key {r['key']}; candidate name {r['name']}; score {r['score']}",
                "evidence": "",
                "decided_by": r["by"],
                "hash": "",
            }
        )
    return out


def render(con: Any, fmt: str) -> bytes:
    """The export in ``csv``, ``json`` or ``pdf``."""
    log = AuditLog(con)
    data = rows(con)
    head, problems = log.head(), log.verify()
    if fmt == "json":
        doc = {"head": head, "chain_intact": not problems, "problems": problems, "rows": data}
        return (json.dumps(doc, indent=2, default=str, ensure_ascii=False) + "\n").encode()
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(FIELDS))
        w.writeheader()
        w.writerows(data)
        return buf.getvalue().encode("utf-8")
    if fmt == "pdf":
        lines = [
            "onshore audit log",
            f"head {head}; chain {'intact' if not problems else 'BROKEN: ' + problems[0]}",
            f"{len(data)} rows",
            "",
        ]
        for r in data:
            lines.append(
                f"{r['kind']} {r['seq']}  {r['recorded_at']}  {r['rule_id']} v{r['rule_version']}"
            )
            lines.append(
                f"  {r['product']}  buyer {r['buyer'] or '-'}  on {r['evaluated_on']}  "
                f"-> {r['verdict']}" + (f"  by {r['decided_by']}" if r["decided_by"] else "")
            )
            lines.append(f"  reason: {r['reason']}")
            if r["evidence"]:
                lines.append(f"  evidence: {r['evidence']}")
            if r["snapshot"]:
                lines.append(f"  data snapshot {r['snapshot']}")
            if r["hash"]:
                lines.append(f"  hash {r['hash']}")
        return text_pdf(lines)
    raise ValueError(f"unknown format {fmt!r}")


def _wrap(line: str, width: int) -> list[str]:
    out = []
    while len(line) > width:
        out.append(line[:width])
        line = "    " + line[width:]
    return [*out, line]


def text_pdf(lines: list[str], per_page: int = 60, width: int = 110) -> bytes:
    """A PDF of monospaced text lines (Courier, A4), written without any library."""
    wrapped = [w for line in lines for w in _wrap(line, width)]
    pages = [wrapped[i : i + per_page] for i in range(0, len(wrapped), per_page)] or [[]]
    objects: list[bytes] = []

    def esc(s: str) -> str:
        s = s.encode("latin-1", errors="replace").decode("latin-1")
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n_pages = len(pages)
    # 1 catalog, 2 pages, 3 font, then per page: page object, content stream
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")
    for i, page in enumerate(pages):
        text = "BT /F1 8 Tf 10 TL 36 806 Td " + " ".join(f"({esc(s)}) '" for s in page) + " ET"
        stream = text.encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
            f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(
            f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{k} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


__all__ = ["FIELDS", "render", "rows", "text_pdf"]
