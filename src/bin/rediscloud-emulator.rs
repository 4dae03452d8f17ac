//! `rediscloud-emulator`: a standalone local Redis Cloud API for tests, demos and CI.

fn main() {}
