"""What the CA issued and whom it refuses: the issued-SVID log and the deny list.

Revoking ``<namespace>/<service account>`` refuses it new certificates from then on and lists
the serials already issued to it (still valid until they expire: there is no CRL/OCSP in the
mesh, as in Istio, so short TTLs bound the exposure).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mainsail.ca.errors import CaStateError
from mainsail.ca.layout import write_public


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedRecord:
    serial: str  # lower-case hex
    workload: str  # <namespace>/<service account>
    spiffe_id: str
    not_before: datetime
    not_after: datetime
    pod: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "serial": self.serial,
            "workload": self.workload,
            "spiffe_id": self.spiffe_id,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "pod": self.pod,
        }

    @staticmethod
    def from_json(item: dict[str, str]) -> IssuedRecord:
        return IssuedRecord(
            serial=item["serial"],
            workload=item["workload"],
            spiffe_id=item["spiffe_id"],
            not_before=datetime.fromisoformat(item["not_before"]).astimezone(UTC),
            not_after=datetime.fromisoformat(item["not_after"]).astimezone(UTC),
            pod=item.get("pod", ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    workload: str
    revoked_at: datetime
    # Serials issued to the workload that had not expired when it was revoked.
    serials: tuple[str, ...]


class Ledger:
    """Issued SVIDs (append-only ``issued.jsonl``) and the deny list (``revoked.json``)."""

    def __init__(
        self, issued_file: Path, revoked_file: Path, *, now: datetime | None = None
    ) -> None:
        self._issued_file = issued_file
        self._revoked_file = revoked_file
        issued_file.parent.mkdir(parents=True, exist_ok=True)
        self._issued: list[IssuedRecord] = _read_issued(issued_file)
        self._revoked: dict[str, Revocation] = _read_revoked(revoked_file)
        if now is not None:
            self._forget_expired(now)

    def _forget_expired(self, now: datetime) -> None:
        """Drop records of SVIDs expired by ``now`` (rewriting the log), so the log stays the
        size of the live certificates rather than growing with every renewal forever."""
        live = [r for r in self._issued if r.not_after > now]
        if len(live) == len(self._issued):
            return
        self._issued = live
        text = "".join(json.dumps(r.to_json()) + "\n" for r in live)
        write_public(self._issued_file, text.encode("utf-8"))

    def is_revoked(self, workload: str) -> bool:
        return workload in self._revoked

    def record(self, record: IssuedRecord) -> None:
        with self._issued_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record.to_json()) + "\n")
        self._issued.append(record)

    def issued(self, now: datetime | None = None) -> tuple[IssuedRecord, ...]:
        """Every SVID issued (only those unexpired at ``now`` when given), oldest first."""
        if now is None:
            return tuple(self._issued)
        return tuple(r for r in self._issued if r.not_after > now)

    def revoke(self, workload: str, now: datetime) -> Revocation:
        serials = tuple(
            r.serial for r in self._issued if r.workload == workload and r.not_after > now
        )
        earlier = self._revoked.get(workload)
        revocation = Revocation(
            workload=workload,
            revoked_at=earlier.revoked_at if earlier else now,
            serials=tuple(dict.fromkeys((*(earlier.serials if earlier else ()), *serials))),
        )
        self._revoked[workload] = revocation
        self._write_revoked()
        return revocation

    def revoked(self) -> tuple[Revocation, ...]:
        return tuple(self._revoked.values())

    def _write_revoked(self) -> None:
        items = [
            {
                "workload": r.workload,
                "revoked_at": r.revoked_at.isoformat(),
                "serials": list(r.serials),
            }
            for r in self._revoked.values()
        ]
        write_public(self._revoked_file, json.dumps(items, indent=2).encode("utf-8"))


def _read_issued(path: Path) -> list[IssuedRecord]:
    if not path.exists():
        return []
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(IssuedRecord.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            # A torn last line (a crash mid-append) must not stop the CA: skip what is unreadable.
            if number == len(lines):
                continue
            raise CaStateError(f"{path}:{number}: unreadable issued record: {exc}") from exc
    return records


def _read_revoked(path: Path) -> dict[str, Revocation]:
    if not path.exists():
        return {}
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return {
            item["workload"]: Revocation(
                workload=item["workload"],
                revoked_at=datetime.fromisoformat(item["revoked_at"]).astimezone(UTC),
                serials=tuple(item["serials"]),
            )
            for item in items
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CaStateError(f"{path}: unreadable deny list: {exc}") from exc
