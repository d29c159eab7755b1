"""Time TFLite files on a real interpreter and print a comparison table.

```shell
python examples/benchmark_tflite.py \
    --tflite=tf_compact_out/teacher_float32.tflite \
    --tflite=tf_compact_out/model_int8.tflite --accuracy
```
"""

from absl import app

from tf_compact.cli import benchmark_tflite

if __name__ == "__main__":
    app.run(benchmark_tflite.main)
