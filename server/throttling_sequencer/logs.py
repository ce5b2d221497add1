"""Logging through loguru: one JSON object per line, with request, user and trace ids.

Standard-library logging (grpc, tortoise, asyncio) is routed into loguru too.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any

from loguru import logger
from opentelemetry import trace

from throttling_sequencer import request_context

if TYPE_CHECKING:
    from loguru import Message, Record


def _patch(record: Record) -> None:
    identity = request_context.current.get()
    extra = record["extra"]
    extra.setdefault("request_id", identity.request_id)
    extra.setdefault("user_id", identity.user_id)
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        extra["trace_id"] = format(span.trace_id, "032x")
        extra["span_id"] = format(span.span_id, "016x")


def _json_sink(message: Message) -> None:
    record = message.record
    line: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
    }
    line.update(record["extra"])
    if record["exception"] is not None:
        line["exception"] = "".join(traceback.format_exception(*record["exception"])).rstrip()
    sys.stderr.write(json.dumps(line, default=str) + "\n")


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure(level: str = "INFO", fmt: str = "json") -> None:
    logger.remove()
    logger.configure(patcher=_patch)
    if fmt == "json":
        logger.add(_json_sink, level=level)
    else:
        logger.add(
            sys.stderr,
            level=level,
            format="{time:HH:mm:ss.SSS} {level:<7} {message} | {extra}",
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
