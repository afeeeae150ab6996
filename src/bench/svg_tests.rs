use super::*;

/// How far a drawn point may sit from its value, as a share of the axis span
/// (coordinates are written with one decimal of a 310-unit panel).
const POSITION_TOLERANCE_SHARE: f64 = 0.002;
/// How far a tick may sit from where its label's value belongs, in units.
const TICK_TOLERANCE_UNITS: f64 = 0.2;

/// The per-second produce and consume rates of a 5,000 msg/s run (its
/// `result.json` timeline), which used to be drawn near 4,550.
fn five_thousand_per_second() -> Vec<Series> {
    let produce = vec![
        (0.71, 3512.1),
        (1.71, 4838.4),
        (2.72, 5162.8),
        (3.73, 4995.3),
        (4.75, 5004.7),
        (5.76, 4999.0),
        (6.11, 3461.9),
    ];
    let consume = produce.iter().map(|&(t, r)| (t, r * 0.999)).collect();
    vec![
        Series {
            label: "produce msgs/s".into(),
            color: 0,
            dashed: false,
            points: produce,
        },
        Series {
            label: "consume msgs/s".into(),
            color: 1,
            dashed: true,
            points: consume,
        },
    ]
}

fn spectrum() -> Series {
    Series {
        label: "publish".into(),
        color: 0,
        dashed: false,
        points: vec![
            (0.0, 0.4),
            (90.0, 3.3),
            (99.0, 30.8),
            (99.9, 57.0),
            (99.999, 61.2),
        ],
    }
}

/// `name="value"` of one element.
fn attribute(element: &str, name: &str) -> Option<f64> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + element[start..].find('"')?;
    element[start..end].parse().ok()
}

/// `<text>` elements: (x, y, anchor, text).
fn texts(svg: &str) -> Vec<(f64, f64, String, String)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let (open, after) = rest.split_once('>')?;
            let (text, _) = after.split_once("</text>")?;
            let anchor = open.split("text-anchor=\"").nth(1)?.split('"').next()?;
            Some((
                attribute(open, "x")?,
                attribute(open, "y")?,
                anchor.to_string(),
                text.to_string(),
            ))
        })
        .collect()
}

/// Vertices of every `<path>`, in order.
fn paths(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<path d=\"")
        .skip(1)
        .map(|rest| {
            rest.split('"')
                .next()
                .unwrap_or("")
                .split(['M', 'L'])
                .filter_map(|p| {
                    let (x, y) = p.trim().split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect()
        })
        .collect()
}

/// A tick label's value: "5k" is 5000, "1.5M" 1,500,000, "99%" 99.
fn label_value(label: &str) -> Option<f64> {
    let (number, scale) = match label.chars().last()? {
        'k' => (&label[..label.len() - 1], 1e3),
        'M' => (&label[..label.len() - 1], 1e6),
        '%' => (&label[..label.len() - 1], 1.0),
        _ => (label, 1.0),
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// An axis read as a person reads it: a position between two labelled ticks
/// is read by interpolating between their labels.
struct ReadAxis {
    ticks: Vec<(f64, f64)>,
    span: f64,
    what: &'static str,
}

impl ReadAxis {
    fn from_ticks(mut ticks: Vec<(f64, f64)>, what: &'static str) -> ReadAxis {
        ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(ticks.len() >= 2, "{what}: ticks {ticks:?}");
        let span = (ticks[ticks.len() - 1].1 - ticks[0].1).abs();
        ReadAxis { ticks, span, what }
    }

    fn value(&self, unit: f64) -> f64 {
        let pairs = self.ticks.windows(2);
        let last = pairs.len() - 1;
        for (i, pair) in pairs.enumerate() {
            let ((u0, v0), (u1, v1)) = (pair[0], pair[1]);
            if unit <= u1 || i == last {
                return v0 + (unit - u0) * (v1 - v0) / (u1 - u0);
            }
        }
        unreachable!("at least two ticks")
    }

    /// Every tick sits where its label's value belongs on the line through
    /// the first and last tick.
    fn check_ticks(&self) {
        let ((u0, v0), (u1, v1)) = (self.ticks[0], self.ticks[self.ticks.len() - 1]);
        for &(unit, value) in &self.ticks {
            let drawn_at = u0 + (value - v0) * (u1 - u0) / (v1 - v0);
            assert!(
                (drawn_at - unit).abs() <= TICK_TOLERANCE_UNITS,
                "{}: the tick labelled {value} is drawn at {unit}, where {} belongs",
                self.what,
                v0 + (unit - u0) * (v1 - v0) / (u1 - u0)
            );
        }
    }
}

/// The throughput panel's axes, read from the chart's own labels: the
/// panel's x labels sit under it (anchor middle), its y labels left of it
/// (anchor end); the latency panel is the left half.
fn throughput_axes(svg: &str) -> (ReadAxis, ReadAxis) {
    let right: Vec<_> = texts(svg)
        .into_iter()
        .filter(|(x, ..)| *x > WIDTH / 2.0 - 20.0)
        .collect();
    let x_ticks: Vec<(f64, f64)> = right
        .iter()
        .filter(|(_, y, anchor, _)| anchor == "middle" && *y > MARGIN_TOP + 10.0)
        .filter_map(|(x, _, _, label)| Some((*x, label_value(label)?)))
        .collect();
    let y_ticks: Vec<(f64, f64)> = right
        .iter()
        .filter(|(.., anchor, _)| anchor == "end")
        // Labels are written 4 units below their tick line.
        .filter_map(|(_, y, _, label)| Some((*y - 4.0, label_value(label)?)))
        .collect();
    (
        ReadAxis::from_ticks(x_ticks, "time axis"),
        ReadAxis::from_ticks(y_ticks, "rate axis"),
    )
}

fn assert_drawn_where_the_data_is(chart: &Chart) {
    let svg = render(chart);
    let (time, rate) = throughput_axes(&svg);
    let drawn = paths(&svg);
    let timelines = &drawn[drawn.len() - chart.timelines.len()..];
    for (series, path) in chart.timelines.iter().zip(timelines) {
        assert_eq!(path.len(), series.points.len(), "{}", series.label);
        for (&(t, r), &(x, y)) in series.points.iter().zip(path) {
            let (read_t, read_r) = (time.value(x), rate.value(y));
            assert!(
                (read_r - r).abs() <= POSITION_TOLERANCE_SHARE * rate.span,
                "{}: {r:.0} msgs/s at {t}s is drawn at {read_r:.0} on the chart's own scale",
                series.label
            );
            assert!(
                (read_t - t).abs() <= POSITION_TOLERANCE_SHARE * time.span,
                "{}: the point at {t}s is drawn at {read_t:.2}s",
                series.label
            );
        }
    }
    time.check_ticks();
    rate.check_ticks();
}

#[test]
fn throughput_is_drawn_at_its_value_on_the_labelled_axes() {
    assert_drawn_where_the_data_is(&Chart {
        title: "5,000 msg/s".into(),
        spectra: vec![spectrum()],
        timelines: five_thousand_per_second(),
    });
}

#[test]
fn any_rate_and_duration_are_drawn_at_their_values() {
    for (rate, seconds) in [
        (1.0, 1.0),
        (7.0, 2.5),
        (950.0, 9.9),
        (5000.0, 30.0),
        (12_345.0, 61.0),
        (999_999.0, 300.0),
        (1_234_567.0, 4.0),
    ] {
        let points: Vec<(f64, f64)> = (1..=8)
            .map(|i| {
                let t = seconds * f64::from(i) / 8.0;
                (t, rate * (0.9 + 0.1 * f64::from(i % 3)))
            })
            .collect();
        assert_drawn_where_the_data_is(&Chart {
            title: format!("{rate} msg/s for {seconds}s"),
            spectra: vec![spectrum()],
            timelines: vec![Series {
                label: "produce".into(),
                color: 0,
                dashed: false,
                points,
            }],
        });
    }
}

#[test]
fn renders_a_well_formed_document_with_every_series() {
    let chart = Chart {
        title: "a <run>".into(),
        spectra: vec![Series {
            label: "publish".into(),
            color: 0,
            dashed: false,
            points: vec![(0.0, 0.5), (99.0, 2.0), (99.999, 40.0)],
        }],
        timelines: vec![Series {
            label: "produce".into(),
            color: 1,
            dashed: true,
            points: vec![(1.0, 1000.0), (2.0, 1100.0)],
        }],
    };
    let svg = render(&chart);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<path").count(), 2);
    assert!(svg.contains("a &lt;run&gt;"));
    assert!((nines(99.9) - 3.0).abs() < 1e-9);
}
