"""Bearer-token authentication and tenant stamping."""

from __future__ import annotations

import hmac

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from collector.errors import Unauthenticated
from collector.spans_table import TENANT_ATTRIBUTE


class Authenticator:
    """Maps bearer tokens to tenants; with no tokens configured, everyone is the default tenant."""

    def __init__(self, tokens: dict[str, str], default_tenant: str) -> None:
        self._tokens = [(token.encode(), tenant) for token, tenant in tokens.items()]
        self._default = default_tenant

    @property
    def required(self) -> bool:
        return bool(self._tokens)

    def tenant_for(self, authorization: str | None) -> str:
        if not self._tokens:
            return self._default
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise Unauthenticated("missing bearer token")
        return self._match(presented.strip().encode())

    def _match(self, presented: bytes) -> str:
        found = None
        # Compare against every token in constant time so timing reveals nothing.
        for token, tenant in self._tokens:
            if hmac.compare_digest(token, presented):
                found = tenant
        if found is None:
            raise Unauthenticated("unknown bearer token")
        return found


def stamp_tenant(request: ExportTraceServiceRequest, tenant: str) -> None:
    """Set the tenant on every resource, replacing whatever the client claimed."""
    for resource_spans in request.resource_spans:
        attributes = resource_spans.resource.attributes
        kept = [kv for kv in attributes if kv.key != TENANT_ATTRIBUTE]
        if len(kept) != len(attributes):
            del attributes[:]
            attributes.extend(kept)
        attributes.append(KeyValue(key=TENANT_ATTRIBUTE))
        attributes[-1].value.string_value = tenant
