//! spendlens: who spent what on which LLM, and why it changed.
//!
//! Stages follow the data flow of DESIGN.md, left to right: `ingest` (export files) and
//! `collect` (cloud APIs) produce CostRecord / UsageRecord frames defined in `schema`; `store`
//! keeps them as Parquet; `attribute` adds team / feature / allocation from `config`;
//! `analyse` finds and explains anomalies; `output` writes reports, dashboards and feeds;
//! `nightly` runs the whole chain. A module only imports from
//! stages to its left (and from `schema`, `config`, `normalise`, `timing`).

pub mod analyse;
pub mod attribute;
pub mod cli;
pub mod coded;
pub mod collect;
pub mod config;
pub mod demo;
pub mod ingest;
pub mod memory;
pub mod nightly;
pub mod normalise;
pub mod output;
pub mod schema;
pub mod store;
pub mod timing;
