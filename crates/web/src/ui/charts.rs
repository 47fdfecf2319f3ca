//! Charts as SVG written by the server: readable without JavaScript, printed
//! as drawn, each with a title, axis labels and a text alternative. Written
//! by hand: two chart shapes do not justify a plotting crate and its fonts.

use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" upper bound and tick step for values up to `max`.
fn scale(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let raw = max as f64 / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw).ceil();
    let step = (step as i64).max(1);
    (step * ((max + step - 1) / step), step)
}

/// One series of a bar chart.
pub struct Series<'a> {
    pub name: &'a str,
    /// A CSS class giving its colour (`s1`, `s2`, `s3`).
    pub class: &'a str,
    pub values: &'a [i64],
}

/// Grouped vertical bars per label, with an optional line series drawn over them.
pub fn bars(
    id: &str,
    title: &str,
    desc: &str,
    y_label: &str,
    labels: &[String],
    series: &[Series<'_>],
    line: Option<Series<'_>>,
) -> String {
    let (w, h, left, bottom, top, right) = (760.0, 300.0, 56.0, 56.0, 28.0, 16.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max = series.iter().chain(line.iter()).flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
    let (upper, step) = scale(max);
    let y = |v: i64| top + plot_h - plot_h * v as f64 / upper as f64;
    let n = labels.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.8 / series.len().max(1) as f64).min(28.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        esc(title),
        esc(desc)
    );
    let mut tick = 0;
    while tick <= upper {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{tick}</text>"#,
            w - right,
            left - 6.0,
            y(tick) + 4.0,
            y = y(tick)
        );
        tick += step;
    }
    let every = labels.len().div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        let x0 = left + slot * i as f64 + (slot - bar * series.len() as f64) / 2.0;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0);
            let _ = write!(
                svg,
                r#"<rect class="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{} {}: {v}</title></rect>"#,
                s.class,
                x0 + bar * k as f64,
                y(v),
                bar.max(1.0),
                (top + plot_h - y(v)).max(0.0),
                esc(label),
                esc(s.name)
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                left + slot * (i as f64 + 0.5),
                top + plot_h + 16.0,
                esc(label)
            );
        }
    }
    if let Some(l) = &line {
        let points: Vec<String> = l
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", left + slot * (i as f64 + 0.5), y(*v)))
            .collect();
        let _ = write!(svg, r#"<polyline class="line {}" points="{}"/>"#, l.class, points.join(" "));
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{left}" x2="{}" y1="{base}" y2="{base}"/><text class="axis-label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        w - right,
        top + plot_h / 2.0,
        esc(y_label),
        base = top + plot_h
    );
    let mut x = left;
    for s in series.iter().chain(line.iter()) {
        let _ = write!(
            svg,
            r#"<rect class="{}" x="{x}" y="{}" width="12" height="12"/><text class="legend" x="{}" y="{}">{}</text>"#,
            s.class,
            h - 22.0,
            x + 16.0,
            h - 12.0,
            esc(s.name)
        );
        x += 24.0 + 8.0 * s.name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per labelled value.
pub fn hbars(id: &str, title: &str, desc: &str, items: &[(String, i64)]) -> String {
    let (w, row, left, right) = (760.0, 24.0, 260.0, 60.0);
    let h = 20.0 + row * items.len().max(1) as f64;
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        esc(title),
        esc(desc)
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let width = (w - left - right) * *v as f64 / max as f64;
        let short: String = label.chars().take(40).collect();
        let _ = write!(
            svg,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="s1" x="{left}" y="{y:.1}" width="{width:.1}" height="{:.1}"/><text class="tick" x="{:.1}" y="{:.1}">{v}</text>"#,
            left - 8.0,
            y + row * 0.6,
            esc(&short),
            row * 0.7,
            left + width + 6.0,
            y + row * 0.6
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(7), (8, 2));
        assert_eq!(scale(359), (400, 100));
    }

    #[test]
    fn a_chart_has_a_title_a_text_alternative_and_escaped_labels() {
        let svg = bars(
            "v",
            "Reçues <et> résolues",
            "12 reçues",
            "Demandes",
            &["2026-03".into()],
            &[Series { name: "Reçues", class: "s1", values: &[12] }],
            Some(Series { name: "En cours", class: "s3", values: &[4] }),
        );
        assert!(svg.contains(r#"role="img""#) && svg.contains("<desc id=\"v-d\">12 reçues</desc>"));
        assert!(svg.contains("Reçues &lt;et&gt; résolues"));
        assert!(svg.contains("<polyline"));
        let h = hbars("b", "Par canal", "portail 3", &[("portail".into(), 3)]);
        assert!(h.contains(">portail<") && h.contains(">3<"));
    }
}
