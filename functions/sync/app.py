"""Lambda handler of the sync function: Powertools decorators around one call.

The nightly sync, manual runs and the weekly reminder of open mismatches. What each event
does, where the configuration comes from and what an error returns is described in
``connect_user_sync.invocation`` and ``connect_user_sync.events``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from connect_user_sync.events import parse_event
from connect_user_sync.invocation import check_config_at_cold_start, deadline_from_context, handle

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "connect-user-sync")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ConnectUserSync")
HERE = Path(__file__).resolve().parent  # a relative CONFIG_FILE is packaged next to this file

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Validated once at init so that a mistake shows in the first log lines; a bad
# configuration is then reported by every invocation, never as a failed import.
COLD_START_PROBLEM = check_config_at_cold_start(logger, HERE)

_deadline = deadline_from_context
__all__ = ["COLD_START_PROBLEM", "handler", "parse_event"]


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # reports can exceed X-Ray limits
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return handle(event, context, logger=logger, metrics=metrics, tracer=tracer, base_dir=HERE)
