//! The pruning engines. All read the rates of a parameter set only through
//! [`crate::transition::SetTables`], so every rate layout and tangent direction runs through the
//! same propagation code.
//!
//! - [`dense`]: per-pattern pruning over every node (GC_ALGO_DENSE, the baseline).
//! - [`chains`]: only each pattern's mixed nodes, runs of pass nodes as precomputed 2x2 chain
//!   matrices (the default engine of GC_ALGO_SPARSE).
//! - [`blocked`]: minority-state pruning of 8 patterns at a time in SIMD lanes (GC_ALGO_SPARSE
//!   where most nodes of most patterns are mixed, or the tree is too large for [`chains`]).
//! - [`outside`]: the inside and outside passes of `gc_expectations` (branch end-state
//!   coefficients), per pattern over every node.

pub mod blocked;
#[cfg(target_arch = "x86_64")]
mod blocked_avx2;
pub mod chains;
pub mod dense;
pub mod outside;
