//! The single integration-test binary: every file under `tests/integration/` is a module here.
