"""The engine's text is what plain PEFT would produce, alone, batched, or streamed."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from serving_helpers import BASE, PROMPT, reference_generate

from tuneloop_worker.serving import GenerationRequest

pytestmark = pytest.mark.timeout(300)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module", autouse=True)
def loaded(engine, adapter_dirs):
    # Keys with characters that are not valid module names, as the control plane sends them.
    run(engine.load_adapter("support@v1", adapter_dirs["A"]))
    run(engine.load_adapter("org/support.v2", adapter_dirs["B"]))


def test_adapter_output_matches_plain_peft(engine, adapter_dirs, model_cache):
    result = run(engine.generate(GenerationRequest(PROMPT, max_tokens=16, adapter="support@v1")))
    assert result.text == reference_generate(model_cache, adapter_dirs["A"], PROMPT, 16)
    assert result.prompt_tokens > 10 and 1 <= result.completion_tokens <= 16

    base = run(engine.generate(GenerationRequest(PROMPT, max_tokens=16)))
    assert base.text == reference_generate(model_cache, None, PROMPT, 16)
    assert base.text != result.text, "the test adapter must really change the output"


def test_mixed_batch_rows_match_solo_requests(engine):
    requests = [
        GenerationRequest(PROMPT, max_tokens=16, adapter="support@v1"),
        GenerationRequest([{"role": "user", "content": "Name three colors."}], max_tokens=12),
        GenerationRequest(PROMPT, max_tokens=16, adapter="org/support.v2"),
        GenerationRequest([{"role": "user", "content": "Write a haiku about rain."}], max_tokens=10,
                          adapter="support@v1"),
    ]
    solo = [run(engine.generate(r)) for r in requests]
    assert solo[0].text != solo[2].text, "adapters A and B must give different answers"

    async def together():
        return await asyncio.gather(*(engine.generate(r) for r in requests))

    before = engine.stats
    batched = run(together())
    after = engine.stats
    assert [b.text for b in batched] == [s.text for s in solo]
    assert batched == solo  # token counts and finish reasons too
    assert after.generate_calls == before.generate_calls + 1, "all four rows in one generate call"
    assert after.largest_batch >= 4
    assert all(b.completion_tokens <= r.max_tokens for b, r in zip(batched, requests))


async def _collect(engine, request):
    deltas = [d async for d in engine.stream(request)]
    assert deltas[-1].result is not None
    assert all(d.result is None for d in deltas[:-1]), "only the last delta carries the result"
    return "".join(d.text for d in deltas), deltas[-1].result


def test_stream_concatenation_equals_generate(engine):
    request = GenerationRequest(PROMPT, max_tokens=16, adapter="org/support.v2")
    text, result = run(_collect(engine, request))
    assert text == result.text == run(engine.generate(request)).text
    assert result.finish_reason == "length" and result.completion_tokens == 16


def test_finish_reasons_and_multibyte_stream(engine):
    short = run(engine.generate(GenerationRequest(PROMPT, max_tokens=3)))
    assert short.finish_reason == "length" and short.completion_tokens == 3

    full = run(engine.generate(GenerationRequest(PROMPT, max_tokens=64)))
    assert full.finish_reason == "stop" and full.completion_tokens < 64  # the base model answers briefly

    request = GenerationRequest([{"role": "user", "content": "Say hello in Japanese."}], max_tokens=16)
    text, result = run(_collect(engine, request))
    assert text == result.text and "\ufffd" not in text


def test_seeded_sampling_is_reproducible_in_any_batch(engine):
    sampled = GenerationRequest(PROMPT, max_tokens=12, temperature=0.9, top_p=0.95, seed=7,
                                adapter="support@v1")
    alone = run(engine.generate(sampled))

    async def with_neighbours():
        others = [GenerationRequest(PROMPT, max_tokens=12, temperature=1.0, seed=s) for s in (1, 2)]
        return await asyncio.gather(engine.generate(sampled), *(engine.generate(o) for o in others))

    assert run(with_neighbours())[0] == alone
    greedy = GenerationRequest(PROMPT, max_tokens=12)
    assert run(engine.generate(greedy)) == run(engine.generate(greedy))


def test_invalid_request_is_rejected_before_queueing(engine):
    with pytest.raises(ValueError, match="max_tokens"):
        run(engine.generate(GenerationRequest(PROMPT, max_tokens=0)))
    with pytest.raises(ValueError, match="content"):
        run(engine.generate(GenerationRequest([{"role": "user"}])))


def test_bad_row_fails_alone_in_its_batch(engine):
    too_long = GenerationRequest([{"role": "user", "content": "hello " * 9000}], max_tokens=4)
    fine = GenerationRequest(PROMPT, max_tokens=4)

    async def together():
        return await asyncio.gather(engine.generate(too_long), engine.generate(fine), return_exceptions=True)

    failed, served = run(together())
    assert isinstance(failed, ValueError) and "context" in str(failed)
    assert served.completion_tokens == 4


def test_lifecycle_limits_and_abandoned_stream(model_cache, adapter_dirs, tmp_path):
    from tuneloop_worker.serving import AdapterLoadError, LocalPeftEngine, ServingBackend

    wrong_rank = tmp_path / "wrong-rank"
    shutil.copytree(adapter_dirs["A"], wrong_rank)
    config = json.loads((wrong_rank / "adapter_config.json").read_text())
    (wrong_rank / "adapter_config.json").write_text(json.dumps({**config, "r": 16}))
    engine = LocalPeftEngine(BASE, model_cache, max_adapters=1)
    assert isinstance(engine, ServingBackend)
    with pytest.raises(RuntimeError, match="not started"):
        run(engine.generate(GenerationRequest(PROMPT)))

    async def scenario():
        await engine.start()
        base_params = engine.stats.parameters
        # The first adapter wraps the base in a PeftModel; a failure then must unwrap it again.
        with pytest.raises(AdapterLoadError, match="does not fit"):
            await engine.load_adapter("one", wrong_rank)
        assert engine.stats.parameters == base_params and engine.stats.adapters == 0
        await engine.load_adapter("one", adapter_dirs["A"])
        with pytest.raises(AdapterLoadError, match="max_adapters"):
            await engine.load_adapter("two", adapter_dirs["B"])
        await engine.load_adapter("one", adapter_dirs["B"])  # replacing a key is not adding one
        stream = engine.stream(GenerationRequest(PROMPT, max_tokens=200, temperature=1.0, seed=1))
        first = await anext(stream)
        await stream.aclose()  # the caller walks away: its row is stopped, not decoded to 200
        assert first.result is None
        after = await engine.generate(GenerationRequest(PROMPT, max_tokens=4))
        assert after.completion_tokens == 4
        await engine.close()

    run(scenario())
    with pytest.raises(RuntimeError, match="closed"):
        run(engine.generate(GenerationRequest(PROMPT)))
