"""The shared Prometheus text exposition."""

from vitalstream.prom import Exposition, Summary, labels, number


def test_counters_are_exact_and_labels_escaped():
    out = Exposition("x_")
    out.value("big_total", "counter", "A big counter.", 12_345_678)
    out.by_label("by_reason_total", "counter", "By reason.", "reason", {'bad "json"': 3})
    text = out.text()
    assert "x_big_total 12345678\n" in text  # not 1.23457e+07
    assert 'x_by_reason_total{reason="bad \\"json\\""} 3' in text
    assert "# TYPE x_big_total counter" in text
    assert number(0.25) == "0.25" and labels() == ""


def test_summary_quantiles_over_the_recent_window():
    s = Summary(window=100)
    for v in range(1000):
        s.observe(v)
    assert s.count == 1000 and s.total == sum(range(1000))
    assert 945 <= s.quantile(0.5) <= 955  # only the last 100 observations count
    out = Exposition("x_")
    out.summary("lat_seconds", "Latency.", s)
    assert 'x_lat_seconds{quantile="0.99"}' in out.text() and "x_lat_seconds_count 1000" in out.text()
