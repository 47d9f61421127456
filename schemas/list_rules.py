"""How red and black lists are used (`schemas/catalog/lists.yaml`): the fields each list's
public notice shows (公示, seed 002 三(二)1), and the joint rewards and sanctions (联合奖惩,
seed 002 三(二)2, seed 003 第十九条) that apply to a subject on a list.

Kept apart from the class files because it is policy about lists, not the shape of records;
checked against the catalog when read, so a list class without its notice, or a notice naming
a field its class lacks, is an error naming the file and the class.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.catalog import CATALOG_DIR, Catalog, default_catalog
from schemas.exceptions import CatalogError

LISTS_FILE = "lists.yaml"
ListKind = Literal["red", "black"]


class Measure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    area: str
    measure: str


class ListRules(BaseModel):
    """`published`: class code → the fields its public notice shows; `measures`: per list
    kind, what a department applies in each area of seed 003 第十九条."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    published: dict[str, tuple[str, ...]]
    measures: dict[ListKind, tuple[Measure, ...]]


def load_list_rules(catalog: Catalog, path: Path = CATALOG_DIR / LISTS_FILE) -> ListRules:
    """The rules, checked against `catalog`."""
    try:
        rules = ListRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise CatalogError(f"{path.name}: {exc}") from exc
    lists = {c.code for c in catalog if c.list_kind}
    if missing := sorted(lists - set(rules.published)):
        raise CatalogError(f"{path.name}: list classes without a public notice: {missing}")
    if extra := sorted(set(rules.published) - lists):
        raise CatalogError(f"{path.name}: `published` names classes that are not lists: {extra}")
    for code, fields in rules.published.items():
        unknown = sorted(set(fields) - {f.name for f in catalog.classes[code].fields})
        if unknown:
            raise CatalogError(f"{path.name}: class {code}: no fields {unknown}")
    if missing_kinds := sorted({"red", "black"} - set(rules.measures)):
        raise CatalogError(f"{path.name}: no measures for {missing_kinds} lists")
    return rules


@functools.cache
def default_list_rules() -> ListRules:
    return load_list_rules(default_catalog())
