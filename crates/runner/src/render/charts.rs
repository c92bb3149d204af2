//! The report's charts, drawn with plotters' SVG backend and inlined into `report.html`.
//!
//! Every time chart shades the named fault windows and marks operator actions, so a reader
//! sees cause and effect on one axis.

use plotters::prelude::*;

use crate::report::Report;

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 300;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Shades fault windows and marks operator actions on a time chart whose y axis spans `y`.
fn context(chart: &mut Chart<'_, '_>, r: &Report, y: (f64, f64)) -> Result<(), String> {
    for f in &r.failover {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(f.from_secs, y.0), (f.to_secs, y.1)],
                RGBColor(220, 60, 60).mix(0.12).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("fault: {}", f.fault),
                (f.from_secs, y.1),
                ("sans-serif", 12).into_font().color(&RGBColor(160, 30, 30)),
            )))
            .map_err(err)?;
    }
    for e in r
        .events
        .iter()
        .filter(|e| e.kind == "alert" && e.state == Some("alert"))
    {
        let marker = RGBColor(200, 0, 120);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(e.at_secs, y.0), (e.at_secs, y.1)],
                marker.stroke_width(2),
            )))
            .map_err(err)?;
        let label = format!("alert: {}", e.target.as_deref().unwrap_or(""));
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (e.at_secs, y.0 + (y.1 - y.0) * 0.8),
                ("sans-serif", 11).into_font().color(&marker),
            )))
            .map_err(err)?;
    }
    for e in r.events.iter().filter(|e| e.kind == "override") {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(e.at_secs, y.0), (e.at_secs, y.1)],
                BLACK.stroke_width(1),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                e.detail.clone(),
                (e.at_secs, y.0 + (y.1 - y.0) * 0.9),
                ("sans-serif", 11),
            )))
            .map_err(err)?;
    }
    Ok(())
}

fn draw(
    f: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
    height: u32,
) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(err)
            .and_then(|()| f(&root))
            .and_then(|()| root.present().map_err(err))
    };
    match result {
        Ok(()) => svg,
        Err(e) => format!(
            "<p>chart could not be drawn: {}</p>",
            super::html::escape(&e)
        ),
    }
}

/// A time chart: caption, a time x axis to `x_end`, a y axis over `y` described by `y_desc`.
fn time_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    x_end: f64,
    y: (f64, f64),
) -> Result<Chart<'a, 'b>, String> {
    let mut builder = ChartBuilder::on(root);
    if !caption.is_empty() {
        builder.caption(caption, ("sans-serif", 16));
    }
    let mut chart = builder
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_end, y.0..y.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// A labelled line, with its legend entry.
fn line<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    points: Vec<(f64, f64)>,
    c: RGBColor,
    label: &str,
) -> Result<(), String> {
    chart
        .draw_series(LineSeries::new(points, c.stroke_width(2)))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
    Ok(())
}

/// The legend box, at `position`.
fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

fn end(r: &Report) -> f64 {
    r.duration_secs.max(1.0)
}

/// Share of attempts per target over time, stacked.
pub fn share(r: &Report) -> String {
    draw(
        |root| {
            let w = r.series.width_secs as f64;
            let names: Vec<&String> = r.series.targets.keys().collect();
            let len = r
                .series
                .targets
                .values()
                .map(|s| s.attempts.len())
                .max()
                .unwrap_or(0);
            let mut chart = time_chart(
                root,
                "Traffic share per target (attempts)",
                "share",
                end(r),
                (0f64, 1.05f64),
            )?;
            context(&mut chart, r, (0.0, 1.05))?;
            let totals: Vec<u64> = (0..len)
                .map(|i| {
                    r.series
                        .targets
                        .values()
                        .map(|s| s.attempts.get(i).copied().unwrap_or(0))
                        .sum()
                })
                .collect();
            // Cumulative layers, drawn from the top one down so each covers the rest.
            let mut cumulative = vec![vec![0.0; len]; names.len()];
            for i in 0..len {
                let mut acc = 0.0;
                for (k, name) in names.iter().enumerate() {
                    let n = r.series.targets[*name]
                        .attempts
                        .get(i)
                        .copied()
                        .unwrap_or(0);
                    if totals[i] > 0 {
                        acc += n as f64 / totals[i] as f64;
                    }
                    cumulative[k][i] = acc;
                }
            }
            for k in (0..names.len()).rev() {
                let c = color(k);
                let points: Vec<(f64, f64)> = (0..len)
                    .filter(|&i| totals[i] > 0)
                    .map(|i| (i as f64 * w + w / 2.0, cumulative[k][i]))
                    .collect();
                chart
                    .draw_series(AreaSeries::new(points, 0.0, c.mix(0.75)).border_style(c))
                    .map_err(err)?
                    .label(names[k].as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                    });
            }
            // Over the areas, so fault windows and operator marks stay visible.
            context(&mut chart, r, (0.0, 1.05))?;
            legend(&mut chart, SeriesLabelPosition::LowerRight)
        },
        HEIGHT,
    )
}

/// Latency and time to first token percentiles over time.
pub fn latency(r: &Report) -> String {
    draw(
        |root| {
            let t = &r.timeline;
            let top = t
                .p99_ms
                .iter()
                .chain(&t.ttft_p99_ms)
                .copied()
                .fold(1.0, f64::max)
                * 1.1;
            let mut chart = time_chart(
                root,
                "Latency over time (from intended send)",
                "ms",
                end(r),
                (0f64, top),
            )?;
            context(&mut chart, r, (0.0, top))?;
            let lines: [(&str, &Vec<f64>, usize); 4] = [
                ("latency p50", &t.p50_ms, 0),
                ("latency p99", &t.p99_ms, 3),
                ("TTFT p50", &t.ttft_p50_ms, 2),
                ("TTFT p99", &t.ttft_p99_ms, 1),
            ];
            for (name, values, ci) in lines {
                let c = color(ci);
                let points: Vec<(f64, f64)> = values
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| t.requests.get(*i).copied().unwrap_or(0) > 0)
                    .map(|(i, v)| (i as f64 * t.width_secs + t.width_secs / 2.0, *v))
                    .collect();
                line(&mut chart, points, c, name)?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)
        },
        HEIGHT,
    )
}

/// Errors per second by kind (all targets).
pub fn errors(r: &Report) -> String {
    draw(
        |root| {
            let w = r.series.width_secs as f64;
            let mut kinds: std::collections::BTreeMap<&str, Vec<u64>> =
                std::collections::BTreeMap::new();
            for s in r.series.targets.values() {
                for (k, v) in &s.errors_by_kind {
                    let e = kinds.entry(k).or_insert_with(|| vec![0; v.len()]);
                    for (a, b) in e.iter_mut().zip(v) {
                        *a += b;
                    }
                }
            }
            let top = kinds.values().flatten().copied().max().unwrap_or(0) as f64 / w * 1.15 + 1.0;
            let mut chart = time_chart(
                root,
                "Errors per second by kind",
                "errors/s",
                end(r),
                (0f64, top),
            )?;
            context(&mut chart, r, (0.0, top))?;
            for (i, (kind, values)) in kinds.iter().enumerate() {
                let c = color(i + 3);
                let points: Vec<(f64, f64)> = values
                    .iter()
                    .enumerate()
                    .map(|(p, v)| (p as f64 * w + w / 2.0, *v as f64 / w))
                    .collect();
                line(&mut chart, points, c, kind)?;
            }
            if kinds.is_empty() {
                chart
                    .draw_series(std::iter::once(Text::new(
                        "no errors",
                        (end(r) / 2.0, top / 2.0),
                        ("sans-serif", 14),
                    )))
                    .map_err(err)?;
                return Ok(());
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)
        },
        HEIGHT,
    )
}

fn state_color(state: &str) -> RGBColor {
    match state {
        "open" => RGBColor(214, 39, 40),
        "half_open" => RGBColor(255, 127, 14),
        "recovering" => RGBColor(230, 200, 40),
        _ => RGBColor(44, 160, 44),
    }
}

/// Each target's breaker state over time, one row per target.
pub fn breakers(r: &Report) -> String {
    let rows = r.targets.len().max(1);
    draw(
        |root| {
            let mut chart = ChartBuilder::on(root)
                .caption("Breaker state per target (green closed, red open, orange half-open, yellow recovering)", ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(140)
                .build_cartesian_2d(0f64..end(r), 0f64..rows as f64)
                .map_err(err)?;
            let names: Vec<String> = r.targets.iter().map(|t| t.name.clone()).collect();
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(rows * 2 + 1)
                .y_label_formatter(&|y| {
                    let i = (*y - 0.5).round();
                    if (*y - 0.5 - i).abs() < 0.01 && i >= 0.0 {
                        names.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .x_desc("time (s)")
                .draw()
                .map_err(err)?;
            context(&mut chart, r, (0.0, rows as f64))?;
            for (row, t) in r.targets.iter().enumerate() {
                let mut from = 0.0;
                let mut state = "closed";
                let changes = r
                    .events
                    .iter()
                    .filter(|e| e.target.as_deref() == Some(t.name.as_str()));
                let y0 = row as f64 + 0.15;
                let y1 = row as f64 + 0.85;
                for e in changes {
                    let Some(next) = e.state else { continue };
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(from, y0), (e.at_secs, y1)],
                            state_color(state).filled(),
                        )))
                        .map_err(err)?;
                    from = e.at_secs;
                    state = next;
                }
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(from, y0), (end(r), y1)],
                        state_color(state).filled(),
                    )))
                    .map_err(err)?;
            }
            Ok(())
        },
        (60 + 40 * rows as u32).max(160),
    )
}

/// Cumulative cost per provider.
pub fn cost(r: &Report) -> String {
    draw(
        |root| {
            let w = r.series.width_secs as f64;
            let mut per_provider: std::collections::BTreeMap<&str, Vec<f64>> =
                std::collections::BTreeMap::new();
            for t in &r.targets {
                if let Some(s) = r.series.targets.get(&t.name) {
                    let e = per_provider
                        .entry(t.provider.as_str())
                        .or_insert_with(|| vec![0.0; s.cost_usd.len()]);
                    for (a, b) in e.iter_mut().zip(&s.cost_usd) {
                        *a += b;
                    }
                }
            }
            for v in per_provider.values_mut() {
                let mut acc = 0.0;
                for x in v.iter_mut() {
                    acc += *x;
                    *x = acc;
                }
            }
            let top = per_provider
                .values()
                .filter_map(|v| v.last())
                .copied()
                .fold(0.0, f64::max)
                * 1.1
                + 1e-6;
            let mut chart = time_chart(
                root,
                "Cumulative cost per provider (USD)",
                "USD",
                end(r),
                (0f64, top),
            )?;
            context(&mut chart, r, (0.0, top))?;
            for (i, (name, values)) in per_provider.iter().enumerate() {
                let c = color(i);
                let points: Vec<(f64, f64)> = values
                    .iter()
                    .enumerate()
                    .map(|(p, v)| ((p + 1) as f64 * w, *v))
                    .collect();
                line(&mut chart, points, c, name)?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        },
        HEIGHT,
    )
}

/// Lines overlaid, one per series (a variant), on a shared time axis.
pub fn overlay(
    y_desc: &str,
    series: &std::collections::BTreeMap<String, Vec<f64>>,
    width_secs: f64,
) -> String {
    draw(
        |root| {
            let len = series.values().map(Vec::len).max().unwrap_or(1);
            let top = series.values().flatten().copied().fold(1.0, f64::max) * 1.1;
            let mut chart = ChartBuilder::on(root)
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..(len as f64 * width_secs).max(1.0), 0f64..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("time (s)")
                .y_desc(y_desc)
                .draw()
                .map_err(err)?;
            for (i, (name, values)) in series.iter().enumerate() {
                let c = color(i);
                let points: Vec<(f64, f64)> = values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(p, v)| (p as f64 * width_secs + width_secs / 2.0, *v))
                    .collect();
                line(&mut chart, points, c, name.as_str())?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)
        },
        HEIGHT,
    )
}

/// Availability per target over time, with each target's SLA as a dashed line.
pub fn availability(r: &Report) -> String {
    draw(
        |root| {
            let w = r.series.width_secs as f64;
            let lowest = r
                .series
                .targets
                .values()
                .flat_map(|s| s.availability.iter().flatten())
                .copied()
                .chain(r.targets.iter().filter_map(|t| t.sla))
                .fold(1.0, f64::min);
            let bottom = (lowest - (1.0 - lowest) * 0.2).clamp(0.0, 0.999);
            let mut chart = time_chart(
                root,
                "Availability per target (dashed: SLA)",
                "availability",
                end(r),
                (bottom, 1.0005f64),
            )?;
            context(&mut chart, r, (bottom, 1.0005))?;
            for (i, t) in r.targets.iter().enumerate() {
                let c = color(i);
                let Some(s) = r.series.targets.get(&t.name) else {
                    continue;
                };
                let points: Vec<(f64, f64)> = s
                    .availability
                    .iter()
                    .enumerate()
                    .filter_map(|(p, a)| a.map(|a| (p as f64 * w + w / 2.0, a)))
                    .collect();
                line(&mut chart, points, c, t.name.as_str())?;
                if let Some(sla) = t.sla {
                    // Dashes: short segments along the SLA level.
                    let step = end(r) / 60.0;
                    let dashes = (0..60).map(move |k| {
                        PathElement::new(
                            vec![(k as f64 * step, sla), (k as f64 * step + step * 0.6, sla)],
                            c.stroke_width(1),
                        )
                    });
                    chart.draw_series(dashes).map_err(err)?;
                }
            }
            legend(&mut chart, SeriesLabelPosition::LowerLeft)
        },
        HEIGHT,
    )
}
