//! What Linux says about this process in `/proc/self/status`: resident memory and
//! threads. Elsewhere there is no such file, and the gauges are not registered.

/// Resident set size in bytes and thread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessStatus {
    pub(crate) resident_bytes: u64,
    pub(crate) threads: u64,
}

/// Reads `/proc/self/status`; `None` where it does not exist or cannot be parsed.
pub(crate) fn read() -> Option<ProcessStatus> {
    parse(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse(status: &str) -> Option<ProcessStatus> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(ProcessStatus {
        resident_bytes: field("VmRSS:")?.checked_mul(1024)?,
        threads: field("Threads:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rss_and_threads() {
        let text = "Name:\tkeychain\nVmRSS:\t   5120 kB\nThreads:\t7\n";
        assert_eq!(
            parse(text),
            Some(ProcessStatus {
                resident_bytes: 5120 * 1024,
                threads: 7
            })
        );
        assert_eq!(parse("Name: x\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let status = read().unwrap();
        assert!(status.resident_bytes > 0);
        assert!(status.threads >= 1);
    }
}
