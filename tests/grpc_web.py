"""A minimal gRPC-Web client for tests: what a browser sends through Envoy's grpc_web filter,
in binary (application/grpc-web+proto) or text (application/grpc-web-text, base64) mode."""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx
from google.protobuf.message import Message

#: The content types a gRPC-Web call may use; `text` ones carry base64.
CONTENT_TYPES = ("application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text")
TRAILER_FLAG = 0x80


@dataclass
class WebReply:
    """A gRPC-Web answer: its HTTP response, the messages in order and the trailers."""

    response: httpx.Response
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        """grpc-status: from the trailers frame, or the headers of a trailers-only answer."""
        return int(self.trailers.get("grpc-status", self.response.headers.get("grpc-status", "-1")))

    @property
    def message(self) -> str:
        return unquote(self.trailers.get("grpc-message", self.response.headers.get("grpc-message", "")))

    @property
    def details(self) -> bytes:
        """grpc-status-details-bin (a google.rpc.Status), decoded."""
        value = self.trailers.get("grpc-status-details-bin") or self.response.headers.get(
            "grpc-status-details-bin", ""
        )
        return base64.b64decode(value + "=" * (-len(value) % 4))


def frame(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def unframe(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """Data frames and the trailers frame of a binary gRPC-Web body."""
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    offset = 0
    while offset < len(body):
        flags, length = struct.unpack_from(">BI", body, offset)
        payload = body[offset + 5 : offset + 5 + length]
        assert len(payload) == length, f"a frame is cut short: {body!r}"
        offset += 5 + length
        if flags & TRAILER_FLAG:
            for line in payload.decode().split("\r\n"):
                if line:
                    name, _, value = line.partition(":")
                    trailers[name.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def debase64(text: bytes) -> bytes:
    """A -text body: base64 chunks, each padded on its own, one after another."""
    chunks = re.findall(rb"[^=]+=*", text.strip())
    return b"".join(base64.b64decode(chunk) for chunk in chunks)


async def call(
    client: httpx.AsyncClient,
    method: str,
    request: Message,
    content_type: str = "application/grpc-web+proto",
    headers: dict[str, str] | None = None,
) -> WebReply:
    """Call `method` ("/pkg.Service/Method") as a browser would; the whole answer, streams included."""
    text = content_type.startswith("application/grpc-web-text")
    body = frame(request.SerializeToString())
    response = await client.post(
        method,
        content=base64.b64encode(body) if text else body,
        # Text-mode clients (grpc-web's JS client) ask for a text answer too.
        headers={"content-type": content_type, "accept": content_type, "x-grpc-web": "1", **(headers or {})},
    )
    answered_text = response.headers.get("content-type", "").startswith("application/grpc-web-text")
    messages, trailers = unframe(debase64(response.content) if answered_text else response.content)
    return WebReply(response, messages, trailers)
