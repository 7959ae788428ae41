"""Schemathesis over hilo's own OpenAPI spec, against a live hilo on SQLite and PostgreSQL.

Every operation of the spec gets schema-valid and schema-invalid requests (NUL bytes, lone
surrogates, huge integers, wrong types...), then the spec's links (a created object's id into
the operations on it) drive stateful sequences. No response may be a 5xx, and each must conform
to the spec: a documented status, a JSON body where JSON is documented, and the documented
schema (OpenAI's error shape for every refusal, the seed facade's envelope under its prefix).

Deterministic (derandomized Hypothesis, fixed example counts): CI runs the same requests each
time. The server is kept off the network: every http(s) URL a request carries (webhook
endpoints, image URLs) is pointed at a closed loopback port before it is sent, and outbound
HTTP from the server goes through a closed loopback proxy.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hilo.app import create_app
from hilo.testing.fake_transcription import FakeTranscriptionServer
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection is refused at once
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 25  # per operation and backend: ~60 operations, about a minute per backend
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])


def _loopback_urls(value):
    """The value with every http(s) URL replaced by the closed loopback port."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return CLOSED + "/fuzz"
    if isinstance(value, dict):
        return {k: _loopback_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_loopback_urls(v) for v in value]
    return value


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(request, database_factory, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        mp.setenv(name, CLOSED)
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")
    mp.setenv("no_proxy", "127.0.0.1,localhost")
    # Audio that looks like audio is transcribed (by a local fake endpoint): a 503 for "nothing
    # configured" is the right answer for a server without one, but not a fuzzing finding.
    stt = FakeTranscriptionServer("fuzz", api_key=None)
    settings_ = make_settings(database_factory(request.param), tmp_path_factory.mktemp("fuzz"),
                              crypto_api_url=CLOSED, forex_api_url=CLOSED, market_timeout=1,
                              webhook_timeout_s=1, run_timeout=5, transcription_base_url=stt.base_url)
    live = start_server(settings_)
    yield live
    live.stop()
    stt.close()
    mp.undo()


def _spec() -> dict:
    """hilo's spec as a server with the fuzz settings serves it (it depends on no database)."""
    return create_app(make_settings("sqlite+aiosqlite:///:memory:", "/nonexistent")).openapi()


schema = schemathesis.openapi.from_dict(
    _spec(), config=schemathesis.Config.from_dict({"generation": {"mode": "all", "deterministic": True}}))


def _keep_off_the_network(case) -> None:
    if isinstance(case.body, dict | list):
        case.body = _loopback_urls(case.body)
    if case.query:
        case.query = _loopback_urls(case.query)


@schema.parametrize()
@FUZZ
def test_every_operation_answers_without_a_server_error(case, fuzzed):
    _keep_off_the_network(case)
    case.call_and_validate(base_url=fuzzed.url, checks=CHECKS)


def test_links_drive_stateful_sequences_without_a_server_error(fuzzed):
    machine = schema.as_state_machine()
    assert machine.bundles, "the spec's links give the state machine objects to follow"
    calls, failures = [], []

    class Machine(machine):
        def before_call(self, case):
            _keep_off_the_network(case)

        def get_call_kwargs(self, case):
            return {"base_url": fuzzed.url}

        def validate_response(self, response, case, **kwargs):
            # Collected, not raised: a sequence replayed against a server whose rows changed
            # since draws differently, which Hypothesis reports as flaky instead of the failure.
            calls.append(f"{case.method} {case.path} -> {response.status_code}")
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)
            except Exception as exc:  # FailureGroup: the check's report
                failures.append(f"{calls[-1]}\n{exc}")

    try:
        Machine.run(settings=settings(max_examples=30, stateful_step_count=8, derandomize=True, deadline=None,
                                      database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
    except Flaky:
        pass  # the server's state moved under a replay (see above); what ran was checked
    assert not failures, "\n\n".join(failures[:5])
    linked = [c for c in calls if not c.endswith(("-> 404", "-> 400"))]
    assert len(calls) >= 50 and len(linked) >= 15, calls  # about 80 calls, 30 answered 2xx or 409
