//! Local emulator of the Redis Cloud API v1 (cloud accounts and tasks), following the OpenAPI contract. Shares no code with the client.
