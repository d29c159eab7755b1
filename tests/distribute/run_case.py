"""Runs distribution scenarios under named strategies; writes JSON.

Run in a fresh process (logical devices and collective ops must be set up
before TensorFlow initializes):

    python -m tests.distribute.run_case --strategies none,mirrored \
        --scenarios budget,gradual --out results.json

With `mirrored` in `--strategies` the CPU is split into two logical
devices first. With `multi_worker`, `TF_CONFIG` describes the cluster and
the strategy is made before anything else runs. The output maps each
strategy to `{"replicas": n, "name": ..., "chief": bool, scenario: result}`.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parse(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategies", required=True)
    parser.add_argument("--scenarios", required=True)
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    names = args.strategies.split(",")
    import tensorflow as tf

    if "mirrored" in names:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    from tf_compact.internal import distribute

    strategies = {}
    if "multi_worker" in names:
        strategies["multi_worker"] = distribute.resolve_strategy(
            "multi_worker"
        )
    for name in names:
        if name == "mirrored":
            strategies[name] = distribute.resolve_strategy(
                "mirrored", devices=["/cpu:0", "/cpu:1"]
            )
        elif name != "multi_worker":
            strategies[name] = distribute.resolve_strategy(name)

    import keras

    keras.config.disable_traceback_filtering()
    from tests.distribute import scenarios

    results = {}
    for name in names:
        strategy = strategies[name]
        out = {
            "replicas": strategy.num_replicas_in_sync,
            "name": distribute.strategy_name(strategy),
            "chief": distribute.is_chief(strategy),
        }
        for scenario in args.scenarios.split(","):
            out[scenario] = scenarios.SCENARIOS[scenario](strategy)
        results[name] = out
    with open(args.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
