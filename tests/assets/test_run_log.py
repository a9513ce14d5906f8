"""Progress lines of teacher generation and training reach the Dagster run log, not only the terminal."""

from __future__ import annotations

import logging

from pipeline_helpers import JobRun, tiny_job  # noqa: F401 (tiny_job is a fixture)


def test_teacher_and_training_progress_is_in_the_run_log(tiny_job: JobRun) -> None:
    messages = [e.user_message for e in tiny_job.instance.all_logs(tiny_job.result.run_id)]
    teacher = [m for m in messages if m.startswith("[synth.teacher] teacher")]
    assert any("to generate" in m for m in teacher)
    assert any("generated," in m and "calls/s" in m for m in teacher)
    assert sum("[synth.training] tfidf_logreg trained on" in m for m in messages) == 2  # seeds-only and synthetic


def test_library_logger_is_left_as_it_was(tiny_job: JobRun) -> None:
    logger = logging.getLogger("synth")
    assert logger.level == logging.NOTSET and not logger.handlers
