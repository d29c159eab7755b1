r"""Compress a teacher into a small, fast TFLite model, end to end.

With no flags this is the README's main job: it runs offline on the
Fashion-MNIST subset shipped with tf_compact, trains a `small_cnn` teacher
(or reuses `tf_compact_out/teacher.keras`), prunes a copy of it to 25% of
its MACs (global L2 channel pruning), trains it with distillation,
fine-tunes it, converts it to TFLite float32 and int8, times both on the
interpreter and prints the before/after table. Files land in `tf_compact_out/`
(`report.md`, `report.json`, plots, `.keras` and `.tflite`); an interrupted
run resumes when started again.

```shell
python examples/compress.py
python examples/compress.py --dataset=fashion_mnist --model=vgg \
    --lighten=gap_head --epochs=8 --output_dir=vgg_run
python examples/compress.py --help
```
"""

import sys

from tf_compact.cli import main

if __name__ == "__main__":
    prog = f"python {sys.argv[0]}"
    main.run_command("compress", sys.argv[1:], prog=prog)
