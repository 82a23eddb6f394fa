"""The shipped Scrapyd configuration never serves its API without credentials."""

from __future__ import annotations

import pytest

from newsarchive.scrapyd_app import MISSING_CREDENTIALS
from tests.scrapyd_server import ScrapydServer, ScrapydUnavailable

pytestmark = pytest.mark.scrapyd


@pytest.mark.parametrize(
    "env",
    [
        {"SCRAPYD_USERNAME": "", "SCRAPYD_PASSWORD": ""},
        {"SCRAPYD_USERNAME": "scheduler", "SCRAPYD_PASSWORD": ""},
    ],
    ids=["no-credentials", "no-password"],
)
def test_deploy_config_refuses_to_start_without_credentials(tmp_path, env):
    server = ScrapydServer(tmp_path, env=env)
    with pytest.raises(ScrapydUnavailable) as refused:
        server.start(timeout=30)
    assert server.process is not None and server.process.poll() not in (None, 0)
    log = server.log_tail()
    assert MISSING_CREDENTIALS in log
    assert "Traceback" not in log
    assert "web console available" not in refused.value.args[0]


def test_deploy_config_starts_with_credentials(tmp_path):
    with ScrapydServer(tmp_path) as server:
        assert server.api("daemonstatus.json")["status"] == "ok"
