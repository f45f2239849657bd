"""Lambda handler of the workflow's steps: Powertools decorators around one call.

``statemachine/sync.asl.json`` invokes this code as three functions (read, apply, finish),
each with its own role; the event's ``step`` says what to do. What each step does is
described in ``connect_user_sync.orchestration``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from connect_user_sync.invocation import check_config_at_cold_start
from connect_user_sync.orchestration import handle_step

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "connect-user-sync")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ConnectUserSync")
HERE = Path(__file__).resolve().parent  # a relative CONFIG_FILE is packaged next to this file

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Validated once at init so that a mistake shows in the first log lines; a bad
# configuration is then reported by every step, never as a failed import.
COLD_START_PROBLEM = check_config_at_cold_start(logger, HERE)

__all__ = ["COLD_START_PROBLEM", "handler"]


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return handle_step(event, context, logger=logger, metrics=metrics, base_dir=HERE)
