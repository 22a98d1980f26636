//! Large export files are read in parts of bounded size, so ingest memory does not grow with
//! the file: CSV in runs of whole records (quotes honoured, so a quoted line break never
//! splits a record), Parquet in runs of rows.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Which rows of a file one staging pass reads.
#[derive(Debug, Clone, Default)]
pub enum Part {
    /// The whole file.
    #[default]
    Whole,
    /// CSV: the file's header record followed by whole records. `first_record` is the
    /// 0-based index of its first record among the file's records, `first_line` the file line
    /// it starts on (they differ when quoted fields hold line breaks).
    Csv {
        bytes: Vec<u8>,
        first_record: u64,
        first_line: u64,
    },
    /// Parquet: `len` rows from row `offset` (0-based).
    Parquet { offset: u64, len: u64 },
}

/// Parts of a CSV file of about `target` bytes each, at record boundaries.
pub struct CsvParts {
    file: File,
    header: Vec<u8>,
    carry: Vec<u8>,
    target: usize,
    records: u64,
    lines: u64,
    eof: bool,
}

/// Offsets just past each record-ending `\n` in `bytes` (which starts outside quotes), the
/// count of all `\n`, and whether `bytes` ends inside quotes.
fn boundaries(bytes: &[u8]) -> (Vec<usize>, u64, bool) {
    let mut quoted = false;
    let mut ends = Vec::new();
    let mut newlines = 0;
    for i in memchr::memchr2_iter(b'"', b'\n', bytes) {
        if bytes[i] == b'"' {
            quoted = !quoted;
        } else {
            newlines += 1;
            if !quoted {
                ends.push(i + 1);
            }
        }
    }
    (ends, newlines, quoted)
}

impl CsvParts {
    pub fn open(path: &Path, target: usize) -> std::io::Result<CsvParts> {
        let mut parts = CsvParts {
            file: File::open(path)?,
            header: Vec::new(),
            carry: Vec::new(),
            target: target.max(1 << 10),
            records: 0,
            lines: 0,
            eof: false,
        };
        // The header is the first record.
        loop {
            let read = parts.fill(1 << 16)?;
            let (ends, _, _) = boundaries(&parts.carry);
            if let Some(&end) = ends.first() {
                parts.header = parts.carry.drain(..end).collect();
                parts.lines = 1;
                break;
            }
            if read == 0 {
                parts.header = std::mem::take(&mut parts.carry);
                parts.header.push(b'\n');
                parts.lines = 1;
                break;
            }
        }
        Ok(parts)
    }

    /// Append up to `n` bytes of the file to `carry`; bytes read (0 at the end).
    fn fill(&mut self, n: usize) -> std::io::Result<usize> {
        let start = self.carry.len();
        self.carry.resize(start + n, 0);
        let mut got = 0;
        while got < n {
            let r = self.file.read(&mut self.carry[start + got..])?;
            if r == 0 {
                self.eof = true;
                break;
            }
            got += r;
        }
        self.carry.truncate(start + got);
        Ok(got)
    }
}

/// One pass over `bytes` (which starts outside quotes) up to the first record end at or
/// past `target`: (that cut, if any; records and `\n`s before it, or in all of `bytes` when
/// there is no cut; where the last record ended).
fn scan_to(bytes: &[u8], target: usize) -> (Option<usize>, u64, u64, usize) {
    let mut quoted = false;
    let (mut records, mut newlines, mut last_end) = (0, 0, 0);
    let mut from = 0;
    // Line by line: a line's quotes are counted in bulk (a loop the compiler vectorises),
    // where stopping at every quote of a quoted export costs a call per field.
    for i in memchr::memchr_iter(b'\n', bytes) {
        let quotes = bytes[from..i].iter().filter(|&&b| b == b'"').count();
        from = i + 1;
        quoted ^= quotes % 2 == 1;
        newlines += 1;
        if !quoted {
            records += 1;
            last_end = i + 1;
            if last_end >= target {
                return (Some(last_end), records, newlines, last_end);
            }
        }
    }
    (None, records, newlines, last_end)
}

/// Read beyond a part's target so its last record usually ends within what was read.
const SLACK: usize = 1 << 20;

impl Iterator for CsvParts {
    type Item = std::io::Result<Part>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut want = self.target + SLACK;
        loop {
            if !self.eof && self.carry.len() < want {
                if let Err(e) = self.fill(want - self.carry.len()) {
                    return Some(Err(e));
                }
            }
            if self.carry.iter().all(|b| matches!(b, b'\r' | b'\n')) && self.eof {
                return None;
            }
            // The first record end at or past the target (the rest of the file at its end),
            // found in one pass that also counts the part's records and lines.
            let (cut, records, newlines) = match scan_to(&self.carry, self.target) {
                (Some(end), records, newlines, _) => (end, records, newlines),
                (None, records, newlines, last_end) if self.eof => {
                    let unterminated = last_end != self.carry.len();
                    (
                        self.carry.len(),
                        records + u64::from(unterminated),
                        newlines,
                    )
                }
                // The record at the target runs on: read more.
                (None, ..) => {
                    want = self.carry.len() + self.target;
                    continue;
                }
            };
            let mut bytes = Vec::with_capacity(self.header.len() + cut);
            bytes.extend_from_slice(&self.header);
            bytes.extend_from_slice(&self.carry[..cut]);
            // The read buffer keeps its capacity: a fresh part-sized buffer per part is
            // faulted in (and zeroed by the kernel) page by page.
            self.carry.drain(..cut);
            let part = Part::Csv {
                bytes,
                first_record: self.records,
                first_line: self.lines + 1,
            };
            self.records += records;
            self.lines += newlines;
            return Some(Ok(part));
        }
    }
}

/// Parts of `rows` Parquet rows of about `per_part` rows each.
pub(crate) fn parquet_parts(rows: u64, per_part: u64) -> Vec<Part> {
    let per_part = per_part.max(1);
    (0..rows.div_ceil(per_part))
        .map(|i| Part::Parquet {
            offset: i * per_part,
            len: per_part.min(rows - i * per_part),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_of(text: &str, target: usize) -> Vec<(String, u64, u64)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, text).unwrap();
        let mut parts = CsvParts::open(&path, target).unwrap();
        parts.target = target; // below the production floor, to cut tiny files
        parts
            .map(|p| match p.unwrap() {
                Part::Csv {
                    bytes,
                    first_record,
                    first_line,
                } => (String::from_utf8(bytes).unwrap(), first_record, first_line),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn csv_parts_cut_between_records_and_never_inside_quotes() {
        let text = "a,b\n1,\"x\ny\"\n2,z\n3,\"q,\"\"r\"\"\"\n4,w";
        let parts = parts_of(text, 6);
        // Every part starts with the header; together they hold each record once, whole.
        let bodies: String = parts
            .iter()
            .map(|(p, _, _)| p.strip_prefix("a,b\n").expect("header").to_string())
            .collect();
        assert_eq!(bodies, text.strip_prefix("a,b\n").unwrap());
        for (p, _, _) in &parts {
            let (_, _, open_quote) = boundaries(p.as_bytes());
            assert!(!open_quote, "part ends inside quotes: {p:?}");
        }
        // Record index and file line of each part's first record.
        let starts: Vec<(u64, u64)> = parts.iter().map(|(_, r, l)| (*r, *l)).collect();
        assert_eq!(starts.first(), Some(&(0, 2)));
        let second = parts
            .iter()
            .find(|(p, _, _)| p.contains("\n2,z"))
            .expect("record 2");
        assert_eq!((second.1, second.2), (1, 4), "{parts:?}");
    }

    #[test]
    fn parquet_parts_cover_every_row_once() {
        let parts = parquet_parts(10, 4);
        let spans: Vec<(u64, u64)> = parts
            .iter()
            .map(|p| match p {
                Part::Parquet { offset, len } => (*offset, *len),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(spans, vec![(0, 4), (4, 4), (8, 2)]);
    }
}
