r"""Time TFLite files on a real interpreter and print a comparison table.

```shell
python examples/benchmark_tflite.py \
    --tflite=tf_compact_out/teacher_float32.tflite \
    --tflite=tf_compact_out/model_int8.tflite --accuracy
```
"""

import sys

from tf_compact.cli import main

if __name__ == "__main__":
    prog = f"python {sys.argv[0]}"
    main.run_command("benchmark-tflite", sys.argv[1:], prog=prog)
