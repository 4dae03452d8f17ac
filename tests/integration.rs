//! The single integration-test binary: every file under `tests/integration/` is a module here.

// Modules resolve under `tests/integration/`: add `mod <name>;` here for `tests/integration/<name>.rs`.
mod integration {
    // Acceptance-test harness: Terraform runner, work directories, emulator handle, step runner.
    mod support;

    // The harness proves itself against real Terraform using only built-in resources.
    mod harness_smoke;

    // In-process gRPC tests of every RPC the framework serves.
    mod grpc;

    // The REST client against the emulator: flow, 404, 429, 5xx, task 404s, task errors, deadlines, secrets.
    mod client_emulator;

    // The binary as Terraform sees it: init, validate, schema, logs.
    mod cli_protocol;

    // docs/ matches what the generator renders from the served schema.
    mod docs;

    // Every example is formatted, valid, and applied against the emulator.
    mod examples;

    // Every fenced snippet of README.md, run as written; a snippet without a test fails.
    mod readme;

    // Module authors' CI: the workflow's test step, run as written (`terraform test` against the emulator).
    mod module_ci;

    // Terraform 1.10 to 1.14: a smoke lifecycle, and features too new for a version fail clearly.
    mod version_matrix;

    // Release zip, manifest and SHA256SUMS install through a plain terraform init.
    mod release;

    // Acceptance scenarios for the rediscloud_cloud_account resource, real Terraform against the emulator.
    mod acc_cloud_account;

    // Acceptance scenarios for the rediscloud_cloud_account data source: zero, one and many matches.
    mod acc_data_source;

    // terraform query: filters, limit, objects, bad list configurations, and generated configuration imported.
    mod acc_list_resource;

    // Apply under injected faults (5xx, 429, drops, slowness, task errors, restart, SIGINT): state and API agree.
    mod proof_faults;

    // Malformed configurations, provider blocks and import IDs: attribute-scoped diagnostics, zero writes.
    mod proof_bad_input;

    // A full lifecycle at TF_LOG=trace leaks no secret to logs, output, plans, the API log or (write-only) state.
    mod proof_secrets;

    // Many accounts in one apply under the real rate limit and task queue.
    mod proof_load;

    // Nothing lost, taken or orphaned: ambiguous writes, wrong URLs, interruptions, in process.
    mod safety;
    // Shared list requests for waits and refreshes; masked list values are never drift.
    mod scale;
    // A user's first hour: a URL without `/v1`, a REDISCLOUD_URL without a scheme, progress of a long wait, timeouts.
    mod first_hour;
    // One API key for many runs: a rate window an earlier run or another workspace spent.
    mod rate_window;
    // Randomized lifecycle checker: random operations and API faults never lose, take or orphan an account.
    mod lifecycle;
}
