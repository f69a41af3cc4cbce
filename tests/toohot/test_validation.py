"""The lean answer-query parser and the marshmallow contract give the same verdicts."""

from __future__ import annotations

import marshmallow as ma
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from service.toohot.schemas import AnswerQuerySchema
from service.toohot.validation import parse_answer_query

SCHEMA = AnswerQuerySchema()  # unknown query parameters refused, as the routes' parser does

site_ids = st.one_of(
    st.text(alphabet="abcXYZ019._:-", min_size=0, max_size=130),
    st.text(max_size=6),
    st.sampled_from(["abc123", "a b", "{x}", "é", "a" * 128, "a" * 129]),
)
dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2024-02-30", "2024-13-01", "24-01-01", "2024-1-1", "", "2024-01-01T00:00", "２０２４-01-01"]),
    st.text(max_size=10),
)
units = st.one_of(st.sampled_from(["C", "F", "K", "c", "", "celsius"]), st.text(max_size=2))


def _schema_verdict(first_values: dict) -> tuple[dict, dict]:
    try:
        return SCHEMA.load(first_values), {}
    except ma.ValidationError as exc:
        return {}, exc.messages


@given(
    site=st.none() | site_ids,
    day=st.none() | dates,
    unit=st.none() | units,
    extra=st.lists(st.tuples(st.sampled_from(["siteId", "date", "unit", "other"]), st.text(max_size=5)), max_size=3),
)
def test_lean_parser_agrees_with_the_schema(site, day, unit, extra):
    pairs = [(name, value) for name, value in (("siteId", site), ("date", day), ("unit", unit)) if value is not None]
    args = MultiDict(pairs + extra)  # repeated parameters: the first one counts, as with webargs
    first_values = {name: args.get(name) for name in ("siteId", "date", "unit", "other") if name in args}
    query, errors = parse_answer_query(args)
    expected_query, expected_errors = _schema_verdict(first_values)
    assert errors == expected_errors
    if not errors:
        assert query == expected_query


def test_invalid_query_is_422_listing_every_parameter(client):
    response = client.get("/v1/admin/toohotornot?siteId=a%20b&date=2024-02-30&unit=X")
    assert response.status_code == 422
    assert response.json["message"] == "The request is invalid."
    assert response.json["errors"] == {"query": {
        "siteId": ["Site ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"],
        "date": ["Not a valid date: send YYYY-MM-DD."],
        "unit": ["Must be one of: C, F, K."],
    }}
    misspelt = client.get("/v1/admin/toohotornot?siteId=s1&day=2024-02-01")
    assert misspelt.status_code == 422
    assert misspelt.json["errors"] == {"query": {"day": ["Unknown field."]}}
    missing = client.get("/v1/admin/toohotornot")
    assert missing.status_code == 422
    assert missing.json["errors"] == {"query": {"siteId": ["Missing data for required field."]}}


def test_openapi_document_keeps_the_query_parameters(client):
    operation = client.get("/openapi.json").json["paths"]["/v1/admin/toohotornot"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(parameters) == {"siteId", "date", "unit"}
    assert parameters["siteId"]["required"] is True
    assert parameters["unit"]["schema"]["enum"] == ["C", "F", "K"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Answer"}
