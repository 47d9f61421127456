"""Avro BACKWARD checks: the new (reader) schema must decode data of the old (writer) one."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.compatibility import (
    CompatibilityLevel,
    assert_backward,
    check_against_versions,
    check_backward,
    parse_avro,
    parse_level,
)
from schemas.exceptions import (
    IncompatibleSchemaError,
    InvalidCompatibilityLevelError,
    InvalidSchemaError,
)


def record(*fields: dict[str, Any], name: str = "Arrears") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "credit.classes", "fields": list(fields)}


def f(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


BASE = record(f("uscc", "string"), f("arrears_amount", "double"))


def test_identical_schema_is_compatible() -> None:
    assert check_backward(BASE, BASE) == []


def test_adding_an_optional_field_with_default_is_compatible() -> None:
    new = record(*BASE["fields"], f("severity", ["null", "string"], default=None))
    assert check_backward(new, BASE) == []


def test_adding_a_field_without_default_is_incompatible_and_names_it() -> None:
    new = record(*BASE["fields"], f("severity", "string"))
    assert check_backward(new, BASE) == ["field 'severity' added without a default"]


def test_removing_a_field_is_compatible() -> None:
    new = record(f("uscc", "string"))
    assert check_backward(new, BASE) == []


def test_changing_a_type_is_incompatible() -> None:
    new = record(f("uscc", "string"), f("arrears_amount", "string"))
    assert check_backward(new, BASE) == [
        "field 'arrears_amount': type changed from double to string"
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ],
)
def test_type_promotions_are_compatible(old: str, new: str) -> None:
    assert check_backward(record(f("x", new)), record(f("x", old))) == []


@pytest.mark.parametrize(("old", "new"), [("long", "int"), ("double", "float"), ("int", "string")])
def test_narrowing_is_incompatible(old: str, new: str) -> None:
    problems = check_backward(record(f("x", new)), record(f("x", old)))
    assert problems == [f"field 'x': type changed from {old} to {new}"]


def test_nullable_type_change_names_the_field() -> None:
    old = record(f("arrears_amount", ["null", "double"], default=None))
    new = record(f("arrears_amount", ["null", "string"], default=None))
    (problem,) = check_backward(new, old)
    assert problem.startswith(
        "field 'arrears_amount': type changed from nullable double to nullable string"
    )


def test_removing_an_enum_symbol_is_incompatible() -> None:
    old = record(
        f("level", {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH", "SEVERE"]})
    )
    new = record(f("level", {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]}))
    (problem,) = check_backward(new, old)
    assert problem.startswith("field 'level': enum credit.classes.Level lost symbol(s) SEVERE")


def test_enum_with_a_default_tolerates_removed_symbols() -> None:
    old = record(f("level", {"type": "enum", "name": "Level", "symbols": ["LOW", "SEVERE"]}))
    new_enum = {"type": "enum", "name": "Level", "symbols": ["LOW", "OTHER"], "default": "OTHER"}
    assert check_backward(record(f("level", new_enum)), old) == []


def test_adding_an_enum_symbol_is_compatible() -> None:
    old = record(f("level", {"type": "enum", "name": "Level", "symbols": ["LOW"]}))
    new = record(f("level", {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]}))
    assert check_backward(new, old) == []


def test_widening_a_union_is_compatible() -> None:
    old = record(f("v", ["null", "string"], default=None))
    new = record(f("v", ["null", "string", "long"], default=None))
    assert check_backward(new, old) == []


def test_narrowing_a_union_is_incompatible() -> None:
    old = record(f("v", ["null", "string", "long"], default=None))
    new = record(f("v", ["null", "string"], default=None))
    (problem,) = check_backward(new, old)
    assert "field 'v'" in problem and "old long values cannot be read" in problem


def test_making_a_field_nullable_is_compatible_but_not_the_reverse() -> None:
    plain = record(f("v", "string"))
    nullable = record(f("v", ["null", "string"], default=None))
    assert check_backward(nullable, plain) == []
    (problem,) = check_backward(plain, nullable)
    assert "field 'v'" in problem and "old null values cannot be read" in problem


def test_promotion_into_a_union_branch_is_compatible() -> None:
    assert check_backward(record(f("v", ["null", "long"])), record(f("v", "int"))) == []


def test_nested_record_problems_name_the_full_path() -> None:
    address_v1 = {"type": "record", "name": "Address", "fields": [f("city", "string")]}
    address_v2 = {
        "type": "record",
        "name": "Address",
        "fields": [f("city", "long"), f("district", "string")],
    }
    problems = check_backward(record(f("address", address_v2)), record(f("address", address_v1)))
    assert problems == [
        "field 'address.city': type changed from string to long",
        "field 'address.district' added without a default",
    ]


def test_array_items_and_map_values_are_checked() -> None:
    item_v1 = {"type": "record", "name": "Payment", "fields": [f("amount", "double")]}
    item_v2 = {"type": "record", "name": "Payment", "fields": [f("amount", "int")]}
    old = record(f("payments", {"type": "array", "items": item_v1}))
    new = record(f("payments", {"type": "array", "items": item_v2}))
    assert check_backward(new, old) == [
        "field 'payments[].amount': type changed from double to int"
    ]
    old_map = record(f("tags", {"type": "map", "values": "int"}))
    new_map = record(f("tags", {"type": "map", "values": "long"}))
    assert check_backward(new_map, old_map) == []
    assert check_backward(old_map, new_map) == ["field 'tags{}': type changed from long to int"]


def test_named_type_references_are_resolved() -> None:
    money = {"type": "fixed", "name": "Money", "size": 8}
    old = record(f("paid", money), f("owed", "credit.classes.Money"))
    new = record(f("paid", money), f("owed", "Money"))
    assert check_backward(new, old) == []


def test_fixed_size_change_is_incompatible() -> None:
    old = record(f("h", {"type": "fixed", "name": "Hash", "size": 16}))
    new = record(f("h", {"type": "fixed", "name": "Hash", "size": 32}))
    assert check_backward(new, old) == [
        "field 'h': type changed from fixed credit.classes.Hash[16] "
        "to fixed credit.classes.Hash[32]"
    ]


def test_renamed_record_needs_an_alias() -> None:
    old = record(f("a", "string"), name="Old")
    assert check_backward(record(f("a", "string"), name="New"), old) == [
        "the top-level schema: record renamed from credit.classes.Old to credit.classes.New "
        "(add the alias 'Old' to read old data)"
    ]
    aliased = {**record(f("a", "string"), name="New"), "aliases": ["Old"]}
    assert check_backward(aliased, old) == []


def test_renamed_field_is_read_through_its_alias() -> None:
    new = record(f("uscc", "string"), f("amount_owed", "double", aliases=["arrears_amount"]))
    assert check_backward(new, BASE) == []


def test_logical_type_annotation_may_be_added_but_not_changed() -> None:
    old = record(f("at", "long"))
    millis = record(f("at", {"type": "long", "logicalType": "timestamp-millis"}))
    micros = record(f("at", {"type": "long", "logicalType": "timestamp-micros"}))
    assert check_backward(millis, old) == []
    assert check_backward(micros, millis) == [
        "field 'at': type changed from long(timestamp-millis) to long(timestamp-micros)"
    ]


def test_decimal_scale_change_is_incompatible() -> None:
    def dec(scale: int) -> dict[str, Any]:
        return {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": scale}

    problems = check_backward(record(f("amount", dec(4))), record(f("amount", dec(2))))
    assert problems == [
        "field 'amount': type changed from bytes(decimal(12,2)) to bytes(decimal(12,4))"
    ]


def test_recursive_types_terminate() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [f("value", "int"), f("next", ["null", "Node"], default=None)],
    }
    node_v2 = {
        "type": "record",
        "name": "Node",
        "fields": [f("value", "long"), f("next", ["null", "Node"], default=None)],
    }
    assert check_backward(node_v2, node) == []
    assert check_backward(node, node_v2) == ["field 'value': type changed from long to int"]


def test_assert_backward_raises_with_every_problem() -> None:
    new = record(f("uscc", "long"), f("arrears_amount", "double"), f("severity", "string"))
    with pytest.raises(IncompatibleSchemaError) as err:
        assert_backward(new, BASE, "legal_arrears-value")
    message = str(err.value)
    assert "legal_arrears-value" in message
    assert "field 'uscc': type changed from string to long" in message
    assert "field 'severity' added without a default" in message


def test_transitive_level_checks_every_earlier_version() -> None:
    v1 = record(f("uscc", "string"))
    v2 = record(f("uscc", "string"), f("severity", "string", default="一般"))
    v3 = record(f("uscc", "string"), f("severity", "string"))  # default dropped
    earlier = [(1, v1), (2, v2)]
    assert check_against_versions(CompatibilityLevel.BACKWARD, v3, earlier) == []
    assert check_against_versions(CompatibilityLevel.BACKWARD_TRANSITIVE, v3, earlier) == [
        "version 1: field 'severity' added without a default"
    ]
    assert check_against_versions(CompatibilityLevel.NONE, record(f("x", "int")), earlier) == []


def test_levels_are_parsed_case_insensitively_and_unsupported_ones_refused() -> None:
    assert parse_level("backward_transitive") is CompatibilityLevel.BACKWARD_TRANSITIVE
    with pytest.raises(InvalidCompatibilityLevelError, match="not enforced"):
        parse_level("FULL")
    with pytest.raises(InvalidCompatibilityLevelError, match="unknown"):
        parse_level("SIDEWAYS")


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '"strin"',
        '{"type": "record", "fields": []}',
        '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Nope"}]}',
        '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}',
    ],
)
def test_malformed_avro_is_rejected(text: str) -> None:
    with pytest.raises(InvalidSchemaError):
        parse_avro(text)
