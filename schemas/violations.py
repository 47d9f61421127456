"""Why a record was refused: stable machine-readable reason codes with Chinese and English text.

Shared by the producers (values that cannot be typed), the stream rules and the dead-letter
table, so a provider sees the same reason whichever channel it used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a record is refused.

    `code` is stable (`uscc.check_digit`, `field.required`, ...) and safe to match on;
    `field` is the catalog field name (None for record-level reasons); the messages must
    never contain a banned value or a full personal ID number.
    """

    code: str
    field: str | None
    message_zh: str
    message_en: str

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.code} — {self.message_en} / {self.message_zh}"
