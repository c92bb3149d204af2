//! Report writers: `report.md`, `report.html` and `junit.xml`, all from the `Report` that
//! `report.json` serializes. Tables are built once ([`tables`]) and rendered by each format.

pub mod charts;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod summary;

use crate::report::Report;

/// A table, format-neutral.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn ms(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.1} s", x / 1000.0)
    } else {
        format!("{x:.0} ms")
    }
}

/// What was not observed, in every table.
pub const NOT_OBSERVED: &str = "—";

/// A percentile of `p` (`x`, in milliseconds), or "—" when `p` is of nothing.
fn ms_of(p: &crate::results::Percentiles, x: f64) -> String {
    if p.samples == 0 {
        NOT_OBSERVED.to_owned()
    } else {
        ms(x)
    }
}

/// `cells`, or as many "—" when `observed` is false.
fn or_dash(observed: bool, cells: Vec<String>) -> Vec<String> {
    if observed {
        cells
    } else {
        vec![NOT_OBSERVED.to_owned(); cells.len()]
    }
}

/// A target's share of the run's attempts, from the counts: `share` in `report.json` is
/// rounded to six decimals, and rounding that again for a table can be off by one in the
/// last digit shown (347 of 586 read 59.21 %, not 59.22 %).
pub fn exact_share(r: &Report, t: &crate::results::TargetReport) -> f64 {
    let total: u64 = r.targets.iter().map(|t| t.attempts).sum();
    if total == 0 {
        0.0
    } else {
        t.attempts as f64 / total as f64
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// An availability or an objective (SLA), in percent to three decimals: both in the same
/// form, so that they compare at a glance, and enough digits for an objective of 99.995 %.
pub fn nines(x: f64) -> String {
    format!("{:.3}%", x * 100.0)
}

/// A scope's success rate from its counts: `success_rate` in `report.json` is rounded to
/// six decimals, and rounding that again for a table can be off by one in the last digit.
pub fn exact_success_rate(b: &crate::results::BucketReport) -> f64 {
    crate::results::success_rate(b.succeeded, b.requests)
}

fn usd(x: f64) -> String {
    format!("${x:.4}")
}

/// A failover figure: to the millisecond, or `never` when it did not happen.
fn never_secs(x: Option<f64>) -> String {
    x.map_or("never".to_owned(), |v| format!("{v:.3} s"))
}

/// Whether a fault had no time left to fail back in: it lasted to the end of the run's
/// arrivals, so no failback hold fits after it (its failback is then not "never").
pub fn no_time_to_fail_back(f: &crate::report::FailoverReport) -> bool {
    f.time_to_failback_secs.is_none() && f.failback_hold_secs <= 0.0
}

/// A fault's whole line, as every report writes it: whether the run exercised it and, when
/// it did, whether (and when) it failed over, then when the router detected it (not through
/// a black box, whose gateway's breakers are not seen) and, when traffic failed over, when
/// it failed back. A fault that was not exercised has no figures to add.
pub fn fault_line(r: &Report, f: &crate::report::FailoverReport) -> String {
    let mut line = f.exercised.line.clone();
    if !f.exercised.exercised {
        return line;
    }
    if r.black_box.is_none() {
        line.push_str(&match f.time_to_detect_secs {
            Some(v) => format!("; detected after {v:.3} s"),
            None => "; never detected".to_owned(),
        });
    }
    // Traffic that never left cannot come back: no failback figure then.
    if f.exercised.failed_over {
        line.push_str(&match f.time_to_failback_secs {
            Some(v) => format!("; failed back after {v:.3} s"),
            None if no_time_to_fail_back(f) => "; no time left in the run to fail back".to_owned(),
            None => "; never failed back".to_owned(),
        });
    }
    line
}

/// A fault's failback figure: to the millisecond, `no time left` when the fault lasted to
/// the end of the run, else `never`.
fn failback_secs(f: &crate::report::FailoverReport) -> String {
    if no_time_to_fail_back(f) {
        return "no time left".to_owned();
    }
    never_secs(f.time_to_failback_secs)
}

/// A verdict's observed value as words: `observed 0.97`, or `not observed: why` as it is
/// (never "observed not observed").
pub fn observed_words(observed: &str) -> String {
    if observed.starts_with("not observed") {
        observed.to_owned()
    } else {
        format!("observed {observed}")
    }
}

/// The verdict line of each expectation: (passed, name, observed, expected).
pub fn verdicts(r: &Report) -> Vec<(bool, String, String, String)> {
    r.expectations
        .iter()
        .map(|e| {
            let time = e.metric.is_time();
            let show = |v: f64| {
                if time {
                    format!("{v:.3} s")
                } else {
                    format!("{v}{}", e.metric.unit())
                }
            };
            let observed = e.observed.map_or_else(
                || match &e.reason {
                    Some(why) => format!("not observed: {why}"),
                    None => "not observed".to_owned(),
                },
                show,
            );
            (
                e.passed,
                e.name.clone(),
                observed,
                format!("{} {}", e.op, show(e.expected)),
            )
        })
        .collect()
}

use crate::baseline::shown;

fn opt_num(x: Option<f64>) -> String {
    x.map_or(NOT_OBSERVED.to_owned(), shown)
}

/// The baseline gate's verdict of each figure: (passed, name, observed, expected), as
/// [`verdicts`] gives them for expectations; empty without a baseline.
pub fn baseline_verdicts(r: &Report) -> Vec<(bool, String, String, String)> {
    let Some(b) = &r.baseline else {
        return Vec::new();
    };
    b.figures
        .iter()
        .map(|f| {
            let expected = match (f.baseline, f.limit) {
                (Some(base), Some(limit)) => {
                    format!("baseline {}, limit {}", shown(base), shown(limit))
                }
                (base, _) => format!("baseline {}", opt_num(base)),
            };
            (
                f.passed,
                format!("baseline: {}", f.name),
                if f.passed {
                    opt_num(f.observed)
                } else {
                    f.message.clone()
                },
                expected,
            )
        })
        .collect()
}

fn baseline_table(r: &Report) -> Table {
    Table {
        title: "Baseline",
        headers: vec!["figure", "baseline", "observed", "limit", "verdict"],
        rows: r
            .baseline
            .iter()
            .flat_map(|b| &b.figures)
            .map(|f| {
                vec![
                    f.name.clone(),
                    opt_num(f.baseline),
                    opt_num(f.observed),
                    opt_num(f.limit),
                    if f.passed {
                        "pass".to_owned()
                    } else {
                        format!("FAIL: {}", f.message)
                    },
                ]
            })
            .collect(),
    }
}

/// The report's tables, in reading order.
pub fn tables(r: &Report) -> Vec<Table> {
    let mut all = vec![baseline_table(r), targets_table(r), providers_table(r)];
    all.extend(bucket_tables(r));
    all.push(failover_table(r));
    all.extend(fleet_tables(r));
    all.push(alerts_table(r));
    all.into_iter().filter(|t| !t.rows.is_empty()).collect()
}

/// A scope's failed requests by reason, most first: `abandoned 449, timeout 3`.
pub fn failures_line(b: &crate::results::BucketReport) -> String {
    let mut by: Vec<(&str, u64)> = b.failures.iter().map(|(k, v)| (*k, *v)).collect();
    by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    by.iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each target's attempts, availability, latency, tokens and cost.
fn targets_table(r: &Report) -> Table {
    Table {
        title: "Targets",
        headers: vec![
            "target",
            "provider",
            "attempts",
            "share",
            "successes",
            "cancelled",
            "hedges",
            "availability",
            "SLA",
            "error budget spent (%)",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "TTFT p50",
            "TTFT p99",
            "tokens in",
            "tokens out",
            "estimated",
            "cost",
            "wasted",
        ],
        rows: r
            .targets
            .iter()
            .map(|t| {
                // A target without attempts has no cost to show, one with none finished (all
                // cancelled) no availability, one without latencies none to show either.
                let tried = t.attempts > 0;
                let finished = t.finished() > 0;
                let (l, f) = (&t.latency_ms, &t.ttft_ms);
                let mut row = vec![
                    t.name.clone(),
                    t.provider.clone(),
                    t.attempts.to_string(),
                    pct(exact_share(r, t)),
                    t.successes.to_string(),
                    t.cancelled.to_string(),
                    t.hedges.to_string(),
                ];
                // From the exact figures: rounded once, here.
                row.push(t.exact.availability.map_or(NOT_OBSERVED.to_owned(), nines));
                row.push(t.sla.map_or(NOT_OBSERVED.to_owned(), nines));
                row.extend(or_dash(
                    finished,
                    vec![
                        t.exact
                            .error_budget_spent
                            .map_or(NOT_OBSERVED.to_owned(), pct),
                    ],
                ));
                row.extend([
                    ms_of(l, l.p50),
                    ms_of(l, l.p90),
                    ms_of(l, l.p99),
                    ms_of(l, l.p999),
                    ms_of(f, f.p50),
                    ms_of(f, f.p99),
                    t.prompt_tokens.to_string(),
                    t.completion_tokens.to_string(),
                    t.usage_missing.to_string(),
                ]);
                row.extend(or_dash(
                    tried,
                    vec![
                        usd(t.cost_success_usd + t.cost_failed_usd),
                        usd(t.cost_failed_usd),
                    ],
                ));
                row
            })
            .collect(),
    }
}

/// One row of a bucket table ([`BUCKET_HEADERS`]): `name`'s requests, rates, latency and cost.
fn bucket_row(name: &str, b: &crate::results::BucketReport) -> Vec<String> {
    let (l, i) = (&b.latency_ms, &b.inter_token_ms);
    let mut row = vec![name.to_owned(), b.requests.to_string()];
    // A scope without requests observed nothing: no rate, latency, attempts or cost.
    row.extend(or_dash(
        b.requests > 0,
        vec![
            pct(exact_success_rate(b)),
            b.failed.to_string(),
            ms_of(l, l.p50),
            ms_of(l, l.p90),
            ms_of(l, l.p99),
            ms_of(l, l.p999),
            ms_of(&b.ttft_ms, b.ttft_ms.p50),
            ms_of(i, i.p50),
            ms_of(i, i.p99),
            ms_of(&b.time_per_output_token_ms, b.time_per_output_token_ms.p50),
            format!("{:.3}", b.attempts_per_request),
            format!("{:.2}/s", b.goodput_per_sec),
            usd(b.cost_usd),
        ],
    ));
    row
}

/// The headers of the tables built from [`bucket_row`]s.
const BUCKET_HEADERS: &[&str] = &[
    "",
    "requests",
    "success",
    "failed",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "TTFT p50",
    "ITL p50",
    "ITL p99",
    "TPOT p50",
    "attempts/request",
    "goodput",
    "cost",
];

/// The classes (with the totals first), routes and phases, each a table of [`bucket_row`]s.
fn bucket_tables(r: &Report) -> [Table; 3] {
    let mut classes = Table {
        title: "Classes",
        headers: BUCKET_HEADERS.to_vec(),
        rows: vec![bucket_row("all", &r.totals)],
    };
    classes
        .rows
        .extend(r.classes.iter().map(|(n, b)| bucket_row(n, b)));
    let routes = Table {
        title: "Routes",
        headers: BUCKET_HEADERS.to_vec(),
        rows: r.routes.iter().map(|(n, b)| bucket_row(n, b)).collect(),
    };
    let phases = Table {
        title: "Phases",
        headers: BUCKET_HEADERS.to_vec(),
        rows: r
            .phases
            .iter()
            .map(|p| bucket_row(&p.name, &p.figures))
            .collect(),
    };
    [classes, routes, phases]
}

/// Each fault's window and how long detection, failover and failback took.
fn failover_table(r: &Report) -> Table {
    Table {
        title: "Failover per fault",
        headers: vec![
            "fault",
            "provider",
            "window",
            "time to detect",
            "time to fail over",
            "time to fail back",
            "hold",
            "exercised",
        ],
        rows: r
            .failover
            .iter()
            .map(|f| {
                vec![
                    f.fault.clone(),
                    f.provider.clone(),
                    format!("{:.0}–{:.0} s", f.from_secs, f.to_secs),
                    never_secs(f.time_to_detect_secs),
                    never_secs(f.time_to_failover_secs),
                    failback_secs(f),
                    format!("{:.1} s", f.hold_secs),
                    f.exercised.line.clone(),
                ]
            })
            .collect(),
    }
}

/// Each provider's attempts, errors, availability and cost.
fn providers_table(r: &Report) -> Table {
    Table {
        title: "Providers",
        headers: vec![
            "provider",
            "attempts",
            "successes",
            "errors",
            "availability",
            "cost",
            "wasted",
        ],
        rows: r
            .providers
            .iter()
            .map(|p| {
                let mut row = vec![
                    p.name.clone(),
                    p.attempts.to_string(),
                    p.successes.to_string(),
                    p.errors.to_string(),
                ];
                // Attempts none of which finished (all cancelled): no availability.
                row.push(p.exact_availability.map_or(NOT_OBSERVED.to_owned(), nines));
                row.extend(or_dash(
                    p.attempts > 0,
                    vec![usd(p.cost_usd), usd(p.wasted_cost_usd)],
                ));
                row
            })
            .collect(),
    }
}

/// The alerts and cost caps spent, in time order.
fn alerts_table(r: &Report) -> Table {
    Table {
        title: "Alerts",
        headers: vec!["time", "what"],
        rows: r
            .events
            .iter()
            .filter(|e| e.kind == "alert" || e.kind == "cost_cap_spent")
            .map(|e| vec![format!("{:.0} s", e.at_secs), e.detail.clone()])
            .collect(),
    }
}

/// A fleet run's tables: what each provider received from the fleet, each target's
/// detection, stop and probes, each replica's load, and the store's counters. None without
/// a fleet.
fn fleet_tables(r: &Report) -> Vec<Table> {
    let Some(f) = &r.fleet else {
        return Vec::new();
    };
    let secs = |x: Option<f64>| x.map_or_else(|| "–".to_owned(), |s| format!("{s:.3} s"));
    let sharing = if f.shared {
        "shared store"
    } else {
        "nothing shared"
    };
    vec![
        Table {
            title: "Fleet: what the providers received",
            headers: vec!["provider", "requests", "429s", "429 share"],
            rows: f
                .providers
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.requests.to_string(),
                        p.rate_limited.to_string(),
                        pct(p.rate_limited_share),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Fleet: targets",
            headers: vec!["target", "first detection", "fleet stopped after", "probes"],
            rows: f
                .targets
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        secs(t.first_open_secs),
                        secs(t.stopped_after_secs),
                        t.probes.to_string(),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Fleet: replicas",
            headers: vec!["replica", "requests", "share"],
            rows: f
                .replicas_load
                .iter()
                .map(|l| vec![l.replica.to_string(), l.requests.to_string(), pct(l.share)])
                .collect(),
        },
        Table {
            title: "Fleet: store",
            headers: vec![
                "sharing",
                "store operations",
                "failed",
                "fell back",
                "rejoined",
            ],
            rows: vec![vec![
                sharing.to_owned(),
                f.store_ops.to_string(),
                f.store_failures.to_string(),
                f.degraded.to_string(),
                f.rejoined.to_string(),
            ]],
        },
    ]
}

/// The run's success rate for a headline: `—` for a run without requests, whose rate of 1
/// would measure nothing.
pub fn headline_rate(r: &Report) -> String {
    if r.totals.requests == 0 {
        NOT_OBSERVED.to_owned()
    } else {
        format!("{:.3}%", exact_success_rate(&r.totals) * 100.0)
    }
}

/// The run's p99 latency for a headline: `—` for a run without requests.
pub fn headline_p99(r: &Report) -> String {
    headline_ms(r, r.totals.latency_ms.p99)
}

/// A latency of the run's for a headline, in ms: `—` for a run without requests.
pub fn headline_ms(r: &Report, ms: f64) -> String {
    if r.totals.requests == 0 {
        NOT_OBSERVED.to_owned()
    } else {
        format!("{ms:.0} ms")
    }
}

/// A black-box run's note, as sentences: where each figure comes from and what the runner
/// could not see. `None` for any other run.
pub fn black_box_note(r: &Report) -> Option<String> {
    let b = r.black_box.as_ref()?;
    Some(format!(
        "Black-box run: the gateway under test decided every request. From the client's view: \
         {}. From the fakes' counters (read every {} s on the runner's clock): {}. Not \
         observed (left out or 0, expectations on them fail): {}.",
        b.client_view.join("; "),
        b.poll_secs,
        b.fakes_view.join("; "),
        b.not_observed.join("; ")
    ))
}
