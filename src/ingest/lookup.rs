//! [`Lookup`]: a staging column's distinct values answered once each, the answers gathered
//! back to the rows; a value that cannot be answered fails with the first line holding it.

use super::{polars_err, stage, IngestError, Staged};
use crate::coded::Coded;
use polars::prelude::*;
use std::path::Path;

/// Lookup-table builder: map each unique value of a staging column through `f`, failing with
/// the first line holding a value `f` rejects.
pub(crate) struct Lookup<'a> {
    pub(super) staged: &'a Staged,
    pub(super) file: &'a Path,
    /// The dates accepted (see [`super::DateRange`]).
    pub(super) dates: super::DateRange,
}

impl<'a> Lookup<'a> {
    /// A staging column coded by its distinct values (a part's 256K hints are ~100-byte
    /// strings: each is hashed once).
    pub(super) fn coded(&self, column: &str) -> Result<Coded<'a>, IngestError> {
        self.staged
            .df
            .column(column)
            .and_then(|c| c.str())
            .map(crate::coded::code)
            .map_err(polars_err(self.file))
    }

    /// Each row's answer: `rows` indexes `answers`.
    pub(super) fn gather(&self, rows: &IdxCa, answers: Series) -> Result<Column, IngestError> {
        answers
            .take(rows)
            .map(IntoColumn::into_column)
            .map_err(polars_err(self.file))
    }

    pub(super) fn line_of(&self, column: &str, value: &str) -> u64 {
        let df = &self.staged.df;
        let (Ok(c), Ok(lines)) = (df.column(column), df.column(stage::LINE)) else {
            return 0;
        };
        let (Ok(c), Ok(lines)) = (c.str(), lines.u64()) else {
            return 0;
        };
        c.iter()
            .position(|v| v == Some(value))
            .and_then(|i| lines.get(i))
            .unwrap_or(0)
    }

    pub(super) fn bad(&self, column: &str, value: &str, message: String) -> IngestError {
        self.bad_at(column, self.line_of(column, value), message)
    }

    /// A bad value of `column` on `line` (of the file as its rows are numbered).
    pub(super) fn bad_at(&self, column: &str, line: u64, message: String) -> IngestError {
        IngestError::BadValue {
            file: self.file.to_path_buf(),
            line,
            column: self
                .staged
                .origin
                .get(column)
                .cloned()
                .unwrap_or_else(|| column.to_string()),
            message,
        }
    }

    /// One string column per entry of `outputs`: `f`'s answers for each row's `column`.
    pub(super) fn strings<F>(
        &self,
        column: &str,
        outputs: &[&str],
        mut f: F,
    ) -> Result<Vec<Column>, IngestError>
    where
        F: FnMut(Option<&str>) -> Result<Vec<Option<String>>, String>,
    {
        let coded = self.coded(column)?;
        let mut cols = builders(outputs, coded.keys.len());
        for k in &coded.keys {
            let vals = f(*k).map_err(|m| self.bad(column, k.unwrap_or(""), m))?;
            for (c, v) in cols.iter_mut().zip(vals) {
                c.append_option(v.as_deref());
            }
        }
        self.outputs(&coded.rows, cols)
    }

    /// The built answers gathered to the rows (`rows` indexes them).
    pub(super) fn outputs(
        &self,
        rows: &IdxCa,
        answers: Vec<StringChunkedBuilder>,
    ) -> Result<Vec<Column>, IngestError> {
        answers
            .into_iter()
            .map(|b| self.gather(rows, b.finish().into_series()))
            .collect()
    }
}

/// One string builder per output column.
pub(super) fn builders(names: &[&str], capacity: usize) -> Vec<StringChunkedBuilder> {
    names
        .iter()
        .map(|n| StringChunkedBuilder::new((*n).into(), capacity))
        .collect()
}
