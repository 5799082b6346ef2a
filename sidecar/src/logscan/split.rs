//! Splitting a byte stream into lines, bounded: a line longer than the limit is cut at the
//! limit, the rest of it up to the next newline is skipped, and the cut is counted.

/// Splits bytes into lines of at most `max_line_bytes`.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max_line_bytes: usize,
    discarding: bool,
    truncated: u64,
}

/// One line out of the splitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The bytes, without the newline (and without a trailing `\r`).
    pub bytes: &'a [u8],
    /// Whether the line was cut at the limit.
    pub truncated: bool,
}

impl LineSplitter {
    /// A splitter cutting lines at `max_line_bytes` (at least 1).
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line_bytes: max_line_bytes.max(1),
            discarding: false,
            truncated: 0,
        }
    }

    /// How many lines were cut so far.
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Feeds `data`, calling `f` for every line it completes.
    pub fn push(&mut self, mut data: &[u8], f: &mut dyn FnMut(Line<'_>)) {
        while !data.is_empty() {
            let newline = memchr::memchr(b'\n', data);
            let (segment, rest, complete) = match newline {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            data = rest;
            if self.discarding {
                // Skipping the tail of a line that was already cut.
                self.discarding = !complete;
                continue;
            }
            let room = self.max_line_bytes - self.buf.len();
            if segment.len() > room {
                self.buf.extend_from_slice(&segment[..room]);
                self.truncated += 1;
                f(Line {
                    bytes: &self.buf,
                    truncated: true,
                });
                self.buf.clear();
                self.discarding = !complete;
                continue;
            }
            if !complete {
                self.buf.extend_from_slice(segment);
                continue;
            }
            if self.buf.is_empty() {
                f(Line {
                    bytes: strip_cr(segment),
                    truncated: false,
                });
            } else {
                self.buf.extend_from_slice(segment);
                f(Line {
                    bytes: strip_cr(&self.buf),
                    truncated: false,
                });
                self.buf.clear();
            }
        }
    }

    /// Emits what is left of an unterminated last line (end of stream).
    pub fn finish(&mut self, f: &mut dyn FnMut(Line<'_>)) {
        if !self.buf.is_empty() {
            f(Line {
                bytes: strip_cr(&self.buf),
                truncated: false,
            });
            self.buf.clear();
        }
        self.discarding = false;
    }
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> (Vec<(Vec<u8>, bool)>, u64) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |l| out.push((l.bytes.to_vec(), l.truncated)));
        }
        s.finish(&mut |l| out.push((l.bytes.to_vec(), l.truncated)));
        (out, s.truncated())
    }

    #[test]
    fn lines_across_chunks_and_crlf() {
        let (lines, cut) = split(&[b"ab", b"c\r\nde\n", b"\nf"], 100);
        let got: Vec<&[u8]> = lines.iter().map(|(l, _)| l.as_slice()).collect();
        assert_eq!(got, [&b"abc"[..], b"de", b"", b"f"]);
        assert_eq!(cut, 0);
    }

    #[test]
    fn a_long_line_is_cut_once_and_the_next_line_survives() {
        let long = [b'x'; 25];
        let (lines, cut) = split(&[&long[..10], &long[10..], b"\nnext\n"], 8);
        assert_eq!(lines[0], (vec![b'x'; 8], true));
        assert_eq!(lines[1], (b"next".to_vec(), false));
        assert_eq!(lines.len(), 2);
        assert_eq!(cut, 1);
    }

    #[test]
    fn ten_megabyte_line_costs_at_most_the_limit() {
        let mut s = LineSplitter::new(1 << 20);
        let chunk = vec![b'a'; 64 * 1024];
        let mut seen = Vec::new();
        for _ in 0..160 {
            s.push(&chunk, &mut |l| seen.push((l.bytes.len(), l.truncated)));
        }
        s.push(b"\nok\n", &mut |l| seen.push((l.bytes.len(), l.truncated)));
        assert_eq!(seen, [(1 << 20, true), (2, false)]);
        assert!(s.buf.capacity() <= 2 << 20);
    }
}
