"""Dapr's multi-app run template (`dapr run -f dapr.yaml`) for `funchost run -f`.

- `model.py`: the file's fields (pydantic), merged with `common` and resolved as the dapr CLI
  does (paths, resources precedence, env to each app);
- `_yaml.py`: a YAML loader that remembers where every value was written, so an error names the
  file, line and field;
- `launcher.py`: starts each app (a functions folder as `funchost run`, any other app as its
  `command` next to `funchost sidecar`), prefixes logs per app and stops them all in order.
"""

from .launcher import run_apps
from .model import AppSpec, RunFile, RunFileError, load_run_file

__all__ = ["AppSpec", "RunFile", "RunFileError", "load_run_file", "run_apps"]
