//! A hand-written SVG horizontal bar chart for the benchmark report: stacked panels, each with
//! its own scale and an optional target line. No plotting dependency.

use std::fmt::Write as _;

/// One bar: a label, a value, and a palette index (0 reference, 1 this provider, 2 other).
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub color: usize,
}

impl Bar {
    pub fn new(label: &str, value: f64, color: usize) -> Self {
        Bar {
            label: label.to_owned(),
            value,
            color,
        }
    }
}

/// A titled group of bars sharing one scale.
pub struct Panel {
    pub title: String,
    pub unit: &'static str,
    pub bars: Vec<Bar>,
    /// A vertical dashed line at this value, with its label.
    pub target: Option<(f64, String)>,
}

const WIDTH: f64 = 900.0;
const LABEL_RIGHT: f64 = 270.0;
const BAR_LEFT: f64 = 280.0;
const BAR_MAX: f64 = 520.0;
const ROW: f64 = 24.0;
const BAR_HEIGHT: f64 = 16.0;
const TITLE: f64 = 50.0;
const PANEL_GAP: f64 = 18.0;
const PALETTE: [&str; 3] = ["#9aa0a6", "#dc382d", "#4a6fa5"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Shows a value with as many decimals as its size deserves.
fn format_value(v: f64, unit: &str) -> String {
    let digits = if v >= 100.0 || v.fract() == 0.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let sep = if unit.is_empty() { "" } else { " " };
    format!("{v:.digits$}{sep}{unit}")
}

/// Renders the panels top to bottom under a heading.
pub fn render(heading: &str, panels: &[Panel]) -> String {
    let mut body = String::new();
    let mut y = 40.0;
    for panel in panels {
        let max = panel
            .bars
            .iter()
            .map(|b| b.value)
            .chain(panel.target.as_ref().map(|t| t.0))
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let scale = if max > 0.0 {
            BAR_MAX / (max * 1.1)
        } else {
            0.0
        };
        let _ = writeln!(
            body,
            r#"  <text x="20" y="{:.1}" class="title">{}</text>"#,
            y + 16.0,
            escape(&panel.title)
        );
        let top = y + TITLE - 14.0;
        for (i, bar) in panel.bars.iter().enumerate() {
            let row_y = y + TITLE + i as f64 * ROW - 14.0;
            let value = if bar.value.is_finite() {
                bar.value
            } else {
                0.0
            };
            let len = (value * scale).max(1.0);
            let _ = writeln!(
                body,
                r#"  <text x="{LABEL_RIGHT}" y="{:.1}" class="label">{}</text>"#,
                row_y + 12.5,
                escape(&bar.label)
            );
            let _ = writeln!(
                body,
                r#"  <rect x="{BAR_LEFT}" y="{row_y:.1}" width="{len:.1}" height="{BAR_HEIGHT}" fill="{}"/>"#,
                PALETTE[bar.color % PALETTE.len()]
            );
            let _ = writeln!(
                body,
                r#"  <text x="{:.1}" y="{:.1}" class="value">{}</text>"#,
                BAR_LEFT + len + 6.0,
                row_y + 12.5,
                escape(&format_value(value, panel.unit))
            );
        }
        let bottom = y + TITLE + panel.bars.len() as f64 * ROW - 14.0;
        if let Some((target, label)) = &panel.target {
            let x = BAR_LEFT + target * scale;
            let _ = writeln!(
                body,
                r#"  <line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" class="target"/>"#,
                top - 4.0
            );
            let _ = writeln!(
                body,
                r#"  <text x="{x:.1}" y="{:.1}" class="target-label">{}</text>"#,
                top - 7.0,
                escape(label)
            );
        }
        y = bottom + PANEL_GAP;
    }
    let height = y + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="Helvetica, Arial, sans-serif">"#
    );
    svg.push_str(
        "  <style>\n    .heading { font-size: 15px; font-weight: bold; fill: #202124; }\n    .title { font-size: 13px; font-weight: bold; fill: #202124; }\n    .label { font-size: 12px; fill: #3c4043; text-anchor: end; }\n    .value { font-size: 12px; fill: #202124; }\n    .target { stroke: #202124; stroke-width: 1.5; stroke-dasharray: 4 3; }\n    .target-label { font-size: 11px; fill: #202124; text-anchor: middle; }\n  </style>\n",
    );
    let _ = writeln!(
        svg,
        r#"  <rect width="100%" height="100%" fill="white"/>
  <text x="20" y="24" class="heading">{}</text>"#,
        escape(heading)
    );
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_or_target() {
        let svg = render(
            "h & <t>",
            &[Panel {
                title: "p".to_owned(),
                unit: "s",
                bars: vec![Bar::new("a", 1.0, 0), Bar::new("b", 2.0, 1)],
                target: Some((4.0, "target".to_owned())),
            }],
        );
        assert!(svg.contains("h &amp; &lt;t&gt;"));
        // The target (4.0) sets the scale: 520 / 4.4 per unit.
        let unit = BAR_MAX / 4.4;
        assert!(svg.contains(&format!(r#"width="{:.1}""#, 2.0 * unit)));
        assert!(svg.contains(&format!(r#"x1="{:.1}""#, BAR_LEFT + 4.0 * unit)));
        assert!(svg.contains(">2 s<"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn values_get_sensible_precision() {
        assert_eq!(format_value(3.0, ""), "3");
        assert_eq!(format_value(2.345, "ms"), "2.35 ms");
        assert_eq!(format_value(12.34, "MiB"), "12.3 MiB");
        assert_eq!(format_value(150.2, "s"), "150 s");
    }
}
