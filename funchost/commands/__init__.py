"""The bodies of the CLI commands; `funchost.cli` declares their options and imports these lazily.

`run` and `sidecar` are the only host modules (with `funchost.testing`) that import the sidecar.
"""
