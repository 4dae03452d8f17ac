//! The single integration-test binary: every file under `tests/integration/` is a module here.

mod integration {
    // In-process gRPC tests of every RPC the framework serves.
    mod grpc;
}
