//! The scaling policy: a pure function of (snapshot, policy, now) that returns a decision with
//! its reasons. No I/O, no clock, no async — the engine executes what this returns.
//!
//! Order of the rules, and why:
//! 1. An operation in flight blocks every new decision: one change at a time per cluster, so
//!    each decision sees the effect of the last.
//! 2. Bounds come before signals: below `min_workers` we add workers whatever the CPU says
//!    (availability), above `max_workers` we remove one (cost ceiling).
//! 3. Scale-up signals (CPU above the threshold for its window, or a pod Pending for its
//!    window) come before scale-down: under-capacity hurts users, over-capacity costs money.
//! 4. Scale-down needs low CPU for its window, or a surplus worker for the longer consolidation
//!    window (or a scale-down already under way toward its target), nothing Pending, and the
//!    cooldowns; then exactly one removable node.

mod drain;
mod removal;
mod sizing;
mod view;

use std::time::Duration;

pub use drain::{DrainPlan, Skip, plan as plan_drain, skip_reason};
pub use removal::Candidate;
pub use sizing::cpu_target;

use crate::{
    Decision, Policy, Snapshot,
    decision::Action,
    time::{Timestamp, elapsed, human},
};
use view::View;

/// Decides what to do now.
pub fn decide(snap: &Snapshot, policy: &Policy, now: Timestamp) -> Decision {
    let view = View::new(snap, policy);
    let current = view.workers.len() as u32;
    let state = &snap.state;

    if let Some(op) = state.active_operation() {
        return Decision::none(
            current,
            vec![format!(
                "operation {} ({:?}, {:?}) in flight since {}: one change at a time",
                op.id, op.kind, op.phase, op.started_at
            )],
        );
    }
    if current < policy.min_workers {
        return scale_up(
            &view,
            policy,
            now,
            policy.min_workers,
            vec![format!("{current} workers is below min_workers ({})", policy.min_workers)],
        );
    }
    if current > policy.max_workers {
        let reason = format!("{current} workers is above max_workers ({})", policy.max_workers);
        if !view.pending.is_empty() {
            let blocked = format!("scale-down blocked: {} pods Pending", view.pending.len());
            return Decision::none(current, vec![reason, blocked]);
        }
        return scale_down(&view, policy, policy.max_workers, vec![reason]);
    }

    let up = up_signals(&view, policy, now);
    if !up.is_empty() {
        let (target, notes) = up_target(&view, policy, current);
        let mut reasons = up;
        reasons.extend(notes);
        return scale_up(&view, policy, now, target, reasons);
    }
    down_decision(&view, policy, now)
}

/// Reasons to scale up now, empty when there are none.
fn up_signals(view: &View<'_>, policy: &Policy, now: Timestamp) -> Vec<String> {
    let mut reasons = Vec::new();
    // A reading taken before the last scale-up settled describes the smaller fleet: acting on it
    // again would add workers for load that the new ones already carry.
    let settled = |at: Timestamp| {
        view.snap.state.last_scale_up_at.is_none_or(|up| at >= crate::time::after(up, policy.scale_up.cooldown))
    };
    let reading_settled = view.snap.state.cpu.observed_at.is_some_and(settled);
    if let Some(pct) = fresh_cpu(view, policy, now).filter(|_| reading_settled) {
        let window = policy.scale_up.cpu_for;
        if pct > policy.scale_up.cpu_percent
            && let Some(since) = view.snap.state.cpu.high_since
            && elapsed(now, since) >= window
        {
            reasons.push(format!(
                "average worker CPU {pct:.1}% > {}% for {} (window {})",
                policy.scale_up.cpu_percent,
                human(elapsed(now, since)),
                human(window)
            ));
        }
    }
    let window = policy.scale_up.pending_for;
    let old: Vec<Duration> =
        view.pending.iter().filter_map(|p| p.pending_since.map(|s| elapsed(now, s))).filter(|d| *d >= window).collect();
    if let Some(oldest) = old.iter().max() {
        reasons.push(format!("{} pods Pending for at least {} (oldest {})", old.len(), human(window), human(*oldest)));
    }
    reasons
}

/// The CPU percent if the last reading is recent enough to act on.
fn fresh_cpu(view: &View<'_>, policy: &Policy, now: Timestamp) -> Option<f64> {
    let cpu = &view.snap.state.cpu;
    let at = cpu.observed_at?;
    (elapsed(now, at) <= policy.signals.stale_after).then_some(cpu.percent?)
}

/// Workers needed by the Pending pods and by the CPU demand, whichever is more, and notes on
/// Pending pods that no worker could hold.
fn up_target(view: &View<'_>, policy: &Policy, current: u32) -> (u32, Vec<String>) {
    let fit = sizing::pending_fit(view);
    let notes = fit
        .too_large
        .iter()
        .map(|p| format!("pod {p} requests more than one worker can hold: no scale-up helps it"))
        .collect();
    let by_pods = current + fit.new_workers;
    let by_cpu =
        sizing::demand_millis(view).map(|d| sizing::cpu_target(d, view.worker_size.cpu_millis, policy)).unwrap_or(0);
    (by_pods.max(by_cpu), notes)
}

fn scale_up(view: &View<'_>, policy: &Policy, now: Timestamp, target: u32, mut reasons: Vec<String>) -> Decision {
    let current = view.workers.len() as u32;
    let state = &view.snap.state;
    if current >= policy.max_workers {
        reasons.push(format!("scale-up blocked: already at max_workers ({})", policy.max_workers));
        return Decision::none(current, reasons);
    }
    if let Some(until) = state.backoff_until.filter(|u| now < *u) {
        reasons.push(format!("scale-up blocked: backing off after a failed launch until {until}"));
        return Decision::none(current, reasons);
    }
    if current >= policy.min_workers
        && let Some(last) = state.last_scale_up_at
        && elapsed(now, last) < policy.scale_up.cooldown
    {
        reasons.push(format!(
            "scale-up blocked: cooldown, last scale-up {} ago (cooldown {})",
            human(elapsed(now, last)),
            human(policy.scale_up.cooldown)
        ));
        return Decision::none(current, reasons);
    }
    let burst = state.cpu.percent.is_some_and(|p| p > policy.scale_up.burst_cpu_percent);
    let max_step = if burst { policy.scale_up.max_step * 2 } else { policy.scale_up.max_step };
    let wanted = target.saturating_sub(current).max(1);
    let step = wanted.min(max_step).min(policy.max_workers - current);
    reasons.push(format!(
        "sized for {target} workers (target utilisation {}%); adding {step}{}{}",
        policy.target_utilization_percent,
        if step < wanted { format!(" of {wanted} (max step {max_step})") } else { String::new() },
        if burst { format!(", burst step above {}% CPU", policy.scale_up.burst_cpu_percent) } else { String::new() },
    ));
    Decision {
        action: Action::ScaleUp,
        count: step,
        nodes: vec![],
        current,
        target: (current + step).max(target.min(policy.max_workers)),
        reasons,
    }
}

fn down_decision(view: &View<'_>, policy: &Policy, now: Timestamp) -> Decision {
    let current = view.workers.len() as u32;
    let state = &view.snap.state;
    let none = |why: String| Decision::none(current, vec![why]);
    if !view.pending.is_empty() {
        return none(format!("scale-down blocked: {} pods Pending", view.pending.len()));
    }
    let Some(pct) = fresh_cpu(view, policy, now) else {
        return none("no recent CPU reading: nothing to act on".into());
    };
    let window = policy.scale_down.cpu_for;
    let low_for = state.cpu.low_since.map(|s| elapsed(now, s)).filter(|_| pct < policy.scale_down.cpu_percent);
    let consolidation = &policy.scale_down.consolidation;
    let surplus_for = state.cpu.surplus_since.filter(|_| consolidation.enabled).map(|s| elapsed(now, s));
    let continuing = state.scale_down_target.is_some();
    let mut reasons = match (low_for, surplus_for) {
        (Some(d), _) if d >= window => vec![format!(
            "average worker CPU {pct:.1}% < {}% for {} with nothing Pending",
            policy.scale_down.cpu_percent,
            human(d)
        )],
        (_, Some(d)) if d >= consolidation.after => vec![format!(
            "consolidating: one worker fewer would have run at or below {}% for {} with nothing Pending (CPU {pct:.1}%)",
            policy.target_utilization_percent,
            human(d)
        )],
        _ if continuing => vec![format!("continuing scale-down; CPU {pct:.1}%")],
        (Some(d), _) => {
            return none(format!(
                "CPU {pct:.1}% below {}% for {} of {}: waiting",
                policy.scale_down.cpu_percent,
                human(d),
                human(window)
            ));
        }
        (None, Some(d)) => {
            return none(format!(
                "CPU {pct:.1}%: one worker fewer would suffice, for {} of {}: waiting",
                human(d),
                human(consolidation.after)
            ));
        }
        (None, None) => return none(format!("CPU {pct:.1}% is within the band: nothing to do")),
    };
    // The demand target comes first so that every answer below carries it: the engine keeps a
    // scale-down under way while the target is below the current count.
    let demand = sizing::demand_millis(view).unwrap_or(0.0);
    let target = sizing::cpu_target(demand, view.worker_size.cpu_millis, policy).max(policy.min_workers);
    let wait = |mut reasons: Vec<String>, why: String| {
        reasons.push(why);
        Decision { target: target.min(current), ..Decision::none(current, reasons) }
    };
    if current <= policy.min_workers {
        return wait(reasons, format!("scale-down blocked: at min_workers ({})", policy.min_workers));
    }
    if target >= current {
        reasons.push(format!(
            "demand {} cores needs {target} workers at {}%: keeping {current}",
            sizing::cores(demand),
            policy.target_utilization_percent
        ));
        return Decision::none(current, reasons);
    }
    if let Some(up) = state.last_scale_up_at
        && elapsed(now, up) < policy.scale_down.after_scale_up
    {
        let why = format!(
            "scale-down blocked: last scale-up {} ago (no scale-down within {})",
            human(elapsed(now, up)),
            human(policy.scale_down.after_scale_up)
        );
        return wait(reasons, why);
    }
    if let Some(down) = state.last_scale_down_at
        && elapsed(now, down) < policy.scale_down.removal_pause
    {
        let why = format!(
            "scale-down paused: last removal {} ago (pause {})",
            human(elapsed(now, down)),
            human(policy.scale_down.removal_pause)
        );
        return wait(reasons, why);
    }
    reasons.push(format!(
        "demand {} cores needs {target} workers at {}% target utilisation",
        sizing::cores(demand),
        policy.target_utilization_percent
    ));
    scale_down(view, policy, target, reasons)
}

/// Removes the best candidate (one drain at a time), or explains why none can go.
fn scale_down(view: &View<'_>, policy: &Policy, target: u32, mut reasons: Vec<String>) -> Decision {
    let current = view.workers.len() as u32;
    let selection = removal::select(view, policy);
    match selection.candidates.first() {
        Some(c) => {
            reasons.push(format!(
                "removing {} ({}, {:?}, {}m CPU requested); one drain at a time toward {target}",
                c.name, c.zone, c.lifecycle, c.requested.cpu_millis
            ));
            Decision { action: Action::ScaleDown, count: 1, nodes: vec![c.name.clone()], current, target, reasons }
        }
        None => {
            reasons.extend(selection.blocked.into_iter().map(|b| format!("scale-down blocked: {b}")));
            if reasons.iter().all(|r| !r.starts_with("scale-down blocked")) {
                reasons.push("scale-down blocked: no worker is removable".into());
            }
            // The target stays in the answer: the fleet is above what the demand needs, and the
            // engine reports a hold that lasts.
            Decision { target: target.min(current), ..Decision::none(current, reasons) }
        }
    }
}

/// The removable workers, best first, and why the others are not (for `status` and tests).
pub fn removal_candidates(snap: &Snapshot, policy: &Policy) -> (Vec<Candidate>, Vec<String>) {
    let view = View::new(snap, policy);
    let s = removal::select(&view, policy);
    (s.candidates, s.blocked)
}

#[cfg(test)]
mod tests;
