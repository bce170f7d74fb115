"""Every RPC demands the right kind of key, and no request, however odd, crashes a handler.

The RPCs are walked from the service descriptors, so a new RPC is covered without editing
this file. The fuzz builds random requests from the message descriptors and mixes in ids
that exist on the server, so the handlers get past "not found" now and then. A status of
INTERNAL or UNKNOWN means a handler raised something other than a ServiceError: a bug.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tuneloop
from tuneloop.v1 import (
    adapters_pb2,
    admin_pb2,
    datasets_pb2,
    feedback_pb2,
    inference_pb2,
    jobs_pb2,
    worker_pb2,
)
from tuneloop_worker import base_models

SAMPLE = Path(__file__).resolve().parents[2] / "sdk" / "tuneloop" / "samples" / "facts.jsonl"
MODULES = (datasets_pb2, jobs_pb2, adapters_pb2, inference_pb2, feedback_pb2, worker_pb2, admin_pb2)
# Destructive RPCs last, so the ids they may delete or end serve the others first.
DESTRUCTIVE = ("Delete", "Cancel", "Revoke", "Fail")
METHODS = sorted(
    (method for module in MODULES for service in module.DESCRIPTOR.services_by_name.values()
     for method in service.methods),
    key=lambda m: m.name.startswith(DESTRUCTIVE))
IDS = [f"{m.containing_service.name}.{m.name}" for m in METHODS]
# RPCs that may legitimately still be waiting when the client's deadline passes.
LONG_POLLS = {"LeaseJob"}
BAD = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def call(channel: grpc.Channel, method: Any, request: Any, metadata: Any = None,
         timeout: float = 10.0) -> tuple[grpc.StatusCode, str]:
    """Call any RPC generically; return its status code and details."""
    req_cls, resp_cls = GetMessageClass(method.input_type), GetMessageClass(method.output_type)
    shape = ("stream" if method.client_streaming else "unary") + "_" + \
            ("stream" if method.server_streaming else "unary")
    rpc = getattr(channel, shape)(f"/{method.containing_service.full_name}/{method.name}",
                                  request_serializer=req_cls.SerializeToString,
                                  response_deserializer=resp_cls.FromString)
    if method.client_streaming:
        request = iter(request if isinstance(request, list) else [request])
    try:
        reply = rpc(request, metadata=metadata, timeout=timeout)
        if method.server_streaming:
            for _ in reply:
                pass
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def empty_request(method: Any) -> Any:
    return GetMessageClass(method.input_type)()


def health(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status


@dataclass
class Fuzzed:
    address: str
    user_key: str
    admin_key: str
    worker_token: str
    dataset_id: str
    job_id: str

    def key_for(self, method: Any) -> str:
        return {"WorkerService": self.worker_token,
                "AdminService": self.admin_key}.get(method.containing_service.name, self.user_key)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_settings):
    from tuneloop_server.embedded import BackgroundServer

    settings_ = server_settings(tmp_path_factory.mktemp("rpc-fuzz") / "data", embedded_workers=0,
                                default_requests_per_second=None)
    background = BackgroundServer(settings_)
    address = background.start()
    try:
        with tuneloop.Client(address, api_key=background.api_key) as client:
            dataset = client.datasets.upload(SAMPLE)
            # Stays queued (no workers): WatchJob on it waits, LeaseJob may claim it.
            job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="facts")
        with tuneloop.Client(address, api_key=background.admin_key) as admin:
            admin.admin.create_tenant("fuzz-tenant")  # SetQuotas fuzz hits this, not "default"
        yield Fuzzed(address, background.api_key, background.admin_key,
                     background.plane.local_keys.worker_token, dataset.id, job.id)
    finally:
        background.stop()


@pytest.fixture(scope="module")
def channel(server: Fuzzed):
    with grpc.insecure_channel(server.address) as ch:
        yield ch


# -- authentication and key kinds ------------------------------------------------------------

def test_every_rpc_without_a_key_is_unauthenticated(channel):
    assert len(METHODS) >= 25, "the descriptor walk found too few RPCs"
    unknown = f"tlk_{secrets.token_hex(6)}_{secrets.token_hex(24)}"
    for metadata in (None, (("authorization", "Bearer nonsense"),), bearer(unknown)):
        for method, name in zip(METHODS, IDS):
            code, details = call(channel, method, empty_request(method), metadata, timeout=10)
            assert code == grpc.StatusCode.UNAUTHENTICATED, (name, metadata, code, details)


def test_wrong_kind_of_key_is_permission_denied(server, channel):
    by_name = dict(zip(IDS, METHODS))
    cases = [
        (server.user_key, "WorkerService.LeaseJob"),
        (server.user_key, "WorkerService.RegisterWorker"),
        (server.user_key, "AdminService.ListTenants"),
        (server.worker_token, "JobService.ListJobs"),
        (server.worker_token, "DatasetService.UploadDataset"),
        (server.worker_token, "AdminService.ListTenants"),
        (server.admin_key, "JobService.ListJobs"),
        (server.admin_key, "InferenceService.StreamGenerate"),
        (server.admin_key, "WorkerService.LeaseJob"),
    ]
    for key, name in cases:
        method = by_name[name]
        code, details = call(channel, method, empty_request(method), bearer(key), timeout=10)
        assert code == grpc.StatusCode.PERMISSION_DENIED, (name, code, details)
        assert "needs a key of kind" in details


def test_health_needs_no_key(channel):
    assert health(channel) == health_pb2.HealthCheckResponse.SERVING


# -- random requests from the descriptors ----------------------------------------------------

INT_RANGES = {
    F.TYPE_INT32: (-2**31, 2**31 - 1), F.TYPE_SINT32: (-2**31, 2**31 - 1),
    F.TYPE_SFIXED32: (-2**31, 2**31 - 1), F.TYPE_INT64: (-2**63, 2**63 - 1),
    F.TYPE_SINT64: (-2**63, 2**63 - 1), F.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}
ODD_STRINGS = ["", " ", "\x00", "a\x00b", "x" * 300, "../../etc/passwd", "é中🙂\u200b", "@", "a@v",
               "%s%n", "'; DROP TABLE jobs; --", "\n\t"]
MAX_DEPTH = 3


def pools(server: Fuzzed) -> dict[str, list[Any]]:
    """Almost-valid values by field name, drawn 3 times in 4. Never a base model name for
    `model`: serving one would load it into memory."""
    return {
        "dataset_id": [server.dataset_id, server.dataset_id, "ds_missing"],
        "validation_dataset_id": ["", server.dataset_id, "ds_missing"],
        "job_id": [server.job_id, server.job_id, "job_missing"],
        "adapter": ["facts", "facts-2", "a@v", "x" * 65],
        "model": ["facts", "facts@v1", "facts@v0", "facts@v99999999999999999999999", "no-such"],
        "name": ["facts", "fuzz-tenant", "new-tenant", "tenant-" + "x" * 60],
        "base_model": ["smollm2-135m", "smollm2-135m", "no-such-model", "org/model"],
        "tenant": ["fuzz-tenant", "fuzz-tenant", "tn_missing"],
        "role": ["user", "user", "system", "assistant"],
        "request_id": ["req_missing"],
        "key_id": ["key_000000000000"],
        "sha256": ["0" * 64, "F" * 64],
        "target_modules": ["all-linear", "q_proj", "v_proj"],
        "attempt": [0, 1, 2],
        "wait_seconds": [0.0, 0.1, float("nan"), float("inf"), -1.0],
        "after_seq": [0, 1, 2**63 - 1],
        "max_tokens": [0, 1, 4096, 4097],
        "temperature": [0.0, 1.0, 2.0],
        "top_p": [0.5, 1.0, 0.0],
        "limit": [0, 1, 1000, 1001],
        "size_bytes": [0, 1, 2**62],
    }


def scalar_strategy(field: Any, pool: dict[str, list[Any]], depth: int) -> st.SearchStrategy:
    kind = field.type
    if kind == F.TYPE_MESSAGE:
        return message_strategy(field.message_type, pool, depth + 1)
    if kind == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        # proto3 enums are open: any int32 arrives as-is.
        base = st.one_of(st.sampled_from(known), st.sampled_from([-1, len(known), 99, 2**31 - 1]),
                         st.integers(-2**31, 2**31 - 1))
    elif kind in INT_RANGES:
        lo, hi = INT_RANGES[kind]
        edges = sorted(v for v in {lo, hi, -1, 0, 1, 2, 5, 100} if lo <= v <= hi)
        base = st.one_of(st.sampled_from(edges), st.integers(lo, hi))
    elif kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        width = 32 if kind == F.TYPE_FLOAT else 64
        base = st.one_of(st.sampled_from([float("nan"), float("inf"), -float("inf"), -1.0, 0.0,
                                          0.5, 1.0, 1e300 if width == 64 else 3e38]),
                         st.floats(width=width))
    elif kind == F.TYPE_BOOL:
        base = st.booleans()
    elif kind == F.TYPE_BYTES:
        base = st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"\x00", b"\xff\xfe",
                                                                  SAMPLE.read_bytes()[:200]]))
    elif kind == F.TYPE_STRING:
        base = st.one_of(st.text(max_size=300), st.sampled_from(ODD_STRINGS))
    else:
        raise AssertionError(f"unhandled field type {kind} of {field.full_name}")
    if field.name in pool:
        near = st.sampled_from(pool[field.name])
        # Not st.one_of(near, near, near, base): that does not weight. This does.
        return st.sampled_from((near, near, near, base)).flatmap(lambda chosen: chosen)
    return base


def field_strategy(field: Any, pool: dict[str, list[Any]], depth: int) -> st.SearchStrategy:
    if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        entry = field.message_type.fields_by_name
        return st.dictionaries(scalar_strategy(entry["key"], pool, depth),
                               scalar_strategy(entry["value"], pool, depth), max_size=3)
    if field.is_repeated:
        return st.lists(scalar_strategy(field, pool, depth), max_size=3)
    value = scalar_strategy(field, pool, depth)
    # Fields with presence (optional scalars, messages) are sometimes left unset.
    return st.one_of(st.none(), value) if field.has_presence else value


def is_real_oneof(oneof: Any) -> bool:
    # `optional` fields sit in a synthetic one-field oneof named after them.
    return not (len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name)


def message_strategy(desc: Any, pool: dict[str, list[Any]], depth: int = 0) -> st.SearchStrategy:
    cls = GetMessageClass(desc)
    if depth > MAX_DEPTH:
        return st.just(cls())
    oneofs = [o for o in desc.oneofs if is_real_oneof(o)]
    in_oneof = {f.name for o in oneofs for f in o.fields}
    fields = {f.name: field_strategy(f, pool, depth) for f in desc.fields if f.name not in in_oneof}
    # At most one member of each real oneof is set.
    choices = [st.one_of(st.none(), *[st.tuples(st.just(f.name), scalar_strategy(f, pool, depth))
                                      for f in o.fields]) for o in oneofs]

    def build(values: dict[str, Any], chosen: tuple[Any, ...]) -> Any:
        kwargs = {k: v for k, v in values.items() if v is not None}
        kwargs.update(c for c in chosen if c is not None)
        return cls(**kwargs)

    return st.builds(build, st.fixed_dictionaries(fields), st.tuples(*choices))


def consistent_upload(pool: dict[str, list[Any]]) -> st.SearchStrategy:
    """Header, chunks and trailer that agree, around random bytes: reaches the JSONL check."""
    lines = SAMPLE.read_text().splitlines()
    data = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                     st.lists(st.sampled_from(lines + ["{}", "[]", '{"prompt": null}', "\ufeff"]),
                              max_size=4).map(lambda ls: "\n".join(ls).encode()))

    def build(name: str, body: bytes, cut: int) -> list[Any]:
        req = datasets_pb2.UploadDatasetRequest
        chunks = [body[:cut], body[cut:]] if body else []
        return [req(header=datasets_pb2.UploadHeader(name=name, filename=name, size_bytes=len(body))),
                *(req(chunk=c) for c in chunks),
                req(trailer=datasets_pb2.UploadTrailer(sha256=hashlib.sha256(body).hexdigest()))]

    name = st.one_of(st.sampled_from(pool.get("name", [""])), st.text(max_size=250))
    return st.builds(build, name, data, st.integers(0, 300))


def request_strategy(method: Any, pool: dict[str, list[Any]]) -> st.SearchStrategy:
    message = message_strategy(method.input_type, pool)
    if method.full_name == "tuneloop.v1.DatasetService.UploadDataset":
        return st.one_of(st.lists(message, max_size=4), consistent_upload(pool))
    return st.lists(message, max_size=4) if method.client_streaming else message


def test_request_strategy_covers_the_field_kinds(server):
    """The generator itself: enums out of range, oneofs, optional fields and maps all occur."""
    examples: list[Any] = []
    strategy = st.tuples(
        message_strategy(jobs_pb2.ListJobsRequest.DESCRIPTOR, {}),
        message_strategy(datasets_pb2.UploadDatasetRequest.DESCRIPTOR, {}),
        message_strategy(worker_pb2.CompleteJobRequest.DESCRIPTOR, {}),
        message_strategy(inference_pb2.GenerateRequest.DESCRIPTOR, pools(server)))

    @settings(max_examples=200, database=None, deadline=None)
    @given(strategy)
    def collect(example):
        examples.append(example)

    collect()
    assert any(e[0].state > jobs_pb2.JOB_STATE_CANCELLED for e in examples)
    assert {e[1].WhichOneof("payload") for e in examples} == {None, "header", "chunk", "trailer"}
    assert any(e[2].final_metrics for e in examples)
    assert {e[3].HasField("top_p") for e in examples} == {True, False}
    assert all(not e[3].model.startswith("smollm2") for e in examples)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_random_requests_never_crash_a_handler(server, channel, method):
    strategy = request_strategy(method, pools(server))
    metadata = bearer(server.key_for(method))
    may_wait = method.server_streaming or method.name in LONG_POLLS
    timeout = 2.0 if may_wait else 10.0

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(request=strategy)
    def fuzz(request):
        # Belt and braces: serving a base model would load it (slow, and not what this tests).
        assume(getattr(request, "model", "") not in base_models.ALIASES)
        code, details = call(channel, method, request, metadata, timeout)
        assert code not in BAD, f"{method.full_name} crashed ({code}): {details}\n{request!r}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            assert may_wait, f"{method.full_name} hung on {request!r}"

    fuzz()
    assert health(channel) == health_pb2.HealthCheckResponse.SERVING
