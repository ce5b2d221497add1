"""Complete the OpenAPI 3 document converted from protoc-gen-swagger with what it cannot know.

protoc-gen-swagger (golang-grpc-gateway 1.6) reads the `google.api.http` annotations and the
proto comments; swagger2openapi turns its OpenAPI 2 into 3.0. What neither can know, because it
is decided by Envoy or missing from that generator version, is added here in one deterministic
pass. Everything is derived from the descriptor set (with source info), never written per route:

- info (title, description, version) from the service's own comment and package;
- query parameters of RPCs whose HTTP body is one field (`body: "game_state"`): Envoy's
  transcoder binds the other request fields to the query string; generator 1.6 lists query
  parameters only for RPCs without a body;
- server-streaming RPCs: Envoy sends a JSON array, one element per message, incrementally;
- bare-array routes: Envoy's Lua filter unwraps the response message's single field;
- the error body every route can answer (`{"code", "message", "details"}`), 400/404/429/503;
- `GET /api/v1/health`, answered by Envoy's health_check filter;
- google.protobuf.Any as proto3 JSON writes it (the packed message's fields and its `@type`),
  which the generator shows as its binary fields (`typeUrl`, `value`);
- optional bearer authentication (the server requires JWTs when THROTTLING_AUTH_ISSUER is set).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

FieldType = descriptor_pb2.FieldDescriptorProto

#: Routes whose 200 body Envoy unwraps (Lua `unwrap_goals`) to the named response field's array.
BARE_ARRAY_ROUTES = {"/api/v1/throttle/calculate_throttle_steps": "goals"}
#: Envoy's health_check filter: 200 while every gRPC server reports SERVING, else 503.
HEALTH_PATH = "/api/v1/health"
#: How deep nested request messages are flattened into `a.b.c` query parameters.
MAX_QUERY_DEPTH = 4

_SCALARS: dict[int, dict[str, Any]] = {
    FieldType.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldType.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldType.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_UINT32: {"type": "integer", "format": "int64"},
    FieldType.TYPE_FIXED32: {"type": "integer", "format": "int64"},
    # Proto3 JSON writes 64-bit integers as strings.
    FieldType.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldType.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldType.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldType.TYPE_BOOL: {"type": "boolean"},
    FieldType.TYPE_STRING: {"type": "string"},
    FieldType.TYPE_BYTES: {"type": "string", "format": "byte"},
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Every error, from the server (a gRPC status converted by Envoy) or from Envoy itself "
        "(malformed JSON, unknown path or query parameter, rate limit, no healthy server)."
    ),
    "required": ["code", "message"],
    "properties": {
        "code": {
            "type": "integer",
            "format": "int32",
            "description": "The gRPC status code (google.rpc.Code): 3 INVALID_ARGUMENT, 5 NOT_FOUND, "
            "8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, ...",
        },
        "message": {"type": "string", "description": "What went wrong, for a person."},
        "details": {
            "type": "array",
            "description": "google.rpc error details as JSON, each tagged with its `@type`: "
            "`google.rpc.BadRequest` (`fieldViolations` naming each offending field path) and "
            "`google.rpc.ErrorInfo` (a machine-readable `reason`).",
            "items": {
                "type": "object",
                "required": ["@type"],
                "properties": {"@type": {"type": "string"}},
                "additionalProperties": True,
            },
        },
        "status": {
            "type": "string",
            "description": "The code's name; only on errors Envoy answers itself.",
        },
    },
}

#: google.protobuf.Any in proto3 JSON: the packed message's own fields, tagged with its type.
ANY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A packed message as proto3 JSON: its `@type` (the type URL) and its own fields, "
    "e.g. a `google.rpc.BadRequest` with `fieldViolations`.",
    "required": ["@type"],
    "properties": {"@type": {"type": "string"}},
    "additionalProperties": True,
}
#: The generator's name for google.protobuf.Any's schema.
ANY_NAME = "protobufAny"

ERROR_RESPONSES = {
    "BadRequest": "Invalid input (code 3): malformed JSON, an unknown query parameter, or a field "
    "that breaks a rule (`details` names each field).",
    "NotFound": "No such resource (code 5).",
    "TooManyRequests": "REST and GraphQL callers share a rate limit (code 8): slow down and retry.",
    "Unavailable": "No healthy server, or storage is down (code 14): retry with backoff.",
    "Error": "Any other error, in the same shape.",
}


def complete(
    document: dict[str, Any], descriptors: descriptor_pb2.FileDescriptorSet, license_name: str
) -> dict[str, Any]:
    """The converted document with Envoy's behaviour and the missing parts added (a new dict)."""
    doc = copy.deepcopy(document)
    comments = _comments(descriptors)
    messages = _messages(descriptors)
    enums = _enums(descriptors)
    services = [
        (f"{file.package}.{service.name}" if file.package else service.name, service, file)
        for file in descriptors.file
        for service in file.service
    ]
    if not services:
        raise ValueError("no service in the descriptor set")

    first_name, first, file = services[0]
    doc["info"] = {
        "title": first.name,
        "description": comments.get(first_name, ""),
        "version": file.package.rsplit(".", 1)[-1] or "v1",
        "license": {"name": license_name, "url": f"https://spdx.org/licenses/{license_name}.html"},
    }
    doc["servers"] = [{"url": "/", "description": "The front door (Envoy) that served this document."}]
    components = doc.setdefault("components", {})
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Required when the server runs with THROTTLING_AUTH_ISSUER; otherwise ignored.",
        }
    }
    doc["security"] = [{}, {"bearer": []}]
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    if ANY_NAME in schemas:
        schemas[ANY_NAME] = ANY_SCHEMA
    components["responses"] = {
        key: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for key, text in ERROR_RESPONSES.items()
    }

    for service_name, service, _ in services:
        for method in service.method:
            rule = method.options.Extensions[annotations_pb2.http]
            for binding in (rule, *rule.additional_bindings):
                verb, path = _verb_and_path(binding)
                if not verb:
                    continue
                operation = doc["paths"][_openapi_path(path)][verb]
                if binding.body and binding.body != "*":
                    bound = {binding.body, *_path_fields(path)}
                    operation.setdefault("parameters", []).extend(
                        _query_parameters(method.input_type.lstrip("."), bound, messages, enums, comments)
                    )
                _complete_response(operation, path, method.server_streaming, schemas)
                _add_errors(operation, path)
                operation["tags"] = [service_name.rsplit(".", 1)[-1]]

    doc["paths"][HEALTH_PATH] = {
        "get": {
            "summary": "Whether the service can answer: 200 while every gRPC server reports SERVING.",
            "description": "Answered by Envoy's health_check filter, not by an RPC.",
            "operationId": "Health",
            "security": [{}],
            "tags": ["Envoy"],
            "responses": {
                "200": {"description": "Serving (an empty body)."},
                "503": {"$ref": "#/components/responses/Unavailable"},
            },
        }
    }
    doc["paths"] = dict(sorted(doc["paths"].items()))
    _drop_unreachable(doc)
    doc["tags"] = [
        {"name": service.name, "description": comments.get(full_name, "")}
        for full_name, service, _ in services
    ] + [{"name": "Envoy", "description": "Answered by the front door itself."}]
    return doc


def _drop_unreachable(doc: dict[str, Any]) -> None:
    """Remove the schemas no route reaches: messages only seen unwrapped (a bare array), and those
    of gRPC-only methods (Guide: no HTTP route carries a client stream) are not the REST API."""
    schemas = doc["components"]["schemas"]
    outside = {key: value for key, value in doc.items() if key != "components"}
    outside["responses"] = doc["components"]["responses"]
    reached: set[str] = set()
    pending = _references(outside)
    while pending:
        name = pending.pop()
        if name not in reached:
            reached.add(name)
            pending |= _references(schemas[name])
    for name in set(schemas) - reached:
        del schemas[name]


def _references(value: Any) -> set[str]:
    """The schema names a JSON value refers to ($ref), at any depth."""
    prefix = "#/components/schemas/"
    text = json.dumps(value)
    found, at = set(), text.find(prefix)
    while at >= 0:
        end = text.index('"', at)
        found.add(text[at + len(prefix) : end])
        at = text.find(prefix, end)
    return found


def _complete_response(
    operation: dict[str, Any], path: str, streaming: bool, schemas: dict[str, Any]
) -> None:
    """The 200 body as Envoy sends it (a bare array unwrapped from its message on some routes)."""
    ok = operation["responses"]["200"]
    ok["description"] = "A successful response."
    body = ok["content"]["application/json"]
    if streaming:
        ok["description"] = (
            "A JSON array sent incrementally, one element per stream message. The last "
            "element says the stream is complete; a stream cut by an error after the "
            "first element ends without it (and the body is not valid JSON)."
        )
        body["schema"] = {"type": "array", "items": body["schema"]}
    if path not in BARE_ARRAY_ROUTES:
        return
    ok["description"] = "A bare JSON array (Envoy unwraps the response message's only field)."
    reference = body["schema"]["$ref"].rsplit("/", 1)[-1]
    field = schemas[reference]["properties"][BARE_ARRAY_ROUTES[path]]
    body["schema"] = {key: value for key, value in field.items() if key != "description"}


def _add_errors(operation: dict[str, Any], path: str) -> None:
    responses = operation["responses"]
    responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    if "{" in path:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    responses["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    responses["503"] = {"$ref": "#/components/responses/Unavailable"}
    responses["default"] = {"$ref": "#/components/responses/Error"}


def _verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str]:
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        return "", ""
    if pattern == "custom":
        return rule.custom.kind.lower(), rule.custom.path
    path: str = getattr(rule, pattern)
    return pattern, path


def _path_fields(path: str) -> list[str]:
    return [match.split("=", 1)[0] for match in re.findall(r"\{([^}]+)\}", path)]


def _openapi_path(path: str) -> str:
    """`/v1/{name=plans/*}` is `/v1/{name}` in OpenAPI, as protoc-gen-swagger writes it."""
    return re.sub(r"\{([^}=]+)=[^}]*\}", r"{\1}", path)


def _query_parameters(
    full_name: str,
    bound: set[str],
    messages: dict[str, descriptor_pb2.DescriptorProto],
    enums: dict[str, descriptor_pb2.EnumDescriptorProto],
    comments: dict[str, str],
    prefix: str = "",
    depth: int = 0,
) -> list[dict[str, Any]]:
    """Envoy binds query parameters `a.b` to request fields not in the body or the path."""
    parameters: list[dict[str, Any]] = []
    for field in messages[full_name].field:
        name = prefix + field.name
        if name in bound:
            continue
        description = comments.get(f"{full_name}.{field.name}", "")
        if field.type == FieldType.TYPE_MESSAGE:
            nested = field.type_name.lstrip(".")
            if nested.startswith("google.protobuf."):
                schema: dict[str, Any] = {"type": "string"}  # well-known types are strings in JSON
            elif nested not in messages or messages[nested].options.map_entry or depth >= MAX_QUERY_DEPTH:
                continue
            else:
                parameters += _query_parameters(
                    nested, bound, messages, enums, comments, f"{name}.", depth + 1
                )
                continue
        elif field.type == FieldType.TYPE_ENUM:
            enum = enums[field.type_name.lstrip(".")]
            schema = {"type": "string", "enum": [value.name for value in enum.value]}
        else:
            schema = dict(_SCALARS[field.type])
        if field.label == FieldType.LABEL_REPEATED:
            schema = {"type": "array", "items": schema}
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
        if description:
            parameter["description"] = description
        if field.label == FieldType.LABEL_REPEATED:
            parameter["explode"] = True
        parameters.append(parameter)
    return parameters


def _messages(descriptors: descriptor_pb2.FileDescriptorSet) -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def visit(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}{message.name}"
        found[name] = message
        for nested in message.nested_type:
            visit(f"{name}.", nested)

    for file in descriptors.file:
        for message in file.message_type:
            visit(f"{file.package}." if file.package else "", message)
    return found


def _enums(descriptors: descriptor_pb2.FileDescriptorSet) -> dict[str, descriptor_pb2.EnumDescriptorProto]:
    found: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
    for name, message in _messages(descriptors).items():
        for enum in message.enum_type:
            found[f"{name}.{enum.name}"] = enum
    for file in descriptors.file:
        for enum in file.enum_type:
            found[f"{file.package}.{enum.name}" if file.package else enum.name] = enum
    return found


def _comments(descriptors: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """Leading comments by full name: services, messages and fields (needs --include_source_info)."""
    found: dict[str, str] = {}
    for file in descriptors.file:
        by_path = {
            tuple(location.path): _uncomment(location.leading_comments)
            for location in file.source_code_info.location
            if location.leading_comments
        }
        package = f"{file.package}." if file.package else ""
        for index, message in enumerate(file.message_type):
            _message_comments(by_path, (4, index), package + message.name, message, found)
        for index, service in enumerate(file.service):
            found[package + service.name] = by_path.get((6, index), "")
    return found


def _message_comments(
    by_path: dict[tuple[int, ...], str],
    path: tuple[int, ...],
    name: str,
    message: descriptor_pb2.DescriptorProto,
    found: dict[str, str],
) -> None:
    """Source paths: 2 is a message's field list, 3 its nested messages."""
    found[name] = by_path.get(path, "")
    for index, field in enumerate(message.field):
        found[f"{name}.{field.name}"] = by_path.get((*path, 2, index), "")
    for index, nested in enumerate(message.nested_type):
        _message_comments(by_path, (*path, 3, index), f"{name}.{nested.name}", nested, found)


def _uncomment(text: str) -> str:
    """`// Text` lines arrive as " Text": drop that one space, keep paragraphs."""
    return "\n".join(line.removeprefix(" ") for line in text.splitlines()).strip()
