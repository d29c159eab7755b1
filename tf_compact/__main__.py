"""`python -m tf_compact`: the `tf-compact` command, for an environment
whose console scripts are not on `PATH`.

```shell
python -m tf_compact compress --target_macs=0.25
```
"""

import sys

from tf_compact.cli import main

if __name__ == "__main__":
    main.run(["tf-compact", *sys.argv[1:]])
