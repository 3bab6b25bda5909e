//! A demand curve from a user's own traffic: a Prometheus range query (`/api/v1/query_range`
//! JSON) of busy worker cores, averaged per slot of the day, becomes a scenario's `demand`.
//! Parsing and arithmetic only; no I/O (callers pass the text).

use std::{collections::BTreeMap, time::Duration};

use serde::Deserialize;

use super::{
    daytime::{DAY, TimeOfDay},
    scenario::DemandPoint,
};

/// The query to export, as `docs/SIMULATOR.md` shows: busy worker cores, the recording rule the
/// shipped Prometheus rules keep.
pub const QUERY: &str = "cluster:worker_cpu_busy_cores:sum";

/// Why an export was refused; the message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// Not the JSON of a Prometheus API answer.
    #[error("not a Prometheus API answer: {0}")]
    Shape(String),
    /// Prometheus answered with an error.
    #[error("Prometheus answered {kind}: {message}")]
    Prometheus {
        /// `errorType`.
        kind: String,
        /// `error`.
        message: String,
    },
    /// A value that cannot be busy cores, or data that cannot make a curve.
    #[error("{0}")]
    Data(String),
}

/// The demand curve and what it was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// One point per slot of the day that had samples, at the slot's start.
    pub points: Vec<DemandPoint>,
    /// Samples used.
    pub samples: usize,
    /// Days between the first and the last sample.
    pub days: f64,
    /// The largest sample, busy cores.
    pub max: f64,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The mean of the samples in each `resolution` slot of the day (UTC), over every day of the
/// export. `resolution` must divide a day and lie between 1 minute and 6 hours.
pub fn demand_from_prometheus(json: &str, resolution: Duration) -> Result<Imported, ImportError> {
    let slot = resolution.as_secs();
    if !(60..=6 * 3600).contains(&slot) || !DAY.is_multiple_of(slot) || resolution.subsec_nanos() != 0 {
        return Err(ImportError::Data(format!(
            "resolution {} must divide a day and lie between 1m and 6h",
            humantime::format_duration(resolution)
        )));
    }
    let answer: Answer = serde_json::from_str(json).map_err(|e| ImportError::Shape(e.to_string()))?;
    if answer.status != "success" {
        return Err(ImportError::Prometheus {
            kind: answer.error_type.unwrap_or_else(|| answer.status.clone()),
            message: answer.error.unwrap_or_default(),
        });
    }
    let data = answer.data.ok_or_else(|| ImportError::Shape("no `data`".into()))?;
    if data.result_type != "matrix" {
        return Err(ImportError::Data(format!(
            "resultType is {:?}, not \"matrix\": export with /api/v1/query_range, not /api/v1/query",
            data.result_type
        )));
    }
    let series = match data.result.as_slice() {
        [one] => one,
        [] => return Err(ImportError::Data("the query returned no series: no data in that range".into())),
        many => {
            return Err(ImportError::Data(format!(
                "the query returned {} series; it must return one (wrap it in sum(...))",
                many.len()
            )));
        }
    };
    let mut slots: BTreeMap<u64, (f64, u32)> = BTreeMap::new();
    let (mut first, mut last, mut max, mut samples) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, 0usize);
    for (i, (at, value)) in series.values.iter().enumerate() {
        let cores: f64 = value
            .parse()
            .map_err(|_| ImportError::Data(format!("data.result[0].values[{i}]: {value:?} is not a number")))?;
        if cores.is_nan() {
            continue; // A gap in the data (a missed scrape): no sample.
        }
        if !cores.is_finite() || cores < 0.0 {
            return Err(ImportError::Data(format!(
                "data.result[0].values[{i}]: {value} is not a number of busy cores"
            )));
        }
        let tod = (at.floor() as i64).rem_euclid(DAY as i64) as u64;
        let e = slots.entry(tod / slot * slot).or_default();
        *e = (e.0 + cores, e.1 + 1);
        (first, last, max, samples) = (first.min(*at), last.max(*at), max.max(cores), samples + 1);
    }
    if samples == 0 {
        return Err(ImportError::Data("the series has no samples".into()));
    }
    let points = slots
        .into_iter()
        .map(|(start, (sum, n))| DemandPoint {
            at: TimeOfDay::new((start / 3600) as u32, (start % 3600 / 60) as u32, (start % 60) as u32)
                .expect("a slot start is a time of day"),
            cores: (sum / f64::from(n) * 1000.0).round() / 1000.0,
        })
        .collect();
    Ok(Imported { points, samples, days: (last - first) / DAY as f64, max })
}

/// A scenario file (YAML) replaying `imported` for a day on `initial_workers` workers, with the
/// shipped defaults for everything else (pod, prices, policy), validated by parsing it back.
pub fn scenario_yaml(
    imported: &Imported,
    name: &str,
    initial_workers: u32,
    source: &str,
) -> Result<String, super::ScenarioError> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        name: &'a str,
        description: String,
        duration: &'a str,
        step: &'a str,
        initial_workers: u32,
        demand: DemandFile<'a>,
    }
    #[derive(serde::Serialize)]
    struct DemandFile<'a> {
        noise: f64,
        points: &'a [DemandPoint],
    }
    let file = File {
        name,
        description: format!(
            "Imported from {source}: the mean of {} samples of busy worker cores per slot of the day (UTC) over {:.1} days; largest sample {:.2} cores.",
            imported.samples, imported.days, imported.max
        ),
        duration: "24h",
        step: "15s",
        initial_workers,
        demand: DemandFile { noise: 0.0, points: &imported.points },
    };
    let body = serde_norway::to_string(&file).expect("a scenario always serialises");
    let text = format!(
        "# Written by `k3s-autoscaler scenario from-prometheus`. Add flash_sales, spot_interruptions,\n\
         # capacity_errors, pod, prices or policy overrides as docs/SIMULATOR.md describes.\n{body}"
    );
    super::Scenario::from_yaml(&text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(values: &[(f64, &str)]) -> String {
        let v: Vec<String> = values.iter().map(|(t, x)| format!("[{t},\"{x}\"]")).collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
            v.join(",")
        )
    }

    const MIDNIGHT: f64 = 1_764_720_000.0; // 2025-12-03T00:00:00Z

    #[test]
    fn samples_are_averaged_per_slot_of_the_day_across_days() {
        let json = matrix(&[
            (MIDNIGHT, "2"),
            (MIDNIGHT + 600.0, "4"),                             // 00:10, same 15m slot as 00:00
            (MIDNIGHT + 3600.0 * 13.0, "7"),                     // 13:00
            (MIDNIGHT + 86_400.0, "3"),                          // next day 00:00
            (MIDNIGHT + 86_400.0 + 3600.0 * 13.0 + 60.0, "NaN"), // a gap
        ]);
        let got = demand_from_prometheus(&json, Duration::from_secs(900)).unwrap();
        let points: Vec<(String, f64)> = got.points.iter().map(|p| (p.at.to_string(), p.cores)).collect();
        assert_eq!(points, [("00:00".to_string(), 3.0), ("13:00".to_string(), 7.0)]);
        assert_eq!((got.samples, got.max), (4, 7.0));
        assert!((got.days - 1.0).abs() < 1e-9, "{}", got.days);
    }

    #[test]
    fn the_written_scenario_parses_back_and_replays_the_curve() {
        let json = matrix(&[(MIDNIGHT, "2.5"), (MIDNIGHT + 3600.0 * 12.0, "7.25")]);
        let imported = demand_from_prometheus(&json, Duration::from_secs(900)).unwrap();
        let text = scenario_yaml(&imported, "shop-week", 5, "export.json").unwrap();
        let s = super::super::Scenario::from_yaml(&text).unwrap();
        assert_eq!((s.name.as_str(), s.initial_workers, s.duration), ("shop-week", 5, Duration::from_secs(86_400)));
        assert_eq!(s.demand.points, imported.points);
        assert!(s.description.starts_with("Imported from export.json: the mean of 2 samples"), "{}", s.description);
        assert!(scenario_yaml(&imported, "", 5, "x").is_err(), "an empty name is refused by the scenario's own checks");
    }

    #[test]
    fn bad_exports_are_refused_with_what_to_change() {
        let res = Duration::from_secs(900);
        let cases = [
            ("{", "not a Prometheus API answer"),
            (
                r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
                "Prometheus answered bad_data: parse error",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
                "not \"matrix\": export with /api/v1/query_range",
            ),
            (r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#, "no series"),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[]},{"values":[]}]}}"#,
                "returned 2 series; it must return one (wrap it in sum(...))",
            ),
            (&matrix(&[(MIDNIGHT, "abc")]), "values[0]: \"abc\" is not a number"),
            (&matrix(&[(MIDNIGHT, "-1")]), "values[0]: -1 is not a number of busy cores"),
            (&matrix(&[(MIDNIGHT, "NaN")]), "no samples"),
        ];
        for (json, want) in cases {
            let err = demand_from_prometheus(json, res).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: got {err:?}, want {want:?}");
        }
        let err = demand_from_prometheus(&matrix(&[(MIDNIGHT, "1")]), Duration::from_secs(7 * 60)).unwrap_err();
        assert!(err.to_string().contains("resolution 7m must divide a day"), "{err}");
    }
}
