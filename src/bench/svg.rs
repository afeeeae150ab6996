//! A self-contained SVG chart: the latency percentile spectrum (log-scale
//! latency against "nines" of the percentile) beside throughput over time.
//! Used for one run's `chart.svg` and for `bench compare`.

use std::fmt::Write;

/// Chart size in SVG user units.
const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 440.0;
/// Margins around each panel (room for tick labels and titles).
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_TOP: f64 = 50.0;
const MARGIN_BOTTOM: f64 = 80.0;
const PANEL_GAP: f64 = 80.0;
/// Series colours, reused in order.
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
];
/// Largest number of nines on the spectrum axis (99.999%).
const NINES_MAX: f64 = 5.0;

/// One line on a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Colour index into the palette.
    pub color: usize,
    /// Drawn dashed (end-to-end latency, consume rate).
    pub dashed: bool,
    /// Points in data units.
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Title over both panels.
    pub title: String,
    /// Latency spectra: x = percentile (0..100), y = ms.
    pub spectra: Vec<Series>,
    /// Throughput timelines: x = seconds, y = msgs/s.
    pub timelines: Vec<Series>,
}

struct Axis {
    min: f64,
    max: f64,
    log: bool,
}

impl Axis {
    fn fraction(&self, v: f64) -> f64 {
        let (v, min, max) = if self.log {
            (v.max(self.min).log10(), self.min.log10(), self.max.log10())
        } else {
            (v, self.min, self.max)
        };
        if max > min {
            ((v - min) / (max - min)).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Percentile to "nines": 90 -> 1, 99 -> 2, 99.9 -> 3.
fn nines(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(10f64.powf(-NINES_MAX));
    -rest.log10()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the chart as a standalone SVG document.
pub fn render(chart: &Chart) -> String {
    let panel_w = (WIDTH - 2.0 * MARGIN_LEFT - PANEL_GAP) / 2.0 + 20.0;
    let panel_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        WIDTH / 2.0,
        escape(&chart.title)
    );
    let spectra: Vec<Series> = chart
        .spectra
        .iter()
        .map(|s| Series {
            points: s.points.iter().map(|(p, v)| (nines(*p), *v)).collect(),
            ..s.clone()
        })
        .collect();
    let latency_axis = log_axis(&spectra);
    let x_spectrum = Axis {
        min: 0.0,
        max: NINES_MAX,
        log: false,
    };
    let spectrum_ticks: Vec<(f64, String)> = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, l.to_string()))
        .collect();
    let y_ticks = decade_ticks(&latency_axis);
    let left = Panel {
        x: MARGIN_LEFT,
        y: MARGIN_TOP,
        w: panel_w,
        h: panel_h,
    };
    left.draw(
        &mut out,
        "Latency by percentile (ms, log)",
        &x_spectrum,
        &latency_axis,
        &spectrum_ticks,
        &y_ticks,
        &spectra,
    );
    let t_max = chart
        .timelines
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let rate_max = chart
        .timelines
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    // Ticks at round values, labelled exactly: a label rounded from an
    // unround tick value misreads every line drawn against it.
    let (x_time, time_step) = time_scale(t_max);
    let (y_rate, rate_step) = rate_scale(rate_max);
    let right = Panel {
        x: MARGIN_LEFT * 2.0 + panel_w + PANEL_GAP - 60.0,
        y: MARGIN_TOP,
        w: panel_w,
        h: panel_h,
    };
    right.draw(
        &mut out,
        "Throughput (msgs/s) over time (s)",
        &x_time,
        &y_rate,
        &linear_ticks(&x_time, time_step, (1.0, "")),
        &linear_ticks(&y_rate, rate_step, count_unit(y_rate.max)),
        &chart.timelines,
    );
    legend(&mut out, &chart.spectra, &chart.timelines, HEIGHT - 40.0);
    out.push_str("</svg>\n");
    out
}

fn log_axis(series: &[Series]) -> Axis {
    let values = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|v| *v > 0.0)
    };
    let min = values().fold(f64::INFINITY, f64::min);
    let max = values().fold(0.0, f64::max);
    if !min.is_finite() || max <= 0.0 {
        return Axis {
            min: 0.01,
            max: 100.0,
            log: true,
        };
    }
    let min = 10f64.powf(min.log10().floor());
    let max = 10f64.powf(max.log10().ceil()).max(min * 10.0);
    Axis {
        min,
        max,
        log: true,
    }
}

fn decade_ticks(axis: &Axis) -> Vec<(f64, String)> {
    let mut ticks = Vec::new();
    let mut v = axis.min;
    while v <= axis.max * 1.0001 {
        ticks.push((v, format_number(v)));
        v *= 10.0;
    }
    ticks
}

/// Intervals of a linear axis at most: its step is the smallest of 1, 2 or 5
/// times a power of ten that needs no more.
const LINEAR_INTERVALS_MAX: f64 = 6.0;
/// Steps tried per power of ten.
const NICE_STEPS: [f64; 3] = [1.0, 2.0, 5.0];

/// Rates: from 0 to the first step strictly above the highest rate.
fn rate_scale(data_max: f64) -> (Axis, f64) {
    let step = nice_step(data_max, f64::ceil);
    let axis = Axis {
        min: 0.0,
        max: ((data_max / step).floor() + 1.0) * step,
        log: false,
    };
    (axis, step)
}

/// Time: from 0 to the last point, ticks at the steps inside.
fn time_scale(data_max: f64) -> (Axis, f64) {
    let step = nice_step(data_max, f64::floor);
    let axis = Axis {
        min: 0.0,
        max: data_max,
        log: false,
    };
    (axis, step)
}

/// The smallest round step that splits `span` in at most
/// [`LINEAR_INTERVALS_MAX`] intervals, counted by `count` (ceil or floor).
fn nice_step(span: f64, count: fn(f64) -> f64) -> f64 {
    let span = span.max(f64::MIN_POSITIVE);
    let mut power = 10f64.powf((span / LINEAR_INTERVALS_MAX).log10().floor() - 1.0);
    loop {
        for factor in NICE_STEPS {
            if count(span / (factor * power)) <= LINEAR_INTERVALS_MAX {
                return factor * power;
            }
        }
        power *= 10.0;
    }
}

/// Ticks at every `step` of `axis`, labelled in `unit`s (1000 = "k").
fn linear_ticks(axis: &Axis, step: f64, (unit, suffix): (f64, &str)) -> Vec<(f64, String)> {
    let intervals = (axis.max / step + 1e-9).floor() as usize;
    (0..=intervals)
        .map(|i| {
            let v = step * i as f64;
            let label = match i {
                0 => "0".to_string(),
                _ => format!("{}{suffix}", exact_decimal(v / unit, step / unit)),
            };
            (v, label)
        })
        .collect()
}

/// The unit and suffix for counts up to `max`.
fn count_unit(max: f64) -> (f64, &'static str) {
    if max >= 1e6 {
        (1e6, "M")
    } else if max >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    }
}

/// A decade tick's label: 0.01, 0.1, 1, 10...
fn format_number(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.6}");
        text.trim_end_matches('0').to_string()
    }
}

/// `v` with as many decimals as `step` needs, so the label is the value.
fn exact_decimal(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

struct Panel {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Panel {
    #[allow(clippy::too_many_arguments)]
    fn draw(
        &self,
        out: &mut String,
        title: &str,
        x: &Axis,
        y: &Axis,
        x_ticks: &[(f64, String)],
        y_ticks: &[(f64, String)],
        series: &[Series],
    ) {
        let (px, py, w, h) = (self.x, self.y, self.w, self.h);
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            px + w / 2.0,
            py - 10.0,
            escape(title)
        );
        let _ = writeln!(out, "<rect x=\"{px}\" y=\"{py}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#888\"/>");
        for (v, label) in x_ticks {
            let tx = px + x.fraction(*v) * w;
            let _ = writeln!(out, "<line x1=\"{tx:.1}\" y1=\"{py}\" x2=\"{tx:.1}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{tx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", py + h, py + h + 16.0, escape(label));
        }
        for (v, label) in y_ticks {
            let ty = py + h - y.fraction(*v) * h;
            let _ = writeln!(out, "<line x1=\"{px}\" y1=\"{ty:.1}\" x2=\"{}\" y2=\"{ty:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", px + w, px - 6.0, ty + 4.0, escape(label));
        }
        for s in series.iter().filter(|s| !s.points.is_empty()) {
            let mut path = String::new();
            for (i, (vx, vy)) in s.points.iter().enumerate() {
                let cx = px + x.fraction(*vx) * w;
                let cy = py + h - y.fraction(*vy) * h;
                let _ = write!(path, "{}{cx:.1},{cy:.1}", if i == 0 { "M" } else { " L" });
            }
            let dash = if s.dashed {
                " stroke-dasharray=\"6,4\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<path d=\"{path}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
                COLORS[s.color % COLORS.len()]
            );
        }
    }
}

fn legend(out: &mut String, spectra: &[Series], timelines: &[Series], y: f64) {
    let mut x = MARGIN_LEFT;
    let mut row_y = y;
    for s in spectra.iter().chain(timelines.iter()) {
        let dash = if s.dashed {
            " stroke-dasharray=\"6,4\""
        } else {
            ""
        };
        let width = 40.0 + 7.0 * s.label.len() as f64;
        if x + width > WIDTH - 20.0 {
            x = MARGIN_LEFT;
            row_y += 16.0;
        }
        let _ = writeln!(out, "<line x1=\"{x}\" y1=\"{row_y}\" x2=\"{}\" y2=\"{row_y}\" stroke=\"{}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{}</text>", x + 24.0, COLORS[s.color % COLORS.len()], x + 30.0, row_y + 4.0, escape(&s.label));
        x += width;
    }
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;
