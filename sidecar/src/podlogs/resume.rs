//! Resuming a `pods/log?follow=true&timestamps=true` stream after a disconnect without losing or
//! repeating lines. The API only takes `sinceTime` to the second, so a reconnect replays the
//! lines of that second; lines at or before the last timestamp seen are dropped, and of those
//! with exactly the last timestamp as many as were already taken.

use k8s_openapi::jiff::{RoundMode, Timestamp, TimestampRound, ToSpan, Unit};

/// Resume state of one container's log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resume {
    last: Option<Timestamp>,
    taken_at_last: u32,
    skip_at_last: u32,
}

impl Resume {
    /// The `sinceTime` for the next request: the last timestamp, floored to the second (the
    /// API rounds otherwise, which could skip up to half a second).
    pub fn since(&self) -> Option<Timestamp> {
        let t = self.last?;
        let round = TimestampRound::new()
            .smallest(Unit::Second)
            .mode(RoundMode::Floor);
        let floored = t.round(round).ok()?;
        // Never ask for later than `t`, whatever the rounding did.
        Some(if floored > t {
            floored - 1.second()
        } else {
            floored
        })
    }

    /// Call when a new stream starts (after `since()` was used for it).
    pub fn reconnected(&mut self) {
        self.skip_at_last = self.taken_at_last;
    }

    /// Splits a timestamped line; returns the message when the line is new. A line without a
    /// parsable timestamp is returned whole.
    pub fn accept<'a>(&mut self, line: &'a [u8]) -> Option<&'a [u8]> {
        let (ts, msg) = match line.iter().position(|b| *b == b' ') {
            Some(space) => (&line[..space], &line[space + 1..]),
            None => (line, &line[line.len()..]),
        };
        match std::str::from_utf8(ts)
            .ok()
            .and_then(|s| s.parse::<Timestamp>().ok())
        {
            Some(t) => self.take(t, msg),
            None => Some(line),
        }
    }

    fn take<'a>(&mut self, t: Timestamp, msg: &'a [u8]) -> Option<&'a [u8]> {
        match self.last {
            Some(last) if t < last => None,
            Some(last) if t == last => {
                if self.skip_at_last > 0 {
                    self.skip_at_last -= 1;
                    None
                } else {
                    self.taken_at_last += 1;
                    Some(msg)
                }
            }
            _ => {
                self.last = Some(t);
                self.taken_at_last = 1;
                self.skip_at_last = 0;
                Some(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut Resume, lines: &[&str]) -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| {
                r.accept(l.as_bytes())
                    .map(|m| String::from_utf8_lossy(m).into_owned())
            })
            .collect()
    }

    #[test]
    fn a_reconnect_replaying_the_second_loses_and_repeats_nothing() {
        let mut r = Resume::default();
        let first = feed(
            &mut r,
            &[
                "2026-11-27T08:00:00.100000000Z a",
                "2026-11-27T08:00:00.200000000Z b",
                "2026-11-27T08:00:00.200000000Z c",
            ],
        );
        assert_eq!(first, ["a", "b", "c"]);
        assert_eq!(r.since().unwrap().to_string(), "2026-11-27T08:00:00Z");
        r.reconnected();
        // The API replays from 08:00:00: a, b, c again, then the new lines (one with the
        // same timestamp as c).
        let second = feed(
            &mut r,
            &[
                "2026-11-27T08:00:00.100000000Z a",
                "2026-11-27T08:00:00.200000000Z b",
                "2026-11-27T08:00:00.200000000Z c",
                "2026-11-27T08:00:00.200000000Z d",
                "2026-11-27T08:00:01.000000000Z e",
            ],
        );
        assert_eq!(second, ["d", "e"]);
    }

    #[test]
    fn lines_without_timestamps_are_kept() {
        let mut r = Resume::default();
        assert_eq!(feed(&mut r, &["no timestamp here"]), ["no timestamp here"]);
        assert_eq!(r.since(), None);
    }

    #[test]
    fn empty_messages_count_as_lines() {
        let mut r = Resume::default();
        assert_eq!(
            feed(&mut r, &["2026-11-27T08:00:00Z", "2026-11-27T08:00:00Z "]),
            ["", ""]
        );
    }
}
