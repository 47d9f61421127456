"""Subject identity of `streams.core.identity`: the day a person's birth date is held to."""

from __future__ import annotations

import random
from datetime import date

from schemas.catalog import Catalog
from schemas.codes import random_citizen_id
from streams.core.identity import resolve


def test_birth_date_is_held_to_the_day_given(catalog: Catalog) -> None:
    cls = catalog.get("natural_arrears")
    person = random_citizen_id(random.Random(8), birth_year_range=(2010, 2010))
    record = {"person_name": "王五", "id_type": "身份证", "id_no": person}
    assert resolve(cls, record, {}, {}).violations == []  # the clock's day
    assert resolve(cls, record, {}, {}, date(2011, 1, 1)).violations == []
    late = resolve(cls, record, {}, {}, date(2009, 12, 31))
    assert [v.code for v in late.violations] == ["id.birth_date"]
    assert late.district == ""


def test_equal_names_are_no_mismatch_and_folded_names_neither(catalog: Catalog) -> None:
    cls = catalog.get("legal_arrears")
    uscc = "91350100M000100Y43"
    subjects = {uscc: {"name": "某某（江阴）有限公司", "registered": True}}
    for name, mismatch in (("某某（江阴）有限公司", False), ("某某(江阴) 有限公司", False),
                           ("另一家公司", True)):  # fmt: skip
        res = resolve(cls, {"org_name": name, "uscc": uscc}, subjects, {})
        assert (res.name_mismatch, res.subject_name) == (mismatch, "某某（江阴）有限公司")
