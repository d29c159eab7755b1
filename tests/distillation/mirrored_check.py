"""Runs one Distiller step on 1 device and on 2 mirrored CPU replicas.

Run as `python -m tests.distillation.mirrored_check` in a fresh process
(the logical devices must be configured before TensorFlow initializes);
prints one JSON line comparing the two runs.
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


def _step(strategy):
    keras.utils.set_random_seed(11)
    with strategy.scope():
        teacher = models.conv_net(8, "teacher", bn=True)
        student = models.conv_net(
            4, "student", bn=False, regularizer=keras.regularizers.L2(0.01)
        )
        losses = [
            tfc.LogitsKD(),
            tfc.FeatureKD(),
            tfc.AttentionTransfer(),
            keras.distillation.LogitsDistillation(
                loss=keras.losses.KLDivergence()
            ),
        ]
        distiller = tfc.Distiller(
            teacher, student, losses, sparsity=models.L1Stand(0.001)
        )
        models.compile_distiller(distiller, lr=0.1)
    start = models.weights_of(student), models.weights_of(teacher)
    x, y = models.data(16, seed=5)
    history = distiller.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    end = models.weights_of(student), models.weights_of(teacher)
    return history, start, end


def _contrastive(strategy):
    """Trains with a memory bank under `strategy`; returns the bank pointer."""
    with strategy.scope():
        teacher, student = models.pair()
        loss = tfc.ContrastiveKD("gap", "gap", embedding_dim=4, memory_size=16)
        distiller = models.compile_distiller(
            tfc.Distiller(teacher, student, [loss])
        )
    x, y = models.data(24, seed=6)
    history = distiller.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    pointer = int(distiller.kd_modules[0].bank_pointer.numpy())
    return history["contrastive_kd"][0], pointer


def _max_diff(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))


def main():
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single, _, (w1, _) = _step(tf.distribute.get_strategy())
    multi, (w0, t0), (w2, t2) = _step(mirrored)
    crd_loss, crd_pointer = _contrastive(mirrored)
    result = {
        "contrastive_loss": crd_loss,
        "bank_pointer": crd_pointer,
        "replicas": mirrored.num_replicas_in_sync,
        "loss_single": single["loss"][0],
        "loss_mirrored": multi["loss"][0],
        "keys": sorted(multi),
        "max_weight_diff": _max_diff(w1, w2),
        "max_weight_change": _max_diff(w0, w2),
        "teacher_change": _max_diff(t0, t2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
