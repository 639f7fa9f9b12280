"""`vitalstream worker`: the faust-streaming worker."""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import replace
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="the faust worker: storage sink, detectors, scores, alert candidates")
    p.add_argument("--storage-only", action="store_true", help="store samples, run no detectors")
    p.add_argument("--metrics-port", type=int, help="serve /metrics on this port (VITALSTREAM_WORKER_METRICS_PORT)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    import faust

    from vitalstream.topics import ensure_topics

    from .app import create_app

    if not settings.core.kafka_bootstrap or not settings.core.database_url:
        log.error("set VITALSTREAM_KAFKA_BOOTSTRAP and VITALSTREAM_DATABASE_URL (or use `vitalstream dev`)")
        return 2
    stream = settings.stream
    if args.storage_only:
        stream = replace(stream, detectors=False)
    if args.metrics_port is not None:
        stream = replace(stream, metrics_port=args.metrics_port)
    settings = replace(settings, stream=stream)
    scorer = None
    if stream.detectors:
        from .scoring import load_scorer

        try:  # before joining the group: a bad model stops the worker here, with the reason
            scorer = load_scorer(settings)
        except Exception as exc:  # noqa: BLE001 - e.g. ArtefactError: the message says what to do
            log.error("cannot load the detectors: %s", exc)
            return 2
    asyncio.run(ensure_topics(settings))
    app, _ = create_app(settings, scorer=scorer)
    worker = faust.Worker(app, loglevel=settings.core.log_level.lower(), quiet=True, redirect_stdouts=False)
    # faust's terminal spinner, kept at WARNING and above, sets the root logger to DEBUG so it
    # can spin on every record: every aiokafka debug call then builds and dispatches a record
    # (~5 % of a busy worker's CPU, measured), and the log fills with escape codes.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
