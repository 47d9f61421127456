"""The banned personal data per jurisdiction, read from `schemas/catalog/banned.yaml`.

Configuration, not code: the seeds disagree (seed 003 bans a person's 不动产 and 纳税数额,
seeds 001/004 share 自然人不动产登记信息), so the list a platform applies is chosen by
`CREDIT_BANNED_JURISDICTION` (default: seed 003's). `streams.core.banned` applies it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from schemas.errors import CreditError

BANNED_FILE = Path(__file__).parent / "catalog" / "banned.yaml"
DEFAULT_JURISDICTION = "default"


class BannedConfigError(CreditError):
    """The banned-data configuration cannot be used (a bad regex, an unknown category)."""


class BannedCategory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    label: str
    personal: bool  # banned inside legal-person records too
    zh: str  # regex on the folded Chinese header
    en: tuple[str, ...]  # whole-token alternatives on the `_`-joined English key


class BannedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    categories: dict[str, BannedCategory]
    jurisdictions: dict[str, tuple[str, ...]]

    @model_validator(mode="after")
    def _consistent(self) -> BannedConfig:
        if DEFAULT_JURISDICTION not in self.jurisdictions:
            raise ValueError(f"a jurisdiction named '{DEFAULT_JURISDICTION}' is required")
        for name, banned in self.jurisdictions.items():
            unknown = sorted(set(banned) - set(self.categories))
            if unknown:
                raise ValueError(f"jurisdiction {name}: no category {unknown}")
        for code, cat in self.categories.items():
            for pattern in (cat.zh, *cat.en):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"category {code}: bad regex {pattern!r}: {exc}") from exc
        return self

    def banned_in(self, jurisdiction: str) -> tuple[str, ...]:
        """The categories a jurisdiction bans; BannedConfigError naming the known ones."""
        if jurisdiction not in self.jurisdictions:
            known = ", ".join(sorted(self.jurisdictions))
            raise BannedConfigError(f"no banned-data jurisdiction '{jurisdiction}' in "
                                    f"{BANNED_FILE.name} (known: {known})")  # fmt: skip
        return self.jurisdictions[jurisdiction]


def load_banned(path: Path = BANNED_FILE) -> BannedConfig:
    try:
        return BannedConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise BannedConfigError(f"{path.name}: {exc}") from exc


@functools.cache
def default_banned() -> BannedConfig:
    return load_banned()
