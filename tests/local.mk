# Unit tests (cmocka) of the pure modules; `make check` runs them.
