//! CPU time per request, for the benches' `--cpu N` mode: a fixed number of requests, closed
//! loop, with the process's CPU time (user + system, every thread) read before and after.
//! Unlike latency on a shared machine, this hardly moves with the other processes' load, so
//! it is the figure to compare a change by. The process holds the load generator and the
//! test upstream too: subtract the direct phase's figure to get the gateway's own cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// User + system CPU time of this process so far, from `/proc/self/stat` (Linux; clock ticks
/// of 10 ms, so run enough requests for a few seconds of CPU).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces): state is the first, utime
    // the 12th and stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux architecture Veil builds for.
    Duration::from_millis(ticks * 10)
}

/// One `--cpu` phase: what it cost and how fast it went.
pub struct CpuPhase {
    /// CPU time of the whole process per request, microseconds.
    pub cpu_us: f64,
    /// Requests per second of this closed loop (wall clock).
    pub rps: f64,
    /// Requests that failed.
    pub failed: u64,
}

/// Sends `count` requests made by `make`, `concurrency` at a time, and measures the process's
/// CPU time across them.
pub async fn cpu_phase<F>(make: F, count: u64, concurrency: u64) -> CpuPhase
where
    F: Fn() -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let left = Arc::new(AtomicU64::new(count));
    let failed = Arc::new(AtomicU64::new(0));
    let (cpu, wall) = (process_cpu(), Instant::now());
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (make, left, failed) = (make.clone(), left.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let good = match make().send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if !good {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (cpu, wall) = (process_cpu() - cpu, wall.elapsed());
    CpuPhase {
        cpu_us: cpu.as_secs_f64() * 1e6 / count as f64,
        rps: count as f64 / wall.as_secs_f64(),
        failed: failed.load(Ordering::Relaxed),
    }
}
