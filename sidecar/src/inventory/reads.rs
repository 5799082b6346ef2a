//! How reading a container's processes through `/proc/<pid>/…` went, per process: the
//! structured side of the notes ([`super::root::why`] words the same failures for people). The
//! snapshot carries the counts ([`ProcessReads`]), and the operator tells "the sidecar may not
//! read the app's processes" from them, never from note text (notes are cut to 10 and worded
//! for people).

use std::collections::BTreeMap;
use std::io;

use agentlens_crds::snapshot::ProcessReads;

/// How a read of one `/proc/<pid>/` entry ended; a later variant is worse, and a process is
/// counted by its worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadOutcome {
    /// It was read.
    Read,
    /// It could not be read, neither for permission nor because the process exited.
    Failed,
    /// The process exited (the entry is gone, or the kernel says no such process).
    Gone,
    /// The sidecar may not read it (`EACCES`, `EPERM`: another user's process, or one that is
    /// not dumpable).
    Denied,
}

impl ReadOutcome {
    /// The outcome of a failed read of a `/proc/<pid>/` entry (not of a file under its root,
    /// where "not found" is a missing file, not a process gone).
    pub fn of_error(e: &io::Error) -> Self {
        match e.kind() {
            // std maps both EACCES and EPERM here.
            io::ErrorKind::PermissionDenied => Self::Denied,
            io::ErrorKind::NotFound => Self::Gone,
            _ if e.raw_os_error() == Some(nix::libc::ESRCH) => Self::Gone,
            _ => Self::Failed,
        }
    }

    /// The outcome of a read.
    pub fn of<T>(r: &io::Result<T>) -> Self {
        r.as_ref().map_or_else(Self::of_error, |_| Self::Read)
    }
}

/// The worst outcome of each process's reads, for one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadLog {
    worst: BTreeMap<u32, ReadOutcome>,
}

impl ReadLog {
    /// Records that process `pid` was looked at, and how one of its reads ended.
    pub fn record(&mut self, pid: u32, outcome: ReadOutcome) {
        let w = self.worst.entry(pid).or_insert(ReadOutcome::Read);
        *w = (*w).max(outcome);
    }

    /// Records the outcome of `r`, a read of one of `pid`'s entries, and passes it on.
    pub fn result<T>(&mut self, pid: u32, r: io::Result<T>) -> io::Result<T> {
        self.record(pid, ReadOutcome::of(&r));
        r
    }

    /// How process `pid`'s reads went so far (`None`: not looked at).
    pub fn outcome(&self, pid: u32) -> Option<ReadOutcome> {
        self.worst.get(&pid).copied()
    }

    /// The counts the snapshot carries.
    pub fn summary(&self) -> ProcessReads {
        let count = |o: Option<ReadOutcome>| {
            let n = self
                .worst
                .values()
                .filter(|w| o.is_none_or(|o| **w == o))
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        ProcessReads {
            processes: count(None),
            denied: count(Some(ReadOutcome::Denied)),
            gone: count(Some(ReadOutcome::Gone)),
            failed: count(Some(ReadOutcome::Failed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root (CI's containers) a file of mode 000 is read anyway, so the classification is
    /// tested on the errors the kernel gives; `sidecar/tests/autoinstrument_abi.rs` and
    /// `sidecar/tests/inventory.rs` provoke a real denial as another user.
    #[test]
    fn read_errors_are_classified_by_what_they_mean() {
        use nix::libc;
        // (case, error, outcome)
        let cases = [
            (
                "eacces_another_user",
                io::Error::from_raw_os_error(libc::EACCES),
                ReadOutcome::Denied,
            ),
            (
                "eperm_not_dumpable",
                io::Error::from_raw_os_error(libc::EPERM),
                ReadOutcome::Denied,
            ),
            (
                "kind_permission_denied",
                io::Error::from(io::ErrorKind::PermissionDenied),
                ReadOutcome::Denied,
            ),
            (
                "enoent_exited",
                io::Error::from_raw_os_error(libc::ENOENT),
                ReadOutcome::Gone,
            ),
            (
                "esrch_exited_mid_read",
                io::Error::from_raw_os_error(libc::ESRCH),
                ReadOutcome::Gone,
            ),
            (
                "eio",
                io::Error::from_raw_os_error(libc::EIO),
                ReadOutcome::Failed,
            ),
            (
                "eisdir",
                io::Error::from_raw_os_error(libc::EISDIR),
                ReadOutcome::Failed,
            ),
            (
                "invalid_data",
                io::Error::from(io::ErrorKind::InvalidData),
                ReadOutcome::Failed,
            ),
        ];
        for (case, e, want) in cases {
            assert_eq!(ReadOutcome::of_error(&e), want, "{case}");
            assert_eq!(ReadOutcome::of::<()>(&Err(e)), want, "{case}");
        }
        assert_eq!(ReadOutcome::of(&Ok(())), ReadOutcome::Read);
        // A real one: a vanished process's entry.
        let gone = std::fs::read("/proc/4294967290/maps");
        assert_eq!(ReadOutcome::of(&gone), ReadOutcome::Gone);
    }

    #[test]
    fn each_process_counts_once_by_its_worst_read() {
        use ReadOutcome::{Denied, Failed, Gone, Read};
        // (case, reads as (pid, outcome), counts (processes, denied, gone, failed))
        type Case = (&'static str, Vec<(u32, ReadOutcome)>, (u32, u32, u32, u32));
        let cases: [Case; 6] = [
            ("nothing_looked_at", vec![], (0, 0, 0, 0)),
            (
                "all_read",
                vec![(1, Read), (1, Read), (2, Read)],
                (2, 0, 0, 0),
            ),
            (
                "environ_denied_after_exe_read",
                vec![(1, Read), (1, Denied), (1, Read)],
                (1, 1, 0, 0),
            ),
            (
                "denied_then_gone_is_denied",
                vec![(1, Denied), (1, Gone), (2, Gone), (2, Failed)],
                (2, 1, 1, 0),
            ),
            (
                "maps_failed",
                vec![(1, Read), (2, Read), (2, Failed)],
                (2, 0, 0, 1),
            ),
            (
                "one_of_three_each",
                vec![(1, Denied), (2, Gone), (3, Failed), (4, Read)],
                (4, 1, 1, 1),
            ),
        ];
        for (case, reads, (processes, denied, gone, failed)) in cases {
            let mut log = ReadLog::default();
            for (pid, o) in reads {
                log.record(pid, o);
            }
            assert_eq!(
                log.summary(),
                ProcessReads {
                    processes,
                    denied,
                    gone,
                    failed
                },
                "{case}"
            );
        }
        let mut log = ReadLog::default();
        let r: io::Result<()> = log.result(9, Err(io::ErrorKind::PermissionDenied.into()));
        assert!(r.is_err());
        assert_eq!(log.outcome(9), Some(Denied));
        assert_eq!(log.outcome(8), None);
    }
}
