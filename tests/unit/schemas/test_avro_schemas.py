"""The checked-in Avro schemas agree with the catalog and stay readable for released data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from schemas.avro import AVRO_DIR, avro_schema, check_avsc, parsed_schema
from schemas.catalog import Catalog
from schemas.compatibility import check_backward
from schemas.exceptions import SchemaMismatchError

RELEASED = AVRO_DIR / "released"


def test_every_class_has_a_schema_equal_to_what_the_catalog_generates(catalog: Catalog) -> None:
    check_avsc(catalog)
    for cls in catalog:
        schema = avro_schema(cls)
        labels = {f["name"]: f.get("label") for f in schema["fields"]}
        assert all(labels[f.name] == f.label for f in cls.fields)
        assert {"source_dept", "provider_org", "provide_date", "usage_scope"} <= set(labels)
        assert {"ingest_provider", "ingest_upload_id", "ingest_row"} <= set(labels)
        parsed_schema(cls)  # fastavro accepts it


def test_a_missing_or_edited_schema_file_fails_the_check(catalog: Catalog, tmp_path: Path) -> None:
    for path in AVRO_DIR.glob("*.avsc"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "legal_arrears.avsc").unlink()
    edited = json.loads((tmp_path / "natural_arrears.avsc").read_text())
    edited["fields"] = edited["fields"][1:]
    (tmp_path / "natural_arrears.avsc").write_text(json.dumps(edited))
    with pytest.raises(SchemaMismatchError) as err:
        check_avsc(catalog, tmp_path)
    assert "legal_arrears: no schema file" in str(err.value)
    assert "natural_arrears" in str(err.value)


@pytest.mark.parametrize("release", sorted(p.name for p in RELEASED.iterdir()))
def test_current_schemas_read_every_released_version(release: str) -> None:
    problems = {}
    for old in (RELEASED / release).glob("*.avsc"):
        current = AVRO_DIR / old.name
        assert current.exists(), f"{old.name} was released in {release} and must not disappear"
        found = check_backward(json.loads(current.read_text()), json.loads(old.read_text()))
        if found:
            problems[old.name] = found
    assert not problems, f"incompatible with release {release}: {problems}"


def test_an_incompatible_change_is_reported_with_the_field_name(catalog: Catalog) -> None:
    old = avro_schema(catalog.get("legal_arrears"))
    new = json.loads(json.dumps(old))
    for field in new["fields"]:
        if field["name"] == "arrears_amount":
            field["type"] = ["null", "string"]
    new["fields"].append({"name": "new_required", "type": "string"})
    problems = " ".join(check_backward(new, old))
    assert "arrears_amount" in problems
    assert "new_required" in problems
