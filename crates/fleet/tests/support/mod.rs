//! Shared by the fleet store's tests and bench: a real Redis, and the rules as a table.
#![allow(dead_code, reason = "each test file uses a part")]

pub mod table;
