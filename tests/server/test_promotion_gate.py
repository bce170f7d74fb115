"""The promotion gate's verdicts and the held-out split of corrections."""

from __future__ import annotations

from tuneloop_server.services.job_evaluation import judge, split_feedback
from tuneloop_server.store.records import FeedbackRecord


def scores(new_em: float, prev_em: float, new_f1: float = 1.0, prev_f1: float = 1.0) -> dict:
    return {"eval.new.exact_match": new_em, "eval.previous.exact_match": prev_em,
            "eval.new.token_f1": new_f1, "eval.previous.token_f1": prev_f1, "eval.examples": 4.0,
            "train_loss": 0.1}


def test_first_version_and_missing_eval_set_are_promoted():
    assert judge(0, {}, 0.0).promote
    verdict = judge(2, {"train_loss": 0.1}, 0.0)
    assert verdict.promote and "without comparison" in verdict.note


def test_worse_exact_match_or_f1_blocks_promotion_unless_within_threshold():
    blocked = judge(2, scores(0.5, 1.0), 0.0)
    assert not blocked.promote
    assert "exact match 0.50 < 1.00 of v2" in blocked.note and "4 eval examples" in blocked.note
    assert not judge(2, scores(1.0, 1.0, new_f1=0.7, prev_f1=0.9), 0.0).promote
    assert judge(2, scores(0.75, 1.0), 0.25).promote
    passed = judge(2, scores(1.0, 0.5), 0.0)
    assert passed.promote and passed.scores["new.exact_match"] == 1.0
    assert "train_loss" not in passed.scores
    general = judge(2, {**scores(1.0, 1.0), "general.new.exact_match": 0.5}, 0.0)
    assert general.scores["general.new.exact_match"] == 0.5  # reported, not gated


def record(i: int) -> FeedbackRecord:
    return FeedbackRecord(tenant_id="t", id=f"fb_{i}", request_id="", adapter="a", adapter_version=0,
                          messages=[], output="", correction=str(i), rating=None, note="", created_at=0)


def test_held_out_share_is_stable_and_leaves_something_to_train_on():
    items = [record(i) for i in range(10)]
    train, held = split_feedback(items, 0.2)
    assert len(held) == 2 and len(train) == 8
    assert split_feedback(list(reversed(items)), 0.2)[1] == held  # the order does not matter
    assert split_feedback(items[:1], 0.5) == (items[:1], [])
    assert [len(part) for part in split_feedback(items[:2], 0.9)] == [1, 1]
    assert split_feedback(items, 0.0) == (items, [])
