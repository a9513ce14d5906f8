"""Progress lines of the library code (teacher calls, training steps) in the Dagster run log.

The runner and the trainers log to python loggers under `synth`, so they work outside Dagster
too; inside an asset this forwards those records to `context.log`, whatever the instance's
`python_logs` settings, so a run's progress shows in the UI beside its events.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import AssetExecutionContext

LIBRARY_LOGGER = "synth"


class _ToRunLog(logging.Handler):
    def __init__(self, context: AssetExecutionContext):
        super().__init__(logging.INFO)
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        self.context.log.log(record.levelno, f"[{record.name}] {record.getMessage()}")


@contextmanager
def forward_logs(context: AssetExecutionContext) -> Iterator[None]:
    """While the block runs, `synth.*` records at INFO and above also go to the run log."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    handler = _ToRunLog(context)
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:  # the default WARNING would drop progress lines before any handler
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
