//! The wire layer: go-plugin handshake, AutoMTLS, gRPC services and hclog-shaped logging. No Redis knowledge.

pub mod proto;
