"""Entry point of packaged mongosim: runs ``python3 -m mongosim`` with this
directory (which holds mongosim, bson and yaml) first on sys.path."""

import runpy

runpy.run_module("mongosim", run_name="__main__", alter_sys=True)
