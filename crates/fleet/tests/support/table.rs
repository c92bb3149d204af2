//! The store's rules as a table of cases: a sequence of operations, each at a time after the
//! case's start, and what it must return. Plain data with no dependency, so the same table can
//! run on the core's `StoreModel` and on the Redis store, step by step (tests/conformance.rs).
//!
//! Times are milliseconds after the case's start. A runner on a real clock may run a step up
//! to [`SLACK_MS`] late; every expectation below holds anywhere in that window (each
//! boundary the case tests is at least `SLACK_MS` away from the steps around it).
//!
//! Buckets refill per minute; capacities are small (60 a minute: one unit a second) so a
//! refill shows in whole units within a few seconds.

use Kind::*;
use T::*;

/// How late a step may run on a real clock and still be judged.
pub const SLACK_MS: u64 = 250;

/// An advisory's kind (the store's `AdvisoryKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Open,
    Parked,
    Revoked,
    CostCapSpent,
    Recovering,
}

/// A time: milliseconds after the case's start, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum T {
    At(u64),
    Forever,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Advise `kind` for `subject` until `until` (`since` compared for `Recovering`).
    Advise {
        kind: Kind,
        subject: &'static str,
        until: T,
        since: u64,
        payload: &'static str,
    },
    /// Every live advisory.
    Read,
    /// A lease of `units` from the bucket of `subject` holding `per_minute` units a minute.
    Take {
        subject: &'static str,
        per_minute: u64,
        units: u64,
    },
    /// `units` of a lease returned to the bucket of `subject`.
    GiveBack { subject: &'static str, units: u64 },
    /// The probe token of `target` for `holder` until `until`.
    TryProbe {
        target: &'static str,
        holder: u32,
        until: u64,
    },
    /// `holder` gives the probe token of `target` back.
    ReleaseProbe { target: &'static str, holder: u32 },
    /// Replica `replica` is alive until `until`.
    Beat { replica: u32, until: u64 },
    /// How many replicas are alive.
    Alive,
}

/// What an operation must return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// From `Advise`: whether it won, and the stored advisory's `(until, since)` after it.
    Advised {
        accepted: bool,
        stored: Option<(T, u64)>,
    },
    /// From `Read`: the live advisories `(kind, subject, until, since, payload)`, sorted.
    Advisories(Vec<(Kind, &'static str, T, u64, &'static str)>),
    /// From `Take`: the units granted.
    Granted(u64),
    /// From `TryProbe`: whether the caller holds the token.
    Probe(bool),
    /// From `ReleaseProbe`: whether the caller held a live token.
    Released(bool),
    /// From `Alive`.
    Alive(u32),
    /// From `GiveBack` and `Beat`: nothing to check.
    Done,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub at: u64,
    pub op: Op,
    pub expect: Expect,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    /// The rule the case shows, in words.
    pub rule: &'static str,
    pub steps: Vec<Step>,
}

fn step(at: u64, op: Op, expect: Expect) -> Step {
    Step { at, op, expect }
}

fn advise(kind: Kind, subject: &'static str, until: T, since: u64, payload: &'static str) -> Op {
    Op::Advise {
        kind,
        subject,
        until,
        since,
        payload,
    }
}

fn advised(accepted: bool, stored: Option<(T, u64)>) -> Expect {
    Expect::Advised { accepted, stored }
}

fn take(subject: &'static str, per_minute: u64, units: u64) -> Op {
    Op::Take {
        subject,
        per_minute,
        units,
    }
}

fn probe(target: &'static str, holder: u32, until: u64) -> Op {
    Op::TryProbe {
        target,
        holder,
        until,
    }
}

/// Every case, one function each (a case is one rule of the store).
pub fn cases() -> Vec<Case> {
    vec![
        latest_until_wins(),
        ttl_from_the_stored_until(),
        a_new_advisory_after_the_old_one_is_over(),
        kinds_and_subjects_are_separate_keys(),
        forever_outlives_any_until(),
        earliest_since_wins_for_a_recovery(),
        a_lease_is_at_most_what_the_bucket_holds(),
        the_bucket_refills_per_minute(),
        given_back_units_go_to_the_next_taker(),
        a_bucket_never_holds_more_than_its_capacity(),
        the_probe_token_has_one_holder(),
        the_probe_token_expires(),
        heartbeats_count_replicas_alive_and_expire(),
    ]
}

fn latest_until_wins() -> Case {
    Case {
        name: "latest_until_wins",
        rule: "an older advisory never shortens a newer one; a newer one replaces it",
        steps: vec![
            step(
                0,
                advise(Open, "a", At(1000), 0, "first"),
                advised(true, Some((At(1000), 0))),
            ),
            step(
                0,
                advise(Open, "a", At(600), 0, "older"),
                advised(false, Some((At(1000), 0))),
            ),
            step(
                300,
                Op::Read,
                Expect::Advisories(vec![(Open, "a", At(1000), 0, "first")]),
            ),
            step(
                300,
                advise(Open, "a", At(1600), 0, "newer"),
                advised(true, Some((At(1600), 0))),
            ),
            step(
                1300,
                Op::Read,
                Expect::Advisories(vec![(Open, "a", At(1600), 0, "newer")]),
            ),
            step(1600, Op::Read, Expect::Advisories(vec![])),
        ],
    }
}

fn ttl_from_the_stored_until() -> Case {
    Case {
        name: "ttl_from_the_stored_until",
        rule: "an advisory is over at its until: reading it does not extend it",
        steps: vec![
            step(
                0,
                advise(Parked, "b", At(900), 0, ""),
                advised(true, Some((At(900), 0))),
            ),
            step(
                300,
                Op::Read,
                Expect::Advisories(vec![(Parked, "b", At(900), 0, "")]),
            ),
            step(
                600,
                Op::Read,
                Expect::Advisories(vec![(Parked, "b", At(900), 0, "")]),
            ),
            step(900, Op::Read, Expect::Advisories(vec![])),
            // Already over when it arrives: nothing stored.
            step(
                900,
                advise(Parked, "b", At(600), 0, ""),
                advised(false, None),
            ),
            step(900, Op::Read, Expect::Advisories(vec![])),
        ],
    }
}

fn a_new_advisory_after_the_old_one_is_over() -> Case {
    Case {
        name: "a_new_advisory_after_the_old_one_is_over",
        rule: "once an advisory is over, any live one with its key is stored",
        steps: vec![
            step(
                0,
                advise(CostCapSpent, "c", At(300), 0, ""),
                advised(true, Some((At(300), 0))),
            ),
            step(
                600,
                advise(CostCapSpent, "c", At(1200), 0, ""),
                advised(true, Some((At(1200), 0))),
            ),
            step(
                600,
                Op::Read,
                Expect::Advisories(vec![(CostCapSpent, "c", At(1200), 0, "")]),
            ),
        ],
    }
}

fn kinds_and_subjects_are_separate_keys() -> Case {
    Case {
        name: "kinds_and_subjects_are_separate_keys",
        rule: "an advisory is keyed by its kind and its subject",
        steps: vec![
            step(
                0,
                advise(Open, "x", At(1000), 0, "timeout"),
                advised(true, Some((At(1000), 0))),
            ),
            step(
                0,
                advise(Parked, "x", At(500), 0, ""),
                advised(true, Some((At(500), 0))),
            ),
            step(
                0,
                advise(Open, "y", At(900), 0, "server_error"),
                advised(true, Some((At(900), 0))),
            ),
            step(
                0,
                Op::Read,
                Expect::Advisories(vec![
                    (Open, "x", At(1000), 0, "timeout"),
                    (Open, "y", At(900), 0, "server_error"),
                    (Parked, "x", At(500), 0, ""),
                ]),
            ),
            step(
                500,
                Op::Read,
                Expect::Advisories(vec![
                    (Open, "x", At(1000), 0, "timeout"),
                    (Open, "y", At(900), 0, "server_error"),
                ]),
            ),
        ],
    }
}

fn forever_outlives_any_until() -> Case {
    Case {
        name: "forever_outlives_any_until",
        rule: "a revocation with no deadline is never over and never shortened",
        steps: vec![
            step(
                0,
                advise(Revoked, "p/0", Forever, 0, ""),
                advised(true, Some((Forever, 0))),
            ),
            step(
                0,
                advise(Revoked, "p/0", At(600), 0, ""),
                advised(false, Some((Forever, 0))),
            ),
            step(
                900,
                Op::Read,
                Expect::Advisories(vec![(Revoked, "p/0", Forever, 0, "")]),
            ),
        ],
    }
}

fn earliest_since_wins_for_a_recovery() -> Case {
    Case {
        name: "earliest_since_wins_for_a_recovery",
        rule: "the fleet shares one ramp: the earliest start of the live recovery",
        steps: vec![
            step(
                0,
                advise(Recovering, "r", At(2000), 200, ""),
                advised(true, Some((At(2000), 200))),
            ),
            step(
                0,
                advise(Recovering, "r", At(2100), 300, ""),
                advised(false, Some((At(2000), 200))),
            ),
            step(
                0,
                advise(Recovering, "r", At(1900), 100, ""),
                advised(true, Some((At(1900), 100))),
            ),
            // Same start: the later end wins.
            step(
                0,
                advise(Recovering, "r", At(1950), 100, ""),
                advised(true, Some((At(1950), 100))),
            ),
            step(
                0,
                advise(Recovering, "s", At(300), 100, ""),
                advised(true, Some((At(300), 100))),
            ),
            step(
                300,
                Op::Read,
                Expect::Advisories(vec![(Recovering, "r", At(1950), 100, "")]),
            ),
            // Once the ramp is over, a later one starts afresh.
            step(
                600,
                advise(Recovering, "s", At(2000), 500, ""),
                advised(true, Some((At(2000), 500))),
            ),
        ],
    }
}

fn a_lease_is_at_most_what_the_bucket_holds() -> Case {
    Case {
        name: "a_lease_is_at_most_what_the_bucket_holds",
        rule: "granted at most what the shared bucket holds; it starts full at its capacity",
        steps: vec![
            step(0, take("t", 60, 100), Expect::Granted(60)),
            step(0, take("t", 60, 5), Expect::Granted(0)),
        ],
    }
}

fn the_bucket_refills_per_minute() -> Case {
    Case {
        name: "the_bucket_refills_per_minute",
        rule: "capacity units a minute come back, continuously (60 a minute: 1 a second)",
        steps: vec![
            step(0, take("t", 60, 60), Expect::Granted(60)),
            step(2500, take("t", 60, 5), Expect::Granted(2)),
            step(2500, take("t", 60, 5), Expect::Granted(0)),
        ],
    }
}

fn given_back_units_go_to_the_next_taker() -> Case {
    Case {
        name: "given_back_units_go_to_the_next_taker",
        rule: "units a lease returns are available to the next taker",
        steps: vec![
            step(0, take("u", 60, 40), Expect::Granted(40)),
            step(0, take("u", 60, 40), Expect::Granted(20)),
            step(
                0,
                Op::GiveBack {
                    subject: "u",
                    units: 15,
                },
                Expect::Done,
            ),
            step(0, take("u", 60, 40), Expect::Granted(15)),
        ],
    }
}

fn a_bucket_never_holds_more_than_its_capacity() -> Case {
    Case {
        name: "a_bucket_never_holds_more_than_its_capacity",
        rule: "returns beyond the capacity are dropped",
        steps: vec![
            step(0, take("v", 60, 10), Expect::Granted(10)),
            step(
                0,
                Op::GiveBack {
                    subject: "v",
                    units: 100,
                },
                Expect::Done,
            ),
            step(0, take("v", 60, 100), Expect::Granted(60)),
            // A bucket nobody took from is full: a return changes nothing.
            step(
                0,
                Op::GiveBack {
                    subject: "w",
                    units: 5,
                },
                Expect::Done,
            ),
            step(0, take("w", 60, 100), Expect::Granted(60)),
        ],
    }
}

fn the_probe_token_has_one_holder() -> Case {
    Case {
        name: "the_probe_token_has_one_holder",
        rule: "one holder at a time; only the holder releases it; then another may take it",
        steps: vec![
            step(0, probe("h", 1, 1500), Expect::Probe(true)),
            step(0, probe("h", 2, 1500), Expect::Probe(false)),
            step(0, probe("h", 1, 1800), Expect::Probe(true)),
            step(
                300,
                Op::ReleaseProbe {
                    target: "h",
                    holder: 2,
                },
                Expect::Released(false),
            ),
            step(300, probe("h", 2, 2000), Expect::Probe(false)),
            step(
                300,
                Op::ReleaseProbe {
                    target: "h",
                    holder: 1,
                },
                Expect::Released(true),
            ),
            step(300, probe("h", 2, 2000), Expect::Probe(true)),
            step(300, probe("h", 1, 2000), Expect::Probe(false)),
            // Tokens of other targets are separate.
            step(300, probe("k", 1, 2000), Expect::Probe(true)),
        ],
    }
}

fn the_probe_token_expires() -> Case {
    Case {
        name: "the_probe_token_expires",
        rule: "a token is over at its until: then another replica may take it",
        steps: vec![
            step(0, probe("e", 1, 600), Expect::Probe(true)),
            step(300, probe("e", 2, 1500), Expect::Probe(false)),
            step(600, probe("e", 2, 1500), Expect::Probe(true)),
            step(
                600,
                Op::ReleaseProbe {
                    target: "e",
                    holder: 1,
                },
                Expect::Released(false),
            ),
            // A token already over when asked for is not granted.
            step(600, probe("f", 3, 300), Expect::Probe(false)),
        ],
    }
}

fn heartbeats_count_replicas_alive_and_expire() -> Case {
    Case {
        name: "heartbeats_count_replicas_alive_and_expire",
        rule: "alive counts replicas with a live heartbeat; a heartbeat is over at its until",
        steps: vec![
            step(
                0,
                Op::Beat {
                    replica: 1,
                    until: 600,
                },
                Expect::Done,
            ),
            step(
                0,
                Op::Beat {
                    replica: 2,
                    until: 1200,
                },
                Expect::Done,
            ),
            step(
                0,
                Op::Beat {
                    replica: 3,
                    until: 1200,
                },
                Expect::Done,
            ),
            step(0, Op::Alive, Expect::Alive(3)),
            // An older heartbeat does not shorten a newer one.
            step(
                0,
                Op::Beat {
                    replica: 2,
                    until: 300,
                },
                Expect::Done,
            ),
            step(600, Op::Alive, Expect::Alive(2)),
            step(900, Op::Alive, Expect::Alive(2)),
            step(1200, Op::Alive, Expect::Alive(0)),
            step(
                1200,
                Op::Beat {
                    replica: 1,
                    until: 1800,
                },
                Expect::Done,
            ),
            step(1200, Op::Alive, Expect::Alive(1)),
        ],
    }
}
