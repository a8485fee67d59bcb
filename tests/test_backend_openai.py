"""The openai backend against servers the tests start on 127.0.0.1: a fault-injecting fake and a real mlx_lm.server."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("openai")

from mlxclin.backends.base import Completion, Request  # noqa: E402
from mlxclin.backends.openai_backend import OpenAIBackend, split_answer  # noqa: E402
from mlxclin.backends.privacy import check_base_url  # noqa: E402
from mlxclin.errors import MlxclinError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import COMPLETION_TOKENS, PROMPT_TOKENS, REASONING_TOKENS, FaultServer  # noqa: E402


@pytest.fixture
def fault_server():
    server = FaultServer().start()
    yield server
    server.stop()


def backend(server, **options) -> OpenAIBackend:
    # tiny backoff and timeout so scripted failures cost milliseconds; the policy itself is the same
    options = {"model": "test-model", "base_url": server.url, "backoff_s": 0.01, "max_backoff_s": 0.05,
               "timeout_s": 0.5, **options}
    return OpenAIBackend(**options)


def req(prompt: str, **fields) -> Request:
    return Request(id=f"id-{prompt}", messages=[{"role": "system", "content": "Be brief."},
                                                {"role": "user", "content": prompt}], **fields)


# --- answers, usage and how the effort is sent -----------------------------------------------------------------------

@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False])
def test_answer_reasoning_and_usage(fault_server, api, stream):
    b = backend(fault_server, api=api, stream=stream)
    (c,) = b.generate([req("q1", effort="high")])
    b.close()
    assert (c.id, c.final, c.reasoning, c.text) == ("id-q1", "Answer to q1", "Thinking about q1", "Answer to q1")
    assert (c.status, c.finish_reason, c.format, c.error) == ("complete", "stop", "api", None)
    assert (c.prompt_tokens, c.completion_tokens, c.reasoning_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS,
                                                                          REASONING_TOKENS)
    assert c.latency_s > 0 and c.extra["retries"] == 0 and c.extra["api"] == api
    if stream:  # TTFT and speeds need a stream; without one they stay unknown rather than invented
        assert 0 < c.ttft_s <= c.latency_s and c.decode_tps > 0 and c.prefill_tps > 0
    else:
        assert c.ttft_s is None and c.decode_tps is None and c.prefill_tps is None
    body = fault_server.requests[0]["body"]
    assert bool(body.get("stream")) is stream
    if api == "responses":
        assert fault_server.requests[0]["path"] == "/v1/responses"
        assert body["reasoning"] == {"effort": "high"} and body["max_output_tokens"] == 2048
        assert body["input"][0] == {"role": "system", "content": "Be brief."}


def test_chat_effort_for_local_servers_goes_through_the_chat_template(fault_server):
    b = backend(fault_server)  # a loopback URL: server_kind "auto" -> "local"
    b.generate([req("q", effort="low", temperature=0.0, max_tokens=9, seed=3)])
    body = fault_server.requests[0]["body"]
    assert body["chat_template_kwargs"] == {"reasoning_effort": "low"}
    assert body["reasoning_effort"] == "low"
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (9, 0.0, 1.0, 3)
    assert body["stream_options"] == {"include_usage": True}


def test_model_card_sampling_reaches_a_local_server_and_the_responses_api_refuses_a_penalty(fault_server):
    b = backend(fault_server)
    b.generate([req("q", top_p=0.95, top_k=20, presence_penalty=1.5)])
    body = fault_server.requests[0]["body"]
    assert (body["temperature"], body["top_p"], body["top_k"], body["min_p"], body["presence_penalty"]) == \
        (1.0, 0.95, 20, 0.0, 1.5)   # top_k and min_p as extra body fields, next to the chat template's kwargs
    assert body["chat_template_kwargs"] == {"reasoning_effort": "medium"}
    with pytest.raises(MlxclinError, match="the Responses API has no presence_penalty parameter"):
        backend(fault_server, api="responses").generate([req("r", presence_penalty=1.5)])
    assert len(fault_server.requests) == 1   # refused before anything was sent


def test_chat_effort_for_cloud_endpoints_is_the_top_level_parameter(fault_server):
    b = backend(fault_server, server_kind="cloud")
    b.generate([req("q", effort="medium")])
    body = fault_server.requests[0]["body"]
    assert body["reasoning_effort"] == "medium" and "chat_template_kwargs" not in body
    assert body["max_completion_tokens"] == 2048 and "max_tokens" not in body
    assert "temperature" not in body and "top_p" not in body  # API defaults: reasoning models reject them


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_max_tokens_reached_is_truncated(fault_server, api):
    fault_server.plan["q"] = [("ok", {"finish_reason": "length", "content": "Answer cut"})]
    (c,) = backend(fault_server, api=api).generate([req("q")])
    assert (c.status, c.finish_reason, c.final) == ("truncated", "length", "Answer cut")


def test_raw_harmony_markup_is_parsed(fault_server):
    markup = "<|channel|>analysis<|message|>Weigh A and B.<|end|><|start|>assistant<|channel|>final<|message|>B"
    fault_server.plan["q"] = [("ok", {"content": markup, "reasoning": ""})]
    fault_server.plan["cut"] = [("ok", {"content": "<|channel|>analysis<|message|>Weigh A", "reasoning": "",
                                        "finish_reason": "length"})]
    done, cut = backend(fault_server).generate([req("q"), req("cut")])
    assert (done.format, done.reasoning, done.final, done.status) == ("harmony", "Weigh A and B.", "B", "complete")
    assert done.text == markup
    assert (cut.format, cut.final, cut.status) == ("harmony", "", "truncated")


def test_think_blocks_are_split_from_the_answer():
    assert split_answer("<think>hmm</think>\n\nPneumonia", "", True)[:3] == ("hmm", "Pneumonia", "complete")
    assert split_answer("hmm</think>Pneumonia", "", True)[:3] == ("hmm", "Pneumonia", "complete")  # tag in prompt
    assert split_answer("<think>still thinking", "", False)[:3] == ("still thinking", "", "truncated")
    assert split_answer("<think>hmm</think>", "", True)[2] == "malformed"  # stopped without an answer
    assert split_answer("Pneumonia", "from the API field", True)[:2] == ("from the API field", "Pneumonia")


# --- retries and failures --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("code", [429, 500, 503])
def test_transient_status_is_retried_then_succeeds(fault_server, api, code):
    fault_server.plan["q"] = [("status", code)]
    (c,) = backend(fault_server, api=api).generate([req("q")])
    assert (c.status, c.final) == ("complete", "Answer to q")
    assert c.extra["retries"] == 1 and c.extra["retry_reasons"][0].startswith(f"HTTP {code}")
    assert len(fault_server.requests_for("q")) == 2


@pytest.mark.parametrize("stream", [True, False])
def test_hang_beyond_timeout_is_retried_then_succeeds(fault_server, stream):
    fault_server.plan["q"] = [("hang", 30)]
    (c,) = backend(fault_server, stream=stream).generate([req("q")])
    assert (c.status, c.final) == ("complete", "Answer to q")
    assert c.extra["retry_reasons"] == ["timed out after 0.5 s"]
    assert len(fault_server.requests_for("q")) == 2


def test_hang_on_every_attempt_gives_an_error_completion_and_the_batch_goes_on(fault_server):
    fault_server.plan["stuck"] = [("hang", 30)] * 3
    ok, stuck = backend(fault_server, max_retries=2).generate([req("fine"), req("stuck")])
    assert (ok.id, ok.status) == ("id-fine", "complete")
    assert (stuck.id, stuck.status, stuck.finish_reason, stuck.final) == ("id-stuck", "error", "error", "")
    assert "timed out" in stuck.error and stuck.extra["retries"] == 2
    assert len(fault_server.requests_for("stuck")) == 3  # one attempt plus max_retries


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_cut_off_midway_is_retried_not_taken_as_an_answer(fault_server, api):
    fault_server.plan["q"] = [("drop",)]
    (c,) = backend(fault_server, api=api).generate([req("q")])
    assert (c.status, c.final, c.extra["retries"]) == ("complete", "Answer to q", 1)
    assert "stream ended" in c.extra["retry_reasons"][0]


def test_bad_request_is_not_retried(fault_server):
    fault_server.plan["bad"] = [("status", 400)]
    bad, good = backend(fault_server).generate([req("bad"), req("good")])
    assert (bad.status, bad.finish_reason) == ("error", "error") and bad.error.startswith("HTTP 400")
    assert good.status == "complete"
    assert len(fault_server.requests_for("bad")) == 1


def test_connection_refused_is_retried_then_an_error_completion():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_s=0.01, timeout_s=2)
    (c,) = b.generate([req("q")])
    assert c.status == "error" and c.error.startswith("connection failed") and c.extra["retries"] == 1


@pytest.mark.parametrize("code", [401, 403, 404])
def test_auth_and_not_found_abort_the_batch_without_retrying(fault_server, code, monkeypatch):
    monkeypatch.setenv("FAULT_TEST_KEY", "k-123456")
    fault_server.plan["first"] = [("status", code)]
    b = backend(fault_server, concurrency=1, api_key_env="FAULT_TEST_KEY")
    with pytest.raises(MlxclinError) as e:
        b.generate([req("first"), req("second"), req("third")])
    message = str(e.value)
    assert "\n" not in message and f"HTTP {code}" in message and "k-123456" not in message
    assert ("FAULT_TEST_KEY" in message) if code != 404 else ("test-model" in message)
    assert len(fault_server.requests) == 1  # neither retried nor followed by the queued requests


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap(fault_server):
    b = backend(fault_server, backoff_s=1.0, max_backoff_s=10.0)
    for retry, ceiling in enumerate([1, 2, 4, 8, 10, 10]):
        delays = [b.retry_delay(retry) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert b.retry_delay(0, retry_after=7.0) == 7.0  # the server's Retry-After wins when longer
    assert b.retry_delay(0, retry_after=99.0) == 10.0  # but never beyond the cap


def test_concurrency_is_bounded_and_order_kept(fault_server):
    prompts = [f"p{i}" for i in range(6)]
    for p in prompts:
        fault_server.plan[p] = [("slow", 0.2)]
    out = backend(fault_server, concurrency=2).generate([req(p) for p in prompts])
    assert [c.final for c in out] == [f"Answer to {p}" for p in prompts]
    assert fault_server.max_in_flight <= 2


# --- privacy and secrets --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "https://openrouter.ai/api/v1",
                                 "http://10.0.0.5:8080/v1", "http://192.168.1.2/v1", "http://localhost.example.com/v1",
                                 "http://127.0.0.1.nip.io/v1", "http://0.0.0.0:8080/v1", None])
def test_remote_base_urls_are_refused_without_the_flag(url):
    with pytest.raises(MlxclinError) as e:
        check_base_url(url, allow_remote=False)
    assert "--allow-remote" in str(e.value) and "patient data" in str(e.value) and "\n" not in str(e.value)
    check_base_url(url, allow_remote=True)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1", "http://127.9.9.9/v1", "http://localhost:1234/v1",
                                 "http://LOCALHOST/v1", "http://[::1]:8080/v1", "http://[::ffff:127.0.0.1]/v1"])
def test_loopback_base_urls_are_allowed(url):
    check_base_url(url, allow_remote=False)


def test_backend_refuses_remote_and_accepts_it_with_the_flag(monkeypatch):
    monkeypatch.setenv("FAULT_TEST_KEY", "k-remote")
    with pytest.raises(MlxclinError, match="--allow-remote"):
        OpenAIBackend("gpt-5", api_key_env="FAULT_TEST_KEY")
    with pytest.raises(MlxclinError, match="--allow-remote"):
        OpenAIBackend("deepseek/deepseek-r1", base_url="https://openrouter.ai/api/v1", api_key_env="FAULT_TEST_KEY")
    b = OpenAIBackend("gpt-5", api_key_env="FAULT_TEST_KEY", allow_remote=True)  # constructs; sends nothing
    assert (b.api, b.server_kind) == ("responses", "cloud")
    assert "k-remote" not in repr(b)
    b.close()


def test_missing_key_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("FAULT_TEST_KEY", raising=False)
    with pytest.raises(MlxclinError, match="FAULT_TEST_KEY.*not set"):
        OpenAIBackend("gpt-5", api_key_env="FAULT_TEST_KEY", allow_remote=True)
    with pytest.raises(MlxclinError, match="--api-key-env"):
        OpenAIBackend("gpt-5", allow_remote=True)


def test_missing_sdk_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    with pytest.raises(MlxclinError, match=r"pip install 'mlxclin\[openai\]'"):
        OpenAIBackend("m", base_url="http://127.0.0.1:9/v1")


def test_api_key_never_reaches_a_written_file(fault_server, monkeypatch, tmp_path, capsys, caplog):
    secret = "sk-test-Zq8mSECRETvalue41"
    monkeypatch.setenv("MLXCLIN_TEST_API_KEY", secret)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for api in ("chat", "responses"):
        # the fake server echoes the key in its error messages, as some providers do
        fault_server.plan.update({"retried": [("status", 429)], "rejected": [("status", 400)], "dropped": [("drop",)]})
        b = backend(fault_server, api=api, api_key_env="MLXCLIN_TEST_API_KEY")
        out = b.generate([req("fine"), req("retried"), req("rejected"), req("dropped")])
        with open(run_dir / f"samples-{api}.jsonl", "w") as f:
            f.writelines(json.dumps(c.to_dict()) + "\n" for c in out)
        assert [c.status for c in out] == ["complete", "complete", "error", "complete"]
        b.close()
    fault_server.plan["denied"] = [("status", 401)]
    with pytest.raises(MlxclinError) as e:
        backend(fault_server, api_key_env="MLXCLIN_TEST_API_KEY").generate([req("denied")])
    (run_dir / "error.txt").write_text(str(e.value))
    captured = capsys.readouterr()
    (run_dir / "output.txt").write_text(captured.out + captured.err + caplog.text)

    # the key was really used (so the test could fail), and no file holds it
    assert {r["headers"]["authorization"] for r in fault_server.requests} == {f"Bearer {secret}"}
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(written) == 4 and any("scripted failure for key ***" in p.read_text() for p in written)
    assert [p.name for p in written if secret in p.read_text()] == []


# --- a real mlx_lm.server serving the converted toy model ------------------------------------------------------------

@pytest.fixture(scope="module")
def mlx_lm_server(toy_mlx_dir, tmp_path_factory):
    """`python -m mlx_lm.server` on 127.0.0.1 at a free port; stopped (and its log shown on failure) after the tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = tmp_path_factory.mktemp("mlx-lm-server") / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlx_lm.server", "--model", str(toy_mlx_dir), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlx_lm.server did not start: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def greedy(url: str, effort: str, **options) -> Completion:
    # the model name "default_model" makes mlx_lm.server use the model it was started with (no Hub lookup)
    b = OpenAIBackend("default_model", base_url=url, timeout_s=120, max_retries=0, **options)
    (c,) = b.generate([Request(id=effort, messages=[{"role": "user", "content": "Chest pain?"}], effort=effort,
                               temperature=0.0, max_tokens=8)])
    b.close()
    assert c.status != "error", c.error
    return c


@pytest.mark.slow
@pytest.mark.parametrize("stream", [True, False])
def test_mlx_lm_server_answers_with_usage(mlx_lm_server, stream):
    c = greedy(mlx_lm_server, "high", stream=stream)
    assert c.extra["server_kind"] == "local" and c.extra["usage_reported"]
    assert c.prompt_tokens > 20 and 0 < c.completion_tokens <= 8
    assert c.finish_reason in ("stop", "length") and c.latency_s > 0
    if stream:
        assert c.ttft_s is not None and c.decode_tps is not None


@pytest.mark.slow
def test_mlx_lm_server_renders_the_effort_into_the_template(mlx_lm_server):
    # Greedy decoding is deterministic, so different outputs mean different prompts: the template's
    # "Reasoning: {{ reasoning_effort }}" line changed. Same-effort repeats rule out nondeterminism.
    text = {e: greedy(mlx_lm_server, e).text for e in ("low", "medium", "high")}
    assert len(set(text.values())) == 3
    assert greedy(mlx_lm_server, "low").text == text["low"]
    # The top-level `reasoning_effort` alone (server_kind "cloud") is ignored by mlx_lm.server: the template falls
    # back to its default, "medium". This is why local servers get chat_template_kwargs.
    assert greedy(mlx_lm_server, "low", server_kind="cloud").text == text["medium"]


@pytest.mark.slow
def test_eval_through_mlx_lm_server_writes_a_valid_run_dir(mlx_lm_server, run_mlxclin, tiny_eurorad_csv, tmp_path):
    out = tmp_path / "run"
    result = run_mlxclin("eval", "--task", "eurorad", "--backend", "openai", "--base-url", mlx_lm_server,
                         "--model", "default_model", "--data", tiny_eurorad_csv, "--runs", "2", "--max-tokens", "8",
                         "--temperature", "0", "--effort", "high", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 8 and all(s["status"] != "error" for s in samples)
    assert all(s["prompt_tokens"] > 0 and s["latency_s"] > 0 for s in samples)
    metrics = json.loads((out / "metrics.json").read_text())
    perf = json.loads((out / "perf.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert metrics["n_items"] == 4 and metrics["effort"] == "high"
    assert perf["backend"] == "openai" and perf["efforts"]["high"]["n_samples"] == 8
    assert config["base_url"] == mlx_lm_server
