"""Errors the receiver turns into OTLP answers; each knows its HTTP and gRPC status."""

from __future__ import annotations

import grpc


class IngestError(Exception):
    """A request the receiver refuses. ``message`` is safe to return to the client."""

    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    retry_after: int | None = None


class MalformedRequest(IngestError):
    pass


class UnsupportedMediaType(IngestError):
    http_status = 415


class BodyTooLarge(IngestError):
    http_status = 413
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(IngestError):
    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class Overloaded(IngestError):
    """The pipeline is saturated or its backend is down: retryable."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
