//! The console's charts as SVG written by hand: lines over time (a
//! campaign day's spend against its pacing curve) and bars per day (spend
//! against the daily budget).
//!
//! Pure: numbers in, markup out; never reads the service or a clock.
//! Colours, dashes and fonts are SVG presentation attributes (`fill`,
//! `stroke`, `font-size`), never a `style` attribute, so the console's
//! `style-src 'self'` holds. Each chart names itself for screen readers
//! (`role="img"`, a title and a description); the page gives its
//! numbers again, in a sentence or a table.

use maud::{Markup, html};

/// Width of every chart, in SVG units (it scales to its box).
const W: f64 = 640.0;
/// Height of every chart.
const H: f64 = 220.0;
/// Room for the y axis' labels.
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 12.0;
/// Room for the x axis' labels.
const BOTTOM: f64 = 28.0;

/// Ink: dark enough for text contrast on white.
const AXIS: &str = "#444";
const GRID: &str = "#ddd";
/// The measured series.
pub const SPEND: &str = "#183a37";
/// The planned series (curve, budget).
pub const PLAN: &str = "#b05a00";

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its points `(x, y)`, x ascending.
    pub points: Vec<(i64, i64)>,
    /// Its colour.
    pub colour: &'static str,
    /// Dashed (a plan) or solid (a measure).
    pub dashed: bool,
}

/// What every chart has: an id for its title, what it says, and the
/// labels of its axes.
#[derive(Clone)]
pub struct Frame<'a> {
    /// Unique on its page; prefixes the ids of its title and description.
    pub id: &'a str,
    /// Its title.
    pub title: &'a str,
    /// One sentence of what it shows, for those who cannot see it.
    pub desc: &'a str,
    /// Labels under the x axis at these x values.
    pub x_labels: &'a [(i64, String)],
    /// How a y value (micros) is written on the axis.
    pub y_label: &'a dyn Fn(i64) -> String,
}

impl std::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("id", &self.id)
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `v`
/// (at least 1): the top of a y axis.
pub fn nice_ceiling(v: i64) -> i64 {
    let v = v.max(1);
    let mut p: i64 = 1;
    loop {
        for m in [1, 2, 5] {
            if let Some(n) = p.checked_mul(m)
                && n >= v
            {
                return n;
            }
        }
        match p.checked_mul(10) {
            Some(n) => p = n,
            None => return v,
        }
    }
}

/// Maps values to SVG coordinates.
struct Scale {
    x0: i64,
    x1: i64,
    y_max: i64,
}

impl Scale {
    fn x(&self, x: i64) -> f64 {
        let span = (self.x1 - self.x0).max(1) as f64;
        LEFT + (x - self.x0) as f64 / span * (W - LEFT - RIGHT)
    }

    fn y(&self, y: i64) -> f64 {
        H - BOTTOM - y as f64 / self.y_max as f64 * (H - TOP - BOTTOM)
    }
}

/// Axes, grid lines and labels.
fn axes(s: &Scale, f: &Frame<'_>) -> Markup {
    let ticks = 4;
    html! {
        g font-size="11" font-family="system-ui, sans-serif" fill=(AXIS) {
            @for i in 0..=ticks {
                @let v = s.y_max / ticks * i;
                @let y = s.y(v);
                line x1=(LEFT) x2=(W - RIGHT) y1=(fmt(y)) y2=(fmt(y)) stroke=(if i == 0 { AXIS } else { GRID }) stroke-width="1" {}
                text x=(LEFT - 6.0) y=(fmt(y + 4.0)) text-anchor="end" { ((f.y_label)(v)) }
            }
            @for (x, label) in f.x_labels {
                text x=(fmt(s.x(*x))) y=(fmt(H - 8.0)) text-anchor="middle" { (label) }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

fn open_svg(f: &Frame<'_>, inner: Markup) -> Markup {
    let t = format!("{}-t", f.id);
    let d = format!("{}-d", f.id);
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) role="img" aria-labelledby=(format!("{t} {d}")) {
            title id=(t) { (f.title) }
            desc id=(d) { (f.desc) }
            rect x="0" y="0" width=(W) height=(H) fill="#fff" {}
            (inner)
        }
    }
}

/// A line chart of `lines` over x from `x0` to `x1`, with a vertical
/// marker at `mark` (now) when it is inside.
pub fn lines(f: &Frame<'_>, x0: i64, x1: i64, mark: Option<i64>, lines: &[Line]) -> Markup {
    let top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0);
    let s = Scale {
        x0,
        x1,
        y_max: nice_ceiling(top),
    };
    let inner = html! {
        (axes(&s, f))
        @if let Some(m) = mark.filter(|m| (x0..=x1).contains(m)) {
            line x1=(fmt(s.x(m))) x2=(fmt(s.x(m))) y1=(TOP) y2=(fmt(H - BOTTOM)) stroke=(AXIS) stroke-width="1" stroke-dasharray="2 3" {}
        }
        @for l in lines {
            @if !l.points.is_empty() {
                polyline fill="none" stroke=(l.colour) stroke-width="2"
                    stroke-dasharray=[l.dashed.then_some("6 4")]
                    points=(l.points.iter().map(|(x, y)| format!("{},{}", fmt(s.x(*x)), fmt(s.y(*y)))).collect::<Vec<_>>().join(" ")) {}
            }
        }
    };
    open_svg(f, inner)
}

/// A bar chart: one bar per `(x, y)` of `bars`, all `step` wide, over x
/// from `x0` to `x1`, and a dashed level at `level` (a budget) when set.
pub fn bars(
    f: &Frame<'_>,
    x0: i64,
    x1: i64,
    step: i64,
    bars: &[(i64, i64)],
    level: Option<i64>,
) -> Markup {
    let top = bars.iter().map(|b| b.1).chain(level).max().unwrap_or(0);
    let s = Scale {
        x0,
        x1,
        y_max: nice_ceiling(top),
    };
    let inner = html! {
        (axes(&s, f))
        @for (x, y) in bars {
            @let left = s.x(*x);
            @let width = (s.x(*x + step) - left) * 0.8;
            @let height = s.y(0) - s.y(*y);
            rect x=(fmt(left + width * 0.125)) y=(fmt(s.y(*y))) width=(fmt(width)) height=(fmt(height.max(0.0))) fill=(SPEND) {}
        }
        @if let Some(l) = level.filter(|l| *l > 0) {
            line x1=(LEFT) x2=(W - RIGHT) y1=(fmt(s.y(l))) y2=(fmt(s.y(l))) stroke=(PLAN) stroke-width="2" stroke-dasharray="6 4" {}
        }
    };
    open_svg(f, inner)
}

/// A legend: a swatch (a small SVG, so no style is needed) and a name
/// for each series.
pub fn legend(items: &[(&'static str, bool, &str)]) -> Markup {
    html! {
        ul.legend {
            @for (colour, dashed, name) in items {
                li {
                    svg xmlns="http://www.w3.org/2000/svg" width="28" height="10" viewBox="0 0 28 10" aria-hidden="true" {
                        line x1="0" x2="28" y1="5" y2="5" stroke=(colour) stroke-width="3" stroke-dasharray=[dashed.then_some("6 4")] {}
                    }
                    " " (name)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame<'a>(labels: &'a [(i64, String)], y: &'a dyn Fn(i64) -> String) -> Frame<'a> {
        Frame {
            id: "c",
            title: "Spend <today>",
            desc: "a test",
            x_labels: labels,
            y_label: y,
        }
    }

    #[test]
    fn axis_tops_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(101), 200);
        assert_eq!(nice_ceiling(500_000_000), 500_000_000);
        assert_eq!(nice_ceiling(i64::MAX), i64::MAX);
    }

    #[test]
    fn a_line_chart_names_itself_and_has_no_style_attribute() {
        let y = |v: i64| v.to_string();
        let labels = [(0, "00:00".to_owned()), (100, "24:00".to_owned())];
        let svg = lines(
            &frame(&labels, &y),
            0,
            100,
            Some(50),
            &[Line {
                points: vec![(0, 0), (50, 10)],
                colour: SPEND,
                dashed: false,
            }],
        )
        .into_string();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"c-t\">Spend &lt;today&gt;</title>"));
        assert!(!svg.contains("style="), "{svg}");
        // y runs to 10 over 180 units: the point (50, 10) is at the top.
        assert!(svg.contains("points=\"72.0,192.0 344.0,12.0\""), "{svg}");
        assert!(svg.contains(">24:00<"));
    }

    #[test]
    fn bars_scale_to_the_budget_when_it_is_higher() {
        let y = |v: i64| v.to_string();
        let svg = bars(&frame(&[], &y), 0, 2, 1, &[(0, 25), (1, 50)], Some(100)).into_string();
        // The top is 100: the bar of 50 is half the plot's height (90).
        assert!(svg.contains("height=\"90.0\""), "{svg}");
        assert!(svg.contains("stroke-dasharray=\"6 4\""));
        assert!(!svg.contains("style="));
    }
}
