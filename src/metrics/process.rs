//! The standard `process_*` metrics, read from Linux's `/proc/self` at each scrape (the names
//! and meanings every Prometheus client library uses, so existing dashboards and alerts
//! apply). Elsewhere, or where `/proc` cannot be read, they are left out rather than guessed.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc/<pid>/stat`: the kernel reports them in USER_HZ, which
/// is 100 on every architecture Linux exposes to user space (`sysconf(_SC_CLK_TCK)`).
const TICKS_PER_SECOND: f64 = 100.0;

/// What one scrape reads about this process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    /// Seconds since the Unix epoch.
    pub start_time: f64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
}

/// `/proc/self/stat`'s fields after the command name: (utime, stime, starttime, vsize) in
/// ticks, ticks, ticks since boot and bytes.
fn stat_fields(stat: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name is in parentheses and may itself hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Numbered from `state` (field 3 of proc(5)): utime is field 14, stime 15, starttime 22,
    // vsize 23.
    let at = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some((at(14)?, at(15)?, at(22)?, at(23)?))
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The soft limit of open files in `/proc/self/limits` ("unlimited" is none).
fn max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `btime` of `/proc/stat`: the boot time, seconds since the epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Read the sample now; `None` off Linux or when `/proc` is not mounted.
pub fn sample() -> Option<Sample> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let (utime, stime, start_ticks, vsize) = stat_fields(&read("/proc/self/stat")?)?;
    let boot = boot_time(&read("/proc/stat")?)?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(Sample {
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        resident_bytes: resident_bytes(&read("/proc/self/status")?)?,
        virtual_bytes: vsize,
        start_time: boot as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        open_fds,
        max_fds: read("/proc/self/limits").as_deref().and_then(max_fds),
    })
}

/// The collector: reads `/proc` when scraped.
#[derive(Debug)]
pub struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = sample() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 4] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                s.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                s.virtual_bytes as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                s.start_time,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                s.open_fds as f64,
            ),
        ];
        let max = s.max_fds.map(|m| {
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                m as f64,
            )
        });
        for (name, help, v) in gauges.into_iter().chain(max) {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 150 0 0 20 0 4 0 123456 987654321 2000 18446744073709551615";
        assert_eq!(stat_fields(stat), Some((250, 150, 123456, 987654321)));
        assert_eq!(stat_fields("no parenthesis"), None);
    }

    #[test]
    fn reads_rss_limits_and_boot_time() {
        assert_eq!(
            resident_bytes("Name:\tgantry\nVmRSS:\t    2180 kB\n"),
            Some(2180 * 1024)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_fds(limits), Some(1024));
        assert_eq!(
            max_fds("Max open files            unlimited            unlimited            files"),
            None
        );
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\n"),
            Some(1700000000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_running_with_memory_and_files() {
        let s = sample().unwrap();
        assert!(s.resident_bytes > 0 && s.open_fds > 0, "{s:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(s.start_time <= now + 1.0 && s.start_time > now - 86400.0 * 365.0);
    }
}
