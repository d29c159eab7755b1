"""Trains a Distiller with a proximal penalty on 1 device and on 2 mirrored
CPU replicas.

Run as `python -m tests.distillation.proximal_mirrored_check` in a fresh
process (the logical devices must be configured before TensorFlow
initializes); prints one JSON line comparing the two runs.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tf_compact as tfc  # noqa: E402
from tests.distillation import models  # noqa: E402


def _train(strategy):
    keras.utils.set_random_seed(5)
    with strategy.scope():
        teacher = models.conv_net(8, "teacher")
        student = models.conv_net(4, "student", bn=False)
        penalty = tfc.GroupLasso(0.5, proximal=True)
        distiller = tfc.Distiller(
            teacher, student, [tfc.LogitsKD()], sparsity=penalty
        )
        distiller.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    x, y = models.data(16)
    distiller.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    weights = [np.asarray(w) for w in student.get_weights()]
    return weights, np.asarray(penalty.channel_values(student))


def main():
    single, single_norms = _train(tf.distribute.get_strategy())
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    mirrored, mirrored_norms = _train(strategy)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single, mirrored))
    print(
        json.dumps(
            {
                "replicas": strategy.num_replicas_in_sync,
                "zeros_single": int(np.sum(single_norms == 0.0)),
                "zeros_mirrored": int(np.sum(mirrored_norms == 0.0)),
                "max_weight_diff": diff,
            }
        )
    )


if __name__ == "__main__":
    main()
