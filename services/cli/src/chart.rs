//! The `simulate --svg` chart: demand and Ready capacity (cores), and Ready workers, over the
//! run, one line per strategy, with a legend and labelled axes.

use std::path::Path;

use anyhow::Context;
use autoscaler_core::sim::{Point, Report, Strategy};
use plotters::prelude::*;

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 900;
const FONT: &str = "sans-serif";

/// The colour of each strategy (colour-blind-safe pairs: blue, grey, orange).
fn colour(s: Strategy) -> RGBColor {
    match s {
        Strategy::Autoscaler => RGBColor(0, 114, 178),
        Strategy::Fixed => RGBColor(120, 120, 120),
        Strategy::Polling => RGBColor(230, 159, 0),
    }
}

/// `HH:MM` of the simulated clock, with the day when the run spans several.
fn clock_label(start_seconds: u64, hours: f64, multi_day: bool) -> String {
    let t = start_seconds + (hours * 3600.0).round() as u64;
    let (day, h, m) = (t / 86_400 + 1, t / 3600 % 24, t / 60 % 60);
    if multi_day { format!("day {day} {h:02}:{m:02}") } else { format!("{h:02}:{m:02}") }
}

/// Writes the chart of `report` to `path`.
pub fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    draw(report, path).map_err(|e| anyhow::anyhow!("{e}")).with_context(|| format!("writing {}", path.display()))
}

fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let s = &report.scenario;
    let hours = s.duration.as_secs_f64() / 3600.0;
    let multi_day = hours > 24.0;
    let start = s.start.seconds();
    let series: Vec<(Strategy, &[Point])> =
        Strategy::ALL.iter().map(|&st| (st, report.results.get(st).series.as_slice())).collect();
    let demand = series[0].1;
    let max_cores = series
        .iter()
        .flat_map(|(_, ps)| ps.iter().map(|p| p.capacity_cores.max(p.demand_cores)))
        .fold(1.0f64, f64::max)
        * 1.1;
    let max_workers = series.iter().flat_map(|(_, ps)| ps.iter().map(|p| p.workers)).max().unwrap_or(1) + 1;

    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("k3s-autoscaler simulation: {} ({} h)", s.name, hours.round());
    let root = root.titled(&title, (FONT, 28))?;
    let (top, bottom) = root.split_vertically((HEIGHT as f64 * 0.55) as u32);
    let x_label = if multi_day { "simulated time (day, HH:MM UTC)" } else { "time of day (HH:MM, simulated UTC)" };
    let fmt_x = |h: &f64| clock_label(start, *h, multi_day);

    let mut cores = ChartBuilder::on(&top)
        .caption("CPU cores: application demand and the Ready workers' capacity", (FONT, 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..hours, 0f64..max_cores)?;
    cores
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("cores")
        .x_labels(13)
        .x_label_formatter(&fmt_x)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()?;
    cores
        .draw_series(LineSeries::new(demand.iter().map(|p| (p.hours, p.demand_cores)), BLACK.stroke_width(2)))?
        .label("demand")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2)));
    for (st, ps) in &series {
        let points: Vec<(f64, f64)> = ps.iter().map(|p| (p.hours, p.capacity_cores)).collect();
        line(&mut cores, points, *st, &format!("capacity: {}", st.as_str()))?;
    }
    legend(&mut cores)?;

    let mut workers = ChartBuilder::on(&bottom)
        .caption("Ready workers", (FONT, 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..hours, 0f64..f64::from(max_workers))?;
    workers
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("workers")
        .x_labels(13)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()?;
    for (st, ps) in &series {
        // A step line: the count holds until it changes.
        let points: Vec<(f64, f64)> = ps
            .windows(2)
            .flat_map(|w| [(w[0].hours, f64::from(w[0].workers)), (w[1].hours, f64::from(w[0].workers))])
            .collect();
        line(&mut workers, points, *st, st.as_str())?;
    }
    legend(&mut workers)?;
    root.present()?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One strategy's line: solid for the autoscaler and the fixed fleet, dashed for polling so that
/// it stays visible where it runs on top of another.
fn line(
    chart: &mut Chart<'_, '_>,
    points: Vec<(f64, f64)>,
    st: Strategy,
    label: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let c = colour(st);
    let width = if st == Strategy::Autoscaler { 3 } else { 2 };
    let style = c.stroke_width(width);
    let drawn = if st == Strategy::Polling {
        chart.draw_series(DashedLineSeries::new(points, 9, 6, style))?
    } else {
        chart.draw_series(LineSeries::new(points, style))?
    };
    drawn.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(width)));
    Ok(())
}

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use autoscaler_core::sim::{self, Scenario};

    use super::*;

    #[test]
    fn the_chart_has_both_panels_a_legend_and_axis_labels() {
        let mut s = Scenario::shipped("business-day").expect("shipped");
        s.duration = std::time::Duration::from_secs(6 * 3600);
        let report = sim::simulate(&s, &|_, _| {});
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("day.svg");
        write(&report, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for text in [
            "k3s-autoscaler simulation: business-day (6 h)",
            "CPU cores: application demand and the Ready workers&apos; capacity",
            "Ready workers",
            "demand",
            "capacity: autoscaler",
            "capacity: fixed",
            "capacity: polling",
            "time of day (HH:MM, simulated UTC)",
            "cores",
            "workers",
            "03:00",
        ] {
            assert!(svg.contains(text), "missing {text:?}");
        }
        assert!(svg.matches("<polyline").count() >= 7, "one line per series");
    }

    #[test]
    fn multi_day_runs_label_the_day() {
        assert_eq!(clock_label(0, 30.5, true), "day 2 06:30");
        assert_eq!(clock_label(6 * 3600, 1.0, false), "07:00");
    }
}
