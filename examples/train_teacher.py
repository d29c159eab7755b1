r"""Train, evaluate and save a reference teacher model.

With no flags it trains `small_cnn` for 2 epochs on the Fashion-MNIST subset
shipped with tf_compact (offline, a few minutes on 2 CPU cores), prints the
test accuracy and the per-layer profile, and saves
`tf_compact_out/teacher.keras`.

```shell
python examples/train_teacher.py
python examples/train_teacher.py --dataset=fashion_mnist --model=vgg \
    --epochs=10 --output_dir=vgg_teacher
python examples/train_teacher.py --help
```
"""

import sys

from tf_compact.cli import main

if __name__ == "__main__":
    prog = f"python {sys.argv[0]}"
    main.run_command("train-teacher", sys.argv[1:], prog=prog)
