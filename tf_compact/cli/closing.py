r"""What `tf-compact compress` prints after its table."""

import os


def closing_lines(output_dir, teacher_epochs, student_epochs):
    """What the command prints after the table: epochs and the files.

    Args:
        output_dir: the run's --output_dir.
        teacher_epochs: the teacher's training epochs, or `None` when
            unknown (a --teacher_path model).
        student_epochs: `(KD epochs, fine-tune epochs)` of the student.

    Returns:
        A list of lines: both models' epochs (with a warning when the
        teacher trained for fewer epochs than the student, which favours
        the student in the table), the report's path, and what the
        `backup/` folder is when it holds training state (a file).

    Example:

    ```python
    print("\n".join(closing_lines("tf_compact_out", 9, (6, 3))))
    ```
    """
    kd, finetune = student_epochs
    teacher = "unknown" if teacher_epochs is None else str(teacher_epochs)
    lines = [
        f"Epochs: teacher {teacher}; student {kd} + {finetune} fine-tune "
        f"= {kd + finetune}."
    ]
    if teacher_epochs is not None and teacher_epochs < kd + finetune:
        lines.append(
            "The teacher trained for fewer epochs than the student, so the "
            "accuracy change above favours the student; retrain it with "
            f"--teacher_epochs={kd + finetune} in a new --output_dir."
        )
    lines.append(f"Report: {os.path.join(output_dir, 'report.md')}")
    backup = os.path.join(output_dir, "backup")
    if any(files for _, _, files in os.walk(backup)):
        lines.append(
            f"{backup}{os.sep} holds Keras BackupAndRestore training state, "
            "so an interrupted run resumes where it stopped; it is safe to "
            "delete once the run is complete."
        )
    return lines


def interrupted(output_dir, resume=True):
    """The line `tf-compact compress` prints when Ctrl-C stops it.

    Args:
        output_dir: the run's --output_dir.
        resume: the --resume value. Defaults to `True`.

    Returns:
        One line saying the finished stages are kept and how to resume.
    """
    rerun = "the same command" if resume else "it without --noresume"
    return (
        f"Interrupted; finished stages are kept in {output_dir}: rerun "
        f"{rerun} to resume."
    )
