"""Lean parsing of the too-hot answer's query, the hot path of the admin route.

Equivalent to ``AnswerQuerySchema`` in the query string (an unknown
parameter refused, as every query schema does; the first value of a
repeated one used, as webargs does; tests hold the two to the same verdicts
and messages), without building a schema per request.
"""

from __future__ import annotations

from datetime import date

from ..fields import MSG_SITE_ID, is_sensor_id
from ..units import MSG_TEMPERATURE_UNIT, TEMPERATURE_UNITS
from .schemas import DATE_TEXT, MSG_DATE

MSG_REQUIRED = "Missing data for required field."
MSG_UNKNOWN = "Unknown field."
PARAMETERS = ("siteId", "date", "unit")


def _date(text: str) -> date | None:
    if not DATE_TEXT(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_answer_query(args) -> tuple[dict, dict]:
    """(query, errors by parameter) from the request's query arguments (a
    mapping whose ``get`` gives the first value); errors is empty when valid."""
    query: dict = {}
    errors: dict[str, list[str]] = {}
    site_id = args.get("siteId")
    if site_id is None:
        errors["siteId"] = [MSG_REQUIRED]
    elif is_sensor_id(site_id):
        query["siteId"] = site_id
    else:
        errors["siteId"] = [MSG_SITE_ID]
    text = args.get("date")
    if text is not None:
        day = _date(text)
        if day is None:
            errors["date"] = [MSG_DATE]
        else:
            query["date"] = day
    unit = args.get("unit")
    if unit is not None:
        if unit in TEMPERATURE_UNITS:
            query["unit"] = unit
        else:
            errors["unit"] = [MSG_TEMPERATURE_UNIT]
    for name in args:
        if name not in PARAMETERS:
            errors[name] = [MSG_UNKNOWN]
    return query, errors
