"""`python -m tf_compact`: the `tf-compact` command, for an environment
whose console scripts are not on `PATH`. It runs `tf_compact.cli.main` as
a script, as the console script does, so the package itself imports
nothing from the command line layer.

```shell
python -m tf_compact compress --target_macs=0.25
```
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("tf_compact.cli.main", run_name="__main__")
