"""The openai backend keeps patient data and secrets where they belong (issue 11): a loopback endpoint is never
reached through a proxy, an explicitly allowed remote one may be; no fragment of the API key is ever written."""

import json
import sys
from pathlib import Path

import pytest

from mlxclin.backends.base import Request
from mlxclin.backends.openai_backend import OpenAIBackend
from mlxclin.backends.privacy import redact_secret

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer  # noqa: E402

SECRET = "sk-proj-Zq8mSECRETvalue41xYz"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def servers():
    """(endpoint, proxy): two local fake servers; the proxy records every request that reaches it."""
    endpoint, proxy = FaultServer().start(), FaultServer().start()
    yield endpoint, proxy
    endpoint.stop()
    proxy.stop()


def _route_through(monkeypatch, proxy: FaultServer) -> None:
    root = proxy.url.removesuffix("/v1")
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, root)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def _request(prompt="What is the diagnosis?") -> Request:
    return Request(id="r", messages=[{"role": "user", "content": prompt}], max_tokens=16)


def test_a_loopback_request_never_goes_to_the_proxy(servers, monkeypatch):
    endpoint, proxy = servers
    _route_through(monkeypatch, proxy)
    backend = OpenAIBackend("m", base_url=endpoint.url, timeout_s=5, max_retries=0)
    completion = backend.generate([_request()])[0]
    backend.close()
    assert completion.status == "complete", completion.error
    assert len(endpoint.requests) == 1 and proxy.requests == []


def test_an_explicitly_allowed_remote_endpoint_honours_the_proxy(servers, monkeypatch):
    _, proxy = servers
    _route_through(monkeypatch, proxy)
    monkeypatch.setenv("MLXCLIN_TEST_KEY", SECRET)
    backend = OpenAIBackend("m", base_url="http://llm.example.invalid/v1", allow_remote=True,
                            api_key_env="MLXCLIN_TEST_KEY", timeout_s=5, max_retries=0)
    completion = backend.generate([_request()])[0]
    backend.close()
    assert completion.status == "complete", completion.error
    assert [r["path"] for r in proxy.requests] == ["http://llm.example.invalid/v1/chat/completions"]


def test_timeout_is_a_constructor_argument_that_bounds_a_silent_server(servers):
    endpoint, _ = servers
    endpoint.plan["silent"] = [("hang", 5)]
    backend = OpenAIBackend("m", base_url=endpoint.url, timeout_s=0.3, max_retries=0)
    completion = backend.generate([_request("silent")])[0]
    backend.close()
    assert completion.status == "error" and "timed out after 0.3 s" in completion.error


@pytest.mark.parametrize("text, expected", [
    (f"bad key {SECRET}", "bad key ***"),
    ("bad key sk-proj-Zq8m...e41xYz", "bad key ***...e41xYz"),        # 12 leading characters echoed
    ("key ending SECRETvalue41xYz was rejected", "key ending *** was rejected"),
    ("key ending 41xYz was rejected", "key ending 41xYz was rejected"),   # 5 characters: not a secret
])
def test_any_fragment_of_eight_or_more_key_characters_is_redacted(text, expected):
    assert redact_secret(text, SECRET) == expected


def test_a_5xx_body_echoing_part_of_the_key_never_reaches_samples(servers, monkeypatch, tmp_path):
    endpoint, _ = servers
    monkeypatch.setenv("MLXCLIN_TEST_KEY", SECRET)
    endpoint.plan["p"] = [("status_fragment", 503, 4, 20)] * 3    # the server echoes key[4:20] each time
    backend = OpenAIBackend("m", base_url=endpoint.url, api_key_env="MLXCLIN_TEST_KEY", timeout_s=5,
                            max_retries=2, backoff_s=0.01, max_backoff_s=0.02)
    completion = backend.generate([_request("p")])[0]
    backend.close()
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps(completion.to_dict()) + "\n")
    assert completion.status == "error" and "HTTP 503" in completion.error and "***" in completion.error
    written = samples.read_text()
    assert not any(SECRET[i:i + 8] in written for i in range(len(SECRET) - 7))
