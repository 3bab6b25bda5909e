//! The demand of a run: the scenario's daily curve (linear between points, wrapping past
//! midnight), times a slowly varying seeded noise, times any flash sale in progress. Computed
//! once per run so every strategy sees exactly the same load. Pure.

use super::{
    daytime::{DAY, occurrences},
    rng::Rng,
    scenario::{DemandPoint, Scenario},
};

/// Correlation time of the noise: load wanders over minutes, not from one scrape to the next.
const NOISE_CORRELATION_SECONDS: f64 = 600.0;

/// Busy application millicores at `t` seconds after midnight, from the curve alone.
pub fn curve_millis(points: &[DemandPoint], time_of_day: u64) -> f64 {
    let mut sorted: Vec<DemandPoint> = points.to_vec();
    sorted.sort_by_key(|p| p.at);
    curve_sorted(&sorted, time_of_day)
}

fn curve_sorted(sorted: &[DemandPoint], time_of_day: u64) -> f64 {
    let x = (time_of_day % DAY) as f64;
    let n = sorted.len();
    if n == 1 {
        return sorted[0].cores * 1000.0;
    }
    // The segment [a, b] that contains x, the last segment wrapping into the next day.
    let after = sorted.iter().position(|p| p.at.seconds() as f64 > x).unwrap_or(n);
    let (a, b) = if after == 0 || after == n { (sorted[n - 1], sorted[0]) } else { (sorted[after - 1], sorted[after]) };
    let (xa, mut xb, mut xx) = (a.at.seconds() as f64, b.at.seconds() as f64, x);
    if xb <= xa {
        xb += DAY as f64;
        if xx < xa {
            xx += DAY as f64;
        }
    }
    let f = if xb > xa { (xx - xa) / (xb - xa) } else { 0.0 };
    (a.cores + (b.cores - a.cores) * f) * 1000.0
}

/// Demand in millicores at every step of the run (`steps + 1` values, the first at the start).
pub fn series(s: &Scenario) -> Vec<f64> {
    let step = s.step.as_secs().max(1);
    let duration = s.duration.as_secs();
    let steps = (duration / step) as usize;
    let mut sorted = s.demand.points.clone();
    sorted.sort_by_key(|p| p.at);
    let sales: Vec<(u64, u64, f64)> = s
        .flash_sales
        .iter()
        .flat_map(|f| {
            occurrences(f.at, f.day, s.start, duration)
                .into_iter()
                .map(move |o| (o, o + f.duration.as_secs(), f.multiplier))
        })
        .collect();
    let mut rng = Rng::new(s.seed, 1);
    let sigma = s.demand.noise / 100.0;
    let rho = (-(step as f64) / NOISE_CORRELATION_SECONDS).exp();
    let kick = (1.0 - rho * rho).sqrt() * sigma;
    let mut noise = if sigma > 0.0 { rng.normal() * sigma } else { 0.0 };
    (0..=steps)
        .map(|k| {
            let t = k as u64 * step;
            let base = curve_sorted(&sorted, s.start.seconds() + t);
            let sale: f64 = sales.iter().filter(|(a, b, _)| (*a..*b).contains(&t)).map(|(_, _, m)| m).product();
            let value = base * (1.0 + noise).max(0.0) * sale;
            if sigma > 0.0 {
                noise = rho * noise + kick * rng.normal();
            }
            value
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::daytime::TimeOfDay;

    fn p(at: &str, cores: f64) -> DemandPoint {
        DemandPoint { at: at.parse::<TimeOfDay>().unwrap(), cores }
    }

    #[test]
    fn the_curve_is_linear_between_points_and_wraps_past_midnight() {
        let pts = [p("06:00", 2.0), p("12:00", 8.0), p("18:00", 8.0)];
        let h = |x: f64| (x * 3600.0) as u64;
        assert_eq!(curve_millis(&pts, h(6.0)), 2000.0);
        assert_eq!(curve_millis(&pts, h(9.0)), 5000.0);
        assert_eq!(curve_millis(&pts, h(15.0)), 8000.0);
        // 18:00 → 06:00 next day: 8 → 2 over 12 h; midnight is halfway.
        assert_eq!(curve_millis(&pts, h(0.0)), 5000.0);
        assert_eq!(curve_millis(&pts, h(21.0)), 6500.0);
        assert_eq!(curve_millis(&pts, h(3.0)), 3500.0);
        assert_eq!(curve_millis(&[p("10:00", 3.0)], h(22.0)), 3000.0);
    }

    #[test]
    fn flash_sales_multiply_and_noise_is_seeded() {
        let mut s = Scenario::shipped("business-day").unwrap();
        s.demand.noise = 0.0;
        s.flash_sales = vec![crate::sim::scenario::FlashSale {
            at: "14:00".parse().unwrap(),
            duration: std::time::Duration::from_secs(1800),
            multiplier: 2.0,
            day: None,
        }];
        let d = series(&s);
        let at = |hh: u64, mm: u64| ((hh * 3600 + mm * 60) as usize - s.start.seconds() as usize) / 15;
        let plain = curve_millis(&s.demand.points, 14 * 3600 + 10 * 60);
        assert!((d[at(14, 10)] - 2.0 * plain).abs() < 1e-6);
        assert!((d[at(14, 30)] - curve_millis(&s.demand.points, 14 * 3600 + 30 * 60)).abs() < 1e-6);
        s.demand.noise = 5.0;
        assert_eq!(series(&s), series(&s));
        let mut other = s.clone();
        other.seed += 1;
        assert_ne!(series(&s), series(&other));
    }
}
