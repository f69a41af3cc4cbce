"""schemathesis against /openapi.json: every operation, generated cases,
no 5xx and every response matching its documented schema.

schemathesis' pytest loader does not run under this pytest, so each
operation is a parametrised test driving its Hypothesis strategy directly.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service import create_app
from service.settings import Settings

# Thousands of generated requests: out of `make test-fast`'s inner loop.
pytestmark = pytest.mark.slow

# Generated cases per operation, within the suite's time budget;
# SENSORHUB_FUZZ_EXAMPLES=2000 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("SENSORHUB_FUZZ_EXAMPLES", "200"))
# A schema-valid request may still be refused for what JSON Schema cannot
# say (a timestamp before 1970, the first copy of a batch's reading wins...):
# such a refusal must be a documented 4xx, which the other checks verify.
EXCLUDED_CHECKS = [positive_data_acceptance]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _operation_labels() -> list[str]:
    # Only the document is needed here: a non-cluster client does not connect.
    offline = create_app(Settings(redis_url="redis://127.0.0.1:1/0", log_requests=False))
    document = offline.test_client().get("/openapi.json").json
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


@pytest.mark.parametrize("label", _operation_labels())
def test_every_operation_answers_as_documented_and_never_5xx(app, label):
    method, path = label.split(" ", 1)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def generated(case):
        case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)

    generated()
