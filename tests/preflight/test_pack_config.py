"""Policy pack config reconciliation and validation, worded as the Pulumi CLI words it."""

import pytest

from secure_invoke.preflight.packs.config import (
    PolicyConfig,
    PolicyConfigError,
    PolicyInfo,
    parse_config,
    reconcile,
    validate,
)


def policy(**schema) -> PolicyInfo:
    return PolicyInfo(
        name="p",
        enforcement_level="mandatory",
        schema_properties=schema.get("properties", {}),
        required=schema.get("required", []),
        has_schema=True,
    )


@pytest.mark.parametrize(
    ("schema", "document", "expected"),
    [
        ({"required": ["foo"], "properties": {"foo": {"type": "string"}}}, {}, "foo is required"),
        (
            {"properties": {"foo": {"type": "string"}}},
            {"foo": 1},
            "foo: Invalid type. Expected: string, given: integer",
        ),
        (
            {"properties": {"bar": {"type": "integer"}}},
            {"bar": 3.14},
            "bar: Invalid type. Expected: integer, given: number",
        ),
        (
            {"properties": {"foo": {"maxLength": 3}}},
            {"foo": "toolong"},
            "foo: String length must be less than or equal to 3",
        ),
        (
            {"properties": {"foo": {"minLength": 50}}},
            {"foo": "x"},
            "foo: String length must be greater than or equal to 50",
        ),
        (
            {"properties": {"foo": {"enum": ["bar", "baz"]}}},
            {"foo": "x"},
            'foo: foo must be one of the following: "bar", "baz"',
        ),
        ({"properties": {"foo": {"const": "bar"}}}, {"foo": "x"}, 'foo: foo does not match: "bar"'),
    ],
)
def test_gojsonschema_wording(schema, document, expected):
    # The expected strings are the Pulumi CLI's own integration-test expectations.
    assert validate(policy(**schema), document) == [expected]


def test_reconcile_order_defaults_initial_then_file_and_all():
    policies = [
        PolicyInfo("a", "mandatory", schema_properties={"n": {"type": "integer", "default": 1}}, has_schema=True),
        PolicyInfo("b", "advisory"),
    ]
    initial = {"a": PolicyConfig("advisory", {"n": 2})}
    result = reconcile("pack", "1.0.0", policies, initial, None)
    assert result["a"] == PolicyConfig("advisory", {"n": 2})
    assert result["b"].enforcement_level == "advisory"
    given = parse_config({"all": "mandatory", "a": {"n": 3}})
    result = reconcile("pack", "1.0.0", policies, initial, given)
    assert result["a"] == PolicyConfig("mandatory", {"n": 3})
    assert result["b"].enforcement_level == "mandatory"


def test_reconcile_reports_every_error_on_one_line():
    policies = [
        PolicyInfo("a", "mandatory", schema_properties={"n": {"type": "integer", "minimum": 1}}, has_schema=True)
    ]
    with pytest.raises(PolicyConfigError) as caught:
        reconcile("pack", "1.0.0", policies, {}, parse_config({"a": {"n": 0}}))
    assert str(caught.value) == "validating policy config: pack 1.0.0  a: n: Must be greater than or equal to 1"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"a": "strict"}, '"strict" is not a valid enforcement level'),
        ({"a": {"enforcementLevel": 1}}, "1 is not a valid enforcement level; must be a string"),
        ({"a": []}, 'parsing "a": [] is not a valid value; must be a string or object'),
    ],
)
def test_parse_errors(document, expected):
    with pytest.raises(PolicyConfigError, match=None) as caught:
        parse_config(document)
    assert expected in str(caught.value)


def test_empty_entries_are_dropped():
    assert parse_config({"a": {}, "b": "advisory"}) == {"b": PolicyConfig("advisory", None)}
