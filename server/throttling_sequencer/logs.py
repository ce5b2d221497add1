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


#: One encoder for every line (json.dumps with options builds a new one per call).
_encode = json.JSONEncoder(default=str).encode


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
    sys.stderr.write(_encode(line) + "\n")


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


#: loguru's INFO severity.
INFO = 20


def enabled(severity: int = INFO) -> bool:
    """Whether any sink takes records of this severity: check it before building a hot path's
    log fields. (loguru keeps the lowest level of its sinks, updated as sinks come and go; should
    that ever be missing, everything counts as enabled.)"""
    lowest: float = getattr(getattr(logger, "_core", None), "min_level", 0)
    return severity >= lowest


def configure(level: str = "INFO", fmt: str = "json") -> None:
    logger.remove()
    logger.configure(patcher=_patch)
    if fmt == "json":
        # The sink writes the record itself: loguru's own text (format) is only the message.
        logger.add(_json_sink, level=level, format="{message}")
    else:
        logger.add(
            sys.stderr,
            level=level,
            format="{time:HH:mm:ss.SSS} {level:<7} {message} | {extra}",
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
