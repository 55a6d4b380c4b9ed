"""gRPC server equipment: rich error details, masked internal errors, health, graceful stop."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.errors import InvalidArgument, ValidationErrors
from services.common.grpc_errors import remote_error
from services.common.grpc_server import GrpcServer, channel

METHOD = "/test.Echo/Call"


def _identity(data: bytes) -> bytes:
    return data


def _echo_server(behaviour: Any) -> GrpcServer:
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                behaviour, request_deserializer=_identity, response_serializer=_identity
            )
        },
    )
    return GrpcServer(
        "test",
        "127.0.0.1:0",
        [lambda server: server.add_generic_rpc_handlers((handler,))],
        ["test.Echo"],
    )


async def _call(server: GrpcServer, payload: bytes = b"x", timeout: float = 5) -> bytes:
    async with channel(server.address) as ch:
        method = ch.unary_unary(
            METHOD, request_serializer=_identity, response_deserializer=_identity
        )
        result: bytes = await method(payload, timeout=timeout)
        return result


async def test_domain_errors_travel_with_reason_and_field_violations() -> None:
    async def fails(request: bytes, context: Any) -> bytes:
        errors = ValidationErrors()
        errors.add("slug", "SLUG_INVALID", "use kebab-case")
        errors.raise_if_any()
        return request

    server = _echo_server(fails)
    await server.start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call(server)
        decoded = remote_error(caught.value)
    finally:
        await server.stop(0)
    assert decoded.code is grpc.StatusCode.INVALID_ARGUMENT
    assert decoded.reason == "VALIDATION_FAILED"
    assert [(v.field, v.reason) for v in decoded.violations] == [("slug", "SLUG_INVALID")]


async def test_unexpected_errors_are_masked_and_logged_under_the_same_reference() -> None:
    async def crashes(request: bytes, context: Any) -> bytes:
        raise RuntimeError("database password is hunter2")

    captured = io.StringIO()
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=captured),
        processors=[structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
    )
    server = _echo_server(crashes)
    await server.start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call(server)
    finally:
        await server.stop(0)
        structlog.reset_defaults()
    decoded = remote_error(caught.value)
    assert decoded.code is grpc.StatusCode.INTERNAL
    assert "hunter2" not in decoded.message
    reference = decoded.metadata["reference"]
    assert reference in decoded.message
    assert reference in captured.getvalue()
    assert "hunter2" in captured.getvalue()


async def test_health_reports_serving_then_not_serving_on_shutdown() -> None:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    server = _echo_server(echo)
    await server.start()
    async with channel(server.address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        overall = await stub.Check(health_pb2.HealthCheckRequest(service=""))
        named = await stub.Check(health_pb2.HealthCheckRequest(service="test.Echo"))
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    assert named.status == health_pb2.HealthCheckResponse.SERVING
    await server.stop(0)


async def test_stop_lets_in_flight_calls_finish_within_the_grace_period() -> None:
    started = asyncio.Event()

    async def slow(request: bytes, context: Any) -> bytes:
        started.set()
        await asyncio.sleep(0.5)
        return b"done"

    server = _echo_server(slow)
    await server.start()
    call = asyncio.create_task(_call(server))
    await started.wait()
    await server.stop(grace=5)
    assert await call == b"done"


async def test_invalid_argument_helper_is_a_domain_error() -> None:
    assert InvalidArgument("X", "y").reason == "X"


async def test_a_dependency_outage_is_unavailable_and_says_nothing_internal() -> None:
    import sqlalchemy.exc

    async def database_down(request: bytes, context: Any) -> bytes:
        raise sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, ConnectionRefusedError("connection to 10.0.0.7:5432 refused")
        )

    server = _echo_server(database_down)
    await server.start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call(server)
    finally:
        await server.stop(0)
    decoded = remote_error(caught.value)
    assert decoded.code is grpc.StatusCode.UNAVAILABLE
    assert decoded.reason == "DEPENDENCY_UNAVAILABLE"
    assert "10.0.0.7" not in decoded.message
    assert "SELECT" not in decoded.message


async def test_a_peer_that_is_down_is_reported_without_its_address() -> None:
    server = _echo_server(lambda request, context: request)
    await server.start()
    address = server.address
    await server.stop(0)
    async with channel(address) as ch:
        method = ch.unary_unary(
            METHOD, request_serializer=_identity, response_deserializer=_identity
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(b"x", timeout=2)
    decoded = remote_error(caught.value)
    assert decoded.code is grpc.StatusCode.UNAVAILABLE
    assert decoded.reason == "SERVICE_UNAVAILABLE"
    assert address.split(":")[0] not in decoded.message
    assert str(address.split(":")[1]) not in decoded.message
