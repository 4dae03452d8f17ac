//! The JSON encoding of cty values (raw state and `DynamicValue.json`).
