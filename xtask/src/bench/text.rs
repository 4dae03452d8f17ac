//! How figures are written in the report and the console: seconds, lists of runs, verdicts.

pub(super) fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

pub(super) fn secs(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

pub(super) fn list(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{:.2}", x / 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}
