"""`tf-compact train-teacher`: train, evaluate and save a reference model.

Example:

```shell
tf-compact train-teacher --dataset=builtin --model=small_cnn --epochs=2
python examples/train_teacher.py --dataset=fashion_mnist --model=vgg
```
"""

import os

from absl import app
from absl import flags
from absl import logging

from tf_compact.cli import common_flags
from tf_compact.cli import interrupts
from tf_compact.cli import teacher

DEFAULT_EPOCHS = 2
#: The defaults `--help` shows for the shared flags this command sets.
HELP_DEFAULTS = {"epochs": DEFAULT_EPOCHS}
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate",
    teacher.LEARNING_RATE,
    "Adam learning rate.",
    lower_bound=0.0,
)


def _interrupted():
    backup = os.path.join(common_flags.OUTPUT_DIR.value, teacher.BACKUP_DIR)
    return (
        f"Interrupted; the finished epochs are kept in {backup}: rerun the "
        "same command to resume."
    )


@interrupts.exits_on_interrupt(_interrupted)
def main(argv):
    """Trains the teacher the flags describe and prints its profile.

    Args:
        argv: command-line arguments left after flag parsing.

    Raises:
        app.UsageError: on positional arguments, or an --output_dir that
            cannot be written.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    common_flags.check_writable(
        "output_dir", common_flags.OUTPUT_DIR.value, folder=True
    )
    import keras

    from tf_compact.profile import profile

    keras.utils.set_random_seed(common_flags.SEED.value)
    bundle = common_flags.load_data()
    logging.info("Data: %s", bundle.source)
    model, metrics = teacher.train_teacher(
        bundle,
        common_flags.MODEL.value,
        common_flags.epochs_or(DEFAULT_EPOCHS),
        common_flags.OUTPUT_DIR.value,
        learning_rate=LEARNING_RATE.value,
        data_settings=common_flags.data_settings(),
    )
    print(profile(model).table())
    print(
        f"{model.name}: test accuracy {metrics['test_accuracy']:.4f} "
        f"after {metrics['epochs']} epochs on {bundle.source}"
    )
    print(f"Saved to {common_flags.OUTPUT_DIR.value}/{teacher.TEACHER_FILE}")


if __name__ == "__main__":
    app.run(main)
