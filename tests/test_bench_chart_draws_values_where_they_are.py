"""`millrace bench` draws its chart at the values it measured. A 5,000 msg/s run used to be
drawn near 4,550 (9% low) on the throughput panel: its tick labels were rounded from unround
tick values. The chart is read here as a person reads it: each panel's scale comes from its
own tick labels, and every vertex of every line is mapped back through that scale and
compared with result.json (the per-second timeline, and the percentile spectrum)."""

import math
import xml.etree.ElementTree as ElementTree

from bench_helpers import load_result, run_bench
from clients import unique_topic

SVG = "{http://www.w3.org/2000/svg}"
RATE = 5000
# A drawn point may sit this share of its axis span from its value (coordinates carry one
# decimal on a panel about 400 units wide and 310 high).
POSITION_TOLERANCE_SHARE = 0.003
# Tick labels sit this far below their tick line (y labels) in the SVG.
Y_LABEL_OFFSET = 4.0


def label_value(label):
    """'5k' -> 5000, '1.5M' -> 1500000, '99.9%' -> 99.9, '0.1' -> 0.1."""
    scale = {"k": 1e3, "M": 1e6, "%": 1.0}.get(label[-1])
    return float(label[:-1]) * scale if scale else float(label)


def nines(percentile):
    return -math.log10(max(1.0 - percentile / 100.0, 1e-5))


class Scale:
    """An axis read as a person reads it: a position between two labelled ticks is read by
    interpolating between their labels. `check_ticks` then asks that all ticks lie on one line
    (labels that are the values at their positions)."""

    def __init__(self, ticks, what):
        self.ticks = sorted(ticks)
        self.what = what
        assert len(self.ticks) >= 2, f"{what}: ticks {self.ticks}"
        self.span = abs(self.ticks[-1][1] - self.ticks[0][1])

    def value(self, unit):
        (u0, v0), (u1, v1) = self.ticks[0], self.ticks[1]
        for (a, va), (b, vb) in zip(self.ticks, self.ticks[1:]):
            (u0, v0), (u1, v1) = (a, va), (b, vb)
            if unit <= b:
                break
        return v0 + (unit - u0) * (v1 - v0) / (u1 - u0)

    def check_ticks(self):
        (u0, v0), (u1, v1) = self.ticks[0], self.ticks[-1]
        for unit, value in self.ticks:
            on_line = v0 + (unit - u0) * (v1 - v0) / (u1 - u0)
            assert abs(on_line - value) <= POSITION_TOLERANCE_SHARE * self.span, (
                f"{self.what}: the tick labelled {value:g} is drawn where {on_line:g} belongs"
            )


def panels(svg_path):
    """{panel title: (x scale, y scale, [line vertices])}, read from the document. Panels are
    the framed rects; their labels lie under them (x, anchored middle) and left of them (y,
    anchored end)."""
    root = ElementTree.parse(svg_path).getroot()
    frames = [r for r in root.iter(f"{SVG}rect") if r.get("stroke")]
    texts = [t for t in root.iter(f"{SVG}text") if t.get("text-anchor")]
    lines = [
        [tuple(float(c) for c in point.strip(" ML").split(",")) for point in p.get("d").split(" L")]
        for p in root.iter(f"{SVG}path")
    ]
    found = {}
    for frame in frames:
        x, y = float(frame.get("x")), float(frame.get("y"))
        w, h = float(frame.get("width")), float(frame.get("height"))
        title = next(
            t.text for t in texts if abs(float(t.get("y")) - (y - 10)) < 1 and x <= float(t.get("x")) <= x + w
        )
        x_ticks = [
            (float(t.get("x")), t.text)
            for t in texts
            if t.get("text-anchor") == "middle" and float(t.get("y")) > y + h and x - 1 <= float(t.get("x")) <= x + w + 1
        ]
        y_ticks = [
            (float(t.get("y")) - Y_LABEL_OFFSET, t.text)
            for t in texts
            if t.get("text-anchor") == "end" and x - 20 < float(t.get("x")) < x
        ]
        inside = [line for line in lines if all(x - 1 <= px <= x + w + 1 for px, _ in line)]
        found[title] = (x_ticks, y_ticks, inside)
    return found


def test_a_5000_msg_per_s_run_is_drawn_at_5000(broker, tmp_path):
    bootstrap, _, _ = broker()
    out = tmp_path / "out"
    run = run_bench(
        "--bootstrap", bootstrap, "--topic-prefix", unique_topic("bench-chart"), "--rate", RATE,
        "--message-size", 200, "--duration", "5s", "--output", out,
    )
    assert run.returncode == 0, run.stderr
    result = load_result(out)
    assert abs(result["produce"]["msgs_per_s"] - RATE) <= 0.05 * RATE, result["produce"]
    found = panels(out / "chart.svg")

    x_ticks, y_ticks, lines = found["Throughput (msgs/s) over time (s)"]
    time = Scale([(u, label_value(v)) for u, v in x_ticks], "time axis")
    rate = Scale([(u, label_value(v)) for u, v in y_ticks], "rate axis")
    assert len(lines) == 2, lines
    misdrawn = []
    for line, field in zip(lines, ("produce_msgs_per_s", "consume_msgs_per_s")):
        expected = [(p["t_s"], p[field]) for p in result["timeline"]]
        drawn = [(time.value(x), rate.value(y)) for x, y in line]
        assert len(drawn) == len(expected), f"{field}: {len(drawn)} vertices for {len(expected)} points"
        for (t, value), (drawn_t, drawn_value) in zip(expected, drawn):
            if abs(drawn_value - value) > POSITION_TOLERANCE_SHARE * rate.span:
                misdrawn.append(f"{field} {value:.0f} at {t:.2f}s drawn at {drawn_value:.0f}")
            if abs(drawn_t - t) > POSITION_TOLERANCE_SHARE * time.span:
                misdrawn.append(f"{field} at {t:.2f}s drawn at {drawn_t:.2f}s")
    assert not misdrawn, "read on the chart's own axes:\n" + "\n".join(misdrawn)
    time.check_ticks()
    rate.check_ticks()

    x_ticks, y_ticks, lines = found["Latency by percentile (ms, log)"]
    percentile = Scale([(u, nines(label_value(v))) for u, v in x_ticks], "percentile axis")
    latency = Scale([(u, math.log10(label_value(v))) for u, v in y_ticks], "latency axis")
    assert len(lines) == 2, lines
    for line, field in zip(lines, ("publish_latency_ms", "e2e_latency_ms")):
        floor = min(label_value(v) for _, v in y_ticks)
        for (p, ms), (x, y) in zip(result[field]["spectrum"], line):
            assert abs(percentile.value(x) - nines(p)) <= POSITION_TOLERANCE_SHARE * percentile.span, (field, p)
            if ms > floor:  # values under the axis minimum are drawn on it
                assert abs(latency.value(y) - math.log10(ms)) <= POSITION_TOLERANCE_SHARE * latency.span, (
                    f"{field}: p{p} = {ms} ms is drawn at {10 ** latency.value(y):.3g} ms"
                )
    percentile.check_ticks()
    latency.check_ticks()
