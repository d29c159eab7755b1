"""Convert a saved Keras model to TFLite (float32, float16, dynamic, int8).

```shell
python examples/export_tflite.py \
    --model_path=tf_compact_out/slim_finetuned.keras --mode=int8
```
"""

from absl import app

from tf_compact.cli import export_tflite

if __name__ == "__main__":
    app.run(export_tflite.main)
