//! spendlens: who spent what on which LLM, and why it changed.
//!
//! The modules follow the data flow, left to right:
//!
//! ```text
//! ingest (export files) ─┐
//!                        ├─► schema frames ─► store ─► attribute ─► analyse ─► output
//! collect (cloud APIs) ──┘
//! ```
//!
//! - [`ingest`] and [`collect`] turn bills into CostRecord / UsageRecord frames ([`schema`]),
//!   normalising values through [`normalise`];
//! - [`store`] keeps them as Parquet partitions and commits every write atomically (it also
//!   drives a large ingest part by part, so memory stays bounded: `store::ingest_files`);
//! - [`attribute`] adds team, feature and allocation from the rules in [`config`];
//! - [`analyse`] sums, finds and explains anomalies, investigates, advises;
//! - [`output`] writes reports, dashboards, terminal views and feeds;
//! - [`nightly`] runs the chain end to end; [`commands`] is one module per subcommand and
//!   [`cli`] the command line that dispatches to them.
//!
//! Shared by all: [`schema`], [`config`], [`normalise`], [`coded`] (columns coded by their
//! distinct values), [`parallel`] (jobs on every core), [`timing`] (phase timings) and
//! [`memory`] (allocator options). A module imports from its own stage, the stages to its
//! left and these shared ones; the exceptions are `store::ingest_files`, which calls the
//! ingest stage it writes for, and [`collect`], whose collectors commit their own source.

pub mod analyse;
pub mod attribute;
pub mod cli;
pub mod coded;
pub mod collect;
pub mod commands;
pub mod config;
pub mod demo;
pub mod eval;
pub mod ingest;
pub mod memory;
pub mod nightly;
pub mod normalise;
pub mod output;
pub mod parallel;
pub mod schema;
pub mod store;
pub mod timing;
