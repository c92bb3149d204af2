//! proptest strategies for core types.

use proptest::prelude::*;
use switchyard_core::outcome::{ErrorKind, Outcome};
use switchyard_core::time::Duration;

/// Any error kind.
pub fn error_kind() -> impl Strategy<Value = ErrorKind> {
    proptest::sample::select(ErrorKind::ALL.to_vec())
}

/// Mostly successes, sometimes any error, with an optional Retry-After.
pub fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        1 => (error_kind(), proptest::option::of(0u64..60)).prop_map(|(kind, secs)| Outcome::Error {
            kind,
            retry_after: secs.map(Duration::from_secs),
        }),
    ]
}
