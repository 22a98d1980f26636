//! The model, usage type and pricing detail of each row's hint ([`stage::HINT`]), looked up
//! in a memory shared by every part and file of a run ([`HINTS`]).

use super::lookup::{builders, Lookup};
use super::{polars_err, stage, IngestError};
use crate::normalise;
use polars::prelude::*;

impl Lookup<'_> {
    /// The rows of [`stage::HINT`] in pieces for [`HintMemo::look`] on every core, each
    /// piece (but the last) of `rows` rows.
    pub(super) fn hint_pieces(&self, rows: usize) -> Result<Vec<StringChunked>, IngestError> {
        let hints = self
            .staged
            .df
            .column(stage::HINT)
            .and_then(|c| c.str())
            .map_err(polars_err(self.file))?;
        let rows = rows.max(1);
        Ok((0..hints.len().div_ceil(rows).max(1))
            .map(|i| hints.slice((i * rows) as i64, rows))
            .collect())
    }

    /// The model, usage type and pricing detail of each row's hint, from the pieces'
    /// [`HintMemo::look`]s in order: hints not remembered yet are answered (on every core)
    /// and remembered.
    pub(super) fn hint_answers(
        &self,
        looked: Vec<(Vec<IdxSize>, Vec<&str>)>,
        outputs: &[&str; 3],
    ) -> Result<Vec<Column>, IngestError> {
        let mut memo = HINTS
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut new: Vec<&str> = looked.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        if memo.hints.len() + new.len() > HINT_MEMO {
            // Forget the hints, not the answers: the looked-up rows hold answers' indexes.
            memo.hints.clear();
        }
        {
            let mut once = PlHashSet::new();
            new.retain(|h| once.insert(*h));
        }
        let pieces: Vec<&[&str]> = new.chunks(256).collect();
        for (piece, answers) in pieces
            .iter()
            .zip(crate::parallel::on_all_cores(&pieces, |p| {
                p.iter().map(|h| HintMemo::answer_of(h)).collect::<Vec<_>>()
            }))
        {
            for (hint, answer) in piece.iter().zip(answers) {
                memo.remember(hint, answer);
            }
        }
        let mut rows = Vec::with_capacity(looked.iter().map(|(r, _)| r.len()).sum());
        for (answers, new) in looked {
            rows.extend(answers.into_iter().map(|a| match a & HintMemo::NEW {
                0 => a,
                _ => memo.hints[new[(a & !HintMemo::NEW) as usize]],
            }));
        }
        let mut cols = builders(outputs, memo.answers.len());
        for answer in &memo.answers {
            for (c, v) in cols.iter_mut().zip(answer) {
                c.append_option(v.as_deref());
            }
        }
        drop(memo);
        self.outputs(&IdxCa::from_vec(PlSmallStr::EMPTY, rows), cols)
    }
}

/// The model, usage type and pricing detail of each row's hint ([`stage::HINT`]),
/// remembered across parts and files: a hint carries the resource id, so an export holds
/// ~10^5 distinct hints, every part of a large file sees most of them again, and the regexes
/// cost microseconds per hint where a lookup costs a hash. A hint is remembered as the index
/// of its answer among the few distinct answers, so a row's lookup touches a key and an
/// index, not three strings. Rows look their hints up in pieces, on every core: as one job,
/// the longest of the lookups, the hints kept one core busy long after the other had done
/// all the other lookups.
static HINTS: std::sync::LazyLock<std::sync::RwLock<HintMemo>> =
    std::sync::LazyLock::new(Default::default);

/// Rows per piece of hints looked up at once ([`Lookup::hint_pieces`]).
pub(super) const HINT_PIECE: usize = 32_768;

/// Hints seen so far, each as the index of its (model, usage type, pricing detail) among
/// the distinct answers.
#[derive(Default)]
pub(super) struct HintMemo {
    hints: PlHashMap<String, IdxSize>,
    answers: Vec<[Option<String>; 3]>,
    answer_index: PlHashMap<[Option<String>; 3], IdxSize>,
}

impl HintMemo {
    /// Marks a row of [`HintMemo::look`] whose hint is not remembered yet.
    const NEW: IdxSize = 1 << (IdxSize::BITS - 1);

    /// Each row's answer, or [`HintMemo::NEW`] + the index of its hint among the hints not
    /// remembered yet (which are returned, in the order they first appear). Under the read
    /// lock of [`HINTS`].
    pub(super) fn look(rows: &StringChunked) -> (Vec<IdxSize>, Vec<&str>) {
        let memo = HINTS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut new: PlHashMap<&str, IdxSize> = PlHashMap::new();
        let mut new_hints: Vec<&str> = Vec::new();
        let answers = rows
            .iter()
            .map(|hint| {
                let hint = hint.unwrap_or_default();
                match memo.hints.get(hint) {
                    Some(&i) => i,
                    None => {
                        Self::NEW
                            | *new.entry(hint).or_insert_with(|| {
                                new_hints.push(hint);
                                (new_hints.len() - 1) as IdxSize
                            })
                    }
                }
            })
            .collect();
        (answers, new_hints)
    }

    /// The model, usage type and pricing detail a hint names.
    fn answer_of(hint: &str) -> [Option<String>; 3] {
        [
            normalise::model(hint),
            Some(normalise::usage_type(hint).to_string()),
            normalise::pricing_detail(hint).map(str::to_string),
        ]
    }

    /// Remember `hint`'s answer (a hint already remembered keeps its own).
    fn remember(&mut self, hint: &str, answer: [Option<String>; 3]) {
        if self.hints.contains_key(hint) {
            return;
        }
        let i = match self.answer_index.get(&answer) {
            Some(&i) => i,
            None => {
                let i = self.answers.len() as IdxSize;
                self.answers.push(answer.clone());
                self.answer_index.insert(answer, i);
                i
            }
        };
        self.hints.insert(hint.to_string(), i);
    }
}

/// Distinct hints remembered by [`HINTS`] before the memory is cleared.
const HINT_MEMO: usize = 500_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Staged;
    use std::collections::{BTreeSet, HashMap};
    use std::path::Path;
    /// Hints looked up in pieces (however small) answer each row as its own hint would:
    /// hints new to the memory and remembered ones, repeated within and across pieces.
    #[test]
    fn hints_looked_up_in_pieces_answer_every_row_by_its_own_hint() {
        let base = [
            "Azure OpenAI | | | gpt-4o Input Tokens | gpt-4o Input tokens | | res-1 |",
            "Amazon Bedrock | | | Claude 3.5 Sonnet Output Tokens | Claude 3.5 Sonnet Output tokens | | res-2 |",
            "Amazon Bedrock | | | Cohere Command R Input Tokens | Cohere Command R Input tokens | | res-3 |",
            "Amazon S3 | Storage | | | TimedStorage-ByteHrs | | bucket-1 |",
            "",
        ];
        // The largest pieces first: the base hints are all new to the memory in one piece.
        for piece in [100, 7, 3, 1] {
            // Base hints (new in the first run, remembered after) and two hints new to each
            // run, so that a piece holds several new hints.
            let own = [
                format!("Azure OpenAI | | | gpt-4o-mini Output Tokens | | | res-a{piece} |"),
                format!("Amazon Bedrock | | | Llama 3 70B Input Tokens | | | res-b{piece} |"),
            ];
            let hints: Vec<&str> = (0..23)
                .map(|i| match i % 4 {
                    1 => own[0].as_str(),
                    3 => own[1].as_str(),
                    _ => base[(i * 7) % base.len()],
                })
                .collect();
            let staged = Staged {
                df: DataFrame::new(
                    hints.len(),
                    vec![Column::new(stage::HINT.into(), hints.clone())],
                )
                .unwrap(),
                origin: HashMap::new(),
            };
            let lookup = Lookup {
                staged: &staged,
                file: Path::new("hints.csv"),
                dates: crate::ingest::DateRange::standard(),
            };
            let pieces = lookup.hint_pieces(piece).unwrap();
            assert_eq!(pieces.len(), hints.len().div_ceil(piece));
            let looked = pieces.iter().map(HintMemo::look).collect();
            let answers = lookup.hint_answers(looked, &["m", "u", "d"]).unwrap();
            let got = |c: usize, row: usize| answers[c].str().unwrap().get(row).map(str::to_string);
            let mut distinct = BTreeSet::new();
            for (row, hint) in hints.iter().enumerate() {
                let want = HintMemo::answer_of(hint);
                assert_eq!(
                    [got(0, row), got(1, row), got(2, row)],
                    want,
                    "row {row}: {hint}"
                );
                distinct.insert(want);
            }
            assert!(distinct.len() >= 4, "the hints answer alike: {distinct:?}");
        }
    }
}
