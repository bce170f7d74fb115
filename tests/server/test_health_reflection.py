"""The server speaks the standard health and reflection protocols.

Health is open (load balancers probe it without credentials); reflection, which lists the
API, takes any valid key.
"""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def test_health_and_reflection(server_factory):
    server = server_factory(embedded_workers=0)
    with grpc.insecure_channel(server.plane.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tuneloop.v1.JobService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as info:
            next(stub.ServerReflectionInfo(iter([request])))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

        auth = [("authorization", f"Bearer {server.api_key}")]
        reply = next(stub.ServerReflectionInfo(iter([request]), metadata=auth))
        names = {s.name for s in reply.list_services_response.service}
        assert {"tuneloop.v1.DatasetService", "tuneloop.v1.JobService", "tuneloop.v1.AdapterService",
                "tuneloop.v1.InferenceService", "tuneloop.v1.FeedbackService",
                "tuneloop.v1.WorkerService", "tuneloop.v1.AdminService", "grpc.health.v1.Health"} <= names
