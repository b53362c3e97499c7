"""OTLP response bodies: ExportTraceServiceResponse and google.rpc.Status, proto or JSON."""

from __future__ import annotations

from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.decode import JSON
from collector.ingestor import ExportOutcome


def export_response(outcome: ExportOutcome) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    if outcome.rejected:
        response.partial_success.rejected_spans = outcome.rejected
        response.partial_success.error_message = outcome.message
    return response


def encode(message: ExportTraceServiceResponse | Status, media_type: str) -> bytes:
    if media_type == JSON:
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    data: bytes = message.SerializeToString()
    return data


def status(code: int, message: str) -> Status:
    """A google.rpc.Status; ``code`` is the gRPC code number matching the HTTP answer."""
    return Status(code=code, message=message)
