//! Prometheus' text exposition format (0.0.4), written as Moleculer's Prometheus reporter
//! writes it: names with `.` and `-` turned into `_`, `namespace` and `nodeID` labels on every
//! series, info metrics as gauges of 1 with a `value` label, `os.datetime.*` left out.
//!
//! Where Moleculer's output is not valid for a Prometheus parser this one differs: a rate is
//! its own gauge family (`<name>_rate`) instead of lines inside the counter's, histograms
//! always end with `_sum` and `_count`, and label names and values are escaped fully.

use super::store::{Metric, MetricType, Number, Series, SeriesValue};
use super::LabelValue;
use std::fmt::Write;
use std::sync::Arc;

/// The text for these metrics, with `defaults` labels first on every series.
pub(crate) fn render(metrics: &[Arc<Metric>], defaults: &[(String, LabelValue)]) -> String {
    let mut out = String::with_capacity(metrics.len() * 256);
    for metric in metrics {
        if metric.name().starts_with("os.datetime") {
            continue;
        }
        let series = metric.all_series();
        if series.is_empty() {
            continue;
        }
        let name = metric_name(metric.name());
        let help = match (metric.description(), metric.unit()) {
            (Some(d), _) => d.to_owned(),
            (None, Some(u)) => format!("{} ({u})", metric.name()),
            (None, None) => metric.name().to_owned(),
        };
        let kind = match metric.kind() {
            MetricType::Info => "gauge",
            other => other.as_str(),
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in &series {
            write_series(&mut out, &name, metric, s, defaults);
        }
        if !metric.quantiles().is_empty() {
            write_quantiles(&mut out, &name, &help, metric, &series, defaults);
        }
        if metric.has_rate() {
            let _ = writeln!(
                out,
                "# HELP {name}_rate {} (per minute)",
                escape_help(&help)
            );
            let _ = writeln!(out, "# TYPE {name}_rate gauge");
            for s in &series {
                let labels = label_text(metric, s, defaults, None);
                let _ = writeln!(
                    out,
                    "{name}_rate{labels} {}",
                    Number(s.rate().unwrap_or(0.0))
                );
            }
        }
        out.push('\n');
    }
    out
}

fn write_series(
    out: &mut String,
    name: &str,
    metric: &Metric,
    s: &Series,
    defaults: &[(String, LabelValue)],
) {
    match s.read() {
        SeriesValue::Number(v) => {
            let labels = label_text(metric, s, defaults, None);
            let _ = writeln!(out, "{name}{labels} {}", Number(v));
        }
        SeriesValue::Info(v) => {
            let text = match &v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let labels = label_text(metric, s, defaults, Some(("value", &text)));
            let _ = writeln!(out, "{name}{labels} 1");
        }
        SeriesValue::Histogram {
            count,
            sum,
            buckets,
            ..
        } => {
            for (bound, c) in metric.buckets().iter().zip(&buckets) {
                let le = Number(*bound).to_string();
                let labels = label_text(metric, s, defaults, Some(("le", &le)));
                let _ = writeln!(out, "{name}_bucket{labels} {c}");
            }
            let labels = label_text(metric, s, defaults, Some(("le", "+Inf")));
            let _ = writeln!(out, "{name}_bucket{labels} {count}");
            let labels = label_text(metric, s, defaults, None);
            let _ = writeln!(out, "{name}_sum{labels} {}", Number(sum));
            let _ = writeln!(out, "{name}_count{labels} {count}");
        }
    }
}

/// A histogram's quantiles as a summary family of their own, `<name>_quantiles` (Moleculer
/// writes `quantile` lines into the histogram's family, which Prometheus' parser refuses);
/// its `_sum` and `_count` are the histogram's. An empty window's quantiles are `NaN`.
fn write_quantiles(
    out: &mut String,
    name: &str,
    help: &str,
    metric: &Metric,
    series: &[Arc<Series>],
    defaults: &[(String, LabelValue)],
) {
    let _ = writeln!(
        out,
        "# HELP {name}_quantiles {} (quantiles over a sliding window)",
        escape_help(help)
    );
    let _ = writeln!(out, "# TYPE {name}_quantiles summary");
    for s in series {
        let (Some(summary), SeriesValue::Histogram { count, sum, .. }) = (s.quantiles(), s.read())
        else {
            continue;
        };
        for (q, v) in &summary.quantiles {
            let q = Number(*q).to_string();
            let labels = label_text(metric, s, defaults, Some(("quantile", &q)));
            match v {
                Some(v) => {
                    let _ = writeln!(out, "{name}_quantiles{labels} {}", Number(*v));
                }
                None => {
                    let _ = writeln!(out, "{name}_quantiles{labels} NaN");
                }
            }
        }
        let labels = label_text(metric, s, defaults, None);
        let _ = writeln!(out, "{name}_quantiles_sum{labels} {}", Number(sum));
        let _ = writeln!(out, "{name}_quantiles_count{labels} {count}");
    }
}

/// `moleculer.request.total` → `moleculer_request_total`; anything else Prometheus does not
/// allow becomes `_` too.
pub(crate) fn metric_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_value(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn label_text(
    metric: &Metric,
    s: &Series,
    defaults: &[(String, LabelValue)],
    extra: Option<(&str, &str)>,
) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut put = |k: String, v: String| {
        // Later labels win over earlier ones of the same name, as Object.assign does.
        if let Some(slot) = pairs.iter_mut().find(|(n, _)| *n == k) {
            slot.1 = v;
        } else {
            pairs.push((k, v));
        }
    };
    for (k, v) in defaults {
        put(label_name(k), v.to_string());
    }
    for (k, v) in metric.label_names().iter().zip(s.labels()) {
        if *v != LabelValue::Undefined {
            put(label_name(k), v.to_string());
        }
    }
    if let Some((k, v)) = extra {
        put(k.to_owned(), v.to_owned());
    }
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_value(v, &mut out);
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_info() {
        let c = Arc::new(Metric::new(
            "moleculer.request.total".into(),
            MetricType::Counter,
            Some("Number of requests".into()),
            None,
            vec!["action".into()],
            vec![],
            false,
        ));
        c.series(&["a\"b".into()]).add(2.0);
        let h = Arc::new(Metric::new(
            "t.time".into(),
            MetricType::Histogram,
            None,
            Some("millisecond".into()),
            vec![],
            vec![1.0, 2.5],
            false,
        ));
        h.series(&[]).observe_at(2.0, 0);
        let i = Arc::new(Metric::new(
            "os.type".into(),
            MetricType::Info,
            None,
            None,
            vec![],
            vec![],
            false,
        ));
        i.series(&[]).set_info("Linux".into());
        let text = render(&[c, h, i], &[("nodeID".into(), "n1".into())]);
        let expected = "# HELP moleculer_request_total Number of requests\n\
# TYPE moleculer_request_total counter\n\
moleculer_request_total{nodeID=\"n1\",action=\"a\\\"b\"} 2\n\
\n\
# HELP t_time t.time (millisecond)\n\
# TYPE t_time histogram\n\
t_time_bucket{nodeID=\"n1\",le=\"1\"} 0\n\
t_time_bucket{nodeID=\"n1\",le=\"2.5\"} 1\n\
t_time_bucket{nodeID=\"n1\",le=\"+Inf\"} 1\n\
t_time_sum{nodeID=\"n1\"} 2\n\
t_time_count{nodeID=\"n1\"} 1\n\
\n\
# HELP os_type os.type\n\
# TYPE os_type gauge\n\
os_type{nodeID=\"n1\",value=\"Linux\"} 1\n\n";
        assert_eq!(text, expected);
    }
}
