r"""Convert a saved Keras model to TFLite (float32, float16, dynamic, int8).

```shell
python examples/export_tflite.py \
    --model_path=tf_compact_out/slim_finetuned.keras --mode=int8
```
"""

import sys

from tf_compact.cli import main

if __name__ == "__main__":
    prog = f"python {sys.argv[0]}"
    main.run_command("export-tflite", sys.argv[1:], prog=prog)
