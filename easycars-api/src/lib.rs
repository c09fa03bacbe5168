//! The EasyCars API as plain Rust: wire types, the 72-field stock catalogue, row mapping and
//! the HTTP client. Nothing here links against Postgres, so it is unit-, property- and
//! fuzz-testable on its own and shared by the extension and the simulator.

pub mod client;
pub mod mapping;
pub mod route;
pub mod stock_fields;
pub mod wire;
