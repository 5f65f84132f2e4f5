"""The socmc test suite (a package so that ``tests.support`` can be imported)."""
