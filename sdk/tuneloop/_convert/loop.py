"""Conversions for the feedback loop: evaluation options, promotion, retrain policies, imports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import types as t
from .._errors import InvalidArgumentError
from ..v1 import adapters_pb2, feedback_pb2, jobs_pb2
from .fields import build_hyperparameters, hyperparameters_to_dict
from .requests import dataset_id_of

EVALUATION_KEYS = ("eval_dataset", "eval_share", "promotion_threshold", "warm_start",
                   "feedback_weight", "general_eval_dataset")


def evaluation_pb(evaluation: Mapping[str, Any] | None) -> jobs_pb2.JobEvaluation:
    """jobs.create(evaluation={...}) → JobEvaluation; unknown keys raise before sending."""
    values = dict(evaluation or {})
    unknown = sorted(set(values) - set(EVALUATION_KEYS))
    if unknown:
        raise InvalidArgumentError(f"unknown evaluation option(s) {', '.join(unknown)}; expected "
                                   f"{', '.join(EVALUATION_KEYS)}")
    msg = jobs_pb2.JobEvaluation(warm_start=bool(values.get("warm_start", False)))
    for key, field in (("eval_dataset", "eval_dataset_id"),
                       ("general_eval_dataset", "general_eval_dataset_id")):
        if values.get(key):
            setattr(msg, field, dataset_id_of(values[key], key))
    for key in ("eval_share", "promotion_threshold", "feedback_weight"):
        if values.get(key) is not None:
            setattr(msg, key, values[key])
    return msg


def evaluation_dict(m: jobs_pb2.JobEvaluation) -> dict[str, Any]:
    return {"eval_dataset": m.eval_dataset_id, "eval_share": m.eval_share,
            "promotion_threshold": m.promotion_threshold, "warm_start": m.warm_start,
            "feedback_weight": m.feedback_weight, "general_eval_dataset": m.general_eval_dataset_id}


def promote_request(name: str, version: int) -> adapters_pb2.PromoteAdapterRequest:
    return adapters_pb2.PromoteAdapterRequest(name=name, version=version)


def retrain_policy_request(*, adapter: str, dataset: Any, base_model: str,
                           hyperparameters: Mapping[str, Any] | None, after_corrections: int,
                           every_seconds: float, evaluation: Mapping[str, Any] | None,
                           enabled: bool) -> adapters_pb2.RetrainPolicy:
    return adapters_pb2.RetrainPolicy(
        adapter=adapter, dataset_id=dataset_id_of(dataset), base_model=base_model,
        hyperparameters=build_hyperparameters(hyperparameters), after_corrections=after_corrections,
        every_seconds=every_seconds, evaluation=evaluation_pb(evaluation), enabled=enabled)


def retrain_policy(m: adapters_pb2.RetrainPolicy) -> t.RetrainPolicy:
    return t.RetrainPolicy(
        adapter=m.adapter, dataset_id=m.dataset_id, base_model=m.base_model,
        hyperparameters=hyperparameters_to_dict(m.hyperparameters),
        after_corrections=m.after_corrections, every_seconds=m.every_seconds,
        evaluation=evaluation_dict(m.evaluation), enabled=m.enabled)


def import_feedback_request(*, adapter: str, filename: str, content: bytes,
                            scrub_personal_data: bool) -> feedback_pb2.ImportFeedbackRequest:
    return feedback_pb2.ImportFeedbackRequest(adapter=adapter, filename=filename, content=content,
                                              scrub_personal_data=scrub_personal_data)


def feedback_import(m: feedback_pb2.ImportFeedbackResponse) -> t.FeedbackImport:
    return t.FeedbackImport(imported=m.imported,
                            errors=[t.DatasetError(e.line, e.message) for e in m.errors])


def get_retrain_policy_request(name: str) -> adapters_pb2.GetRetrainPolicyRequest:
    return adapters_pb2.GetRetrainPolicyRequest(adapter=name)
