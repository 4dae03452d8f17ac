//! The msgpack encoding of cty values (`DynamicValue.msgpack`).
