"""mongosim: a MongoDB-compatible replica-set server for our tests.

mongosim stands in for ``mongod`` because our test machines cannot install the
real server. It speaks the wire protocol, accepts mongod's options and
``mongod.conf``, and reproduces the replica-set behaviour documented (with
sources) in ``tests/mongosim/SEMANTICS.md``. See tests/README.md for
what it covers and what it does not.
"""
