"""API keys never reach the logs, the answers or Redis."""

from __future__ import annotations

import json
import logging

import pytest

from service.auth.keyring import api_keys_of
from service.settings import Settings, SettingsError

from .authkeys import ALPHA_INGEST, BETA_INGEST, KEYS, bearer, reading

LIMITED = "ak_limited_admin_8e2c5a1f9d3b7e6a"
SHORT = "ak_short_key"
SECRET_KEYS = {**KEYS, LIMITED: {"role": "admin", "org": "*", "rate_limit": 1}, SHORT: {"role": "read", "org": "*"}}


def every_logged_text(caplog, capsys) -> str:
    records = [json.dumps({**vars(record), "msg": record.getMessage()}, default=str) for record in caplog.records]
    captured = capsys.readouterr()
    return "\n".join([caplog.text, *records, captured.out, captured.err])


def test_no_key_appears_in_any_log_line_or_answer(make_app, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    client = make_app(SECRET_KEYS, log_requests=True, log_level="DEBUG").test_client()
    answers = [
        client.post("/data", json=[reading("a1")], headers=bearer(ALPHA_INGEST)),  # 200, claims a1
        client.post("/data", json=[reading("a1")], headers=bearer(BETA_INGEST)),  # 404
        client.get("/statistics/a1", headers=bearer(ALPHA_INGEST)),  # 403
        client.get("/statistics/a1", headers={"X-API-Key": ALPHA_INGEST + "-wrong"}),  # 401
        client.get("/statistics/a1", headers={**bearer(ALPHA_INGEST), "X-API-Key": BETA_INGEST}),  # 401
        client.get("/statistics/a1", headers=bearer(SHORT)),  # 200
        client.get("/statistics/a1", headers=bearer(LIMITED)),
        client.get("/statistics/a1", headers=bearer(LIMITED)),  # 429 within the second
        client.post("/data", data="not json", content_type="application/json", headers=bearer(ALPHA_INGEST)),  # 400
    ]
    assert {a.status_code for a in answers} >= {200, 400, 401, 403, 404}
    logged = every_logged_text(caplog, capsys)
    assert '"status": 401' in logged or '"status":401' in logged  # the access log did run
    assert "short API key" in logged  # and the start-up warnings
    for key in SECRET_KEYS:
        assert key not in logged
        for answer in answers:
            assert key not in answer.get_data(as_text=True)
            assert key not in str(answer.headers)


@pytest.mark.parametrize(
    "spec", [{"role": "root", "org": "*"}, {"role": "read", "org": "*", "extra": 1}, {"role": "read", "org": 7}]
)
def test_settings_errors_name_the_entry_not_the_key(spec):
    with pytest.raises(SettingsError) as caught:
        api_keys_of(Settings.from_env({"API_KEYS": json.dumps({"ak_first_ok_key_0000000000": {"role": "read", "org": "*"}, LIMITED: spec})}))
    assert "entry #2" in str(caught.value) and LIMITED not in str(caught.value)
