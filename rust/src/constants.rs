//! Every constant of the C ABI (`include/genecontent.h`), defined once for the Rust side.
//! `tests/abi_constants_test.ts` checks that the header, this file and `lib/native/ffi.ts`
//! agree.

/// Version of the C ABI (`GC_ABI_VERSION`): the layout of every buffer and struct is part of it.
pub const GC_ABI_VERSION: u32 = 2;

/// Minor version of the C ABI (`GC_ABI_MINOR`): compatible additions within `GC_ABI_VERSION`.
/// Minor 1 added `gc_expectations` and `gc_abi_minor` itself; minor 2 added `gc_family_table`,
/// `gc_distances` and `gc_build_tree`; minor 3 appended `min_value` and `out_rows` to
/// `gc_family_table_args` (a minor-2 caller's struct still reads). A version 2 library without
/// the `gc_abi_minor` symbol is minor 0.
pub const GC_ABI_MINOR: u32 = 3;

/// Success.
pub const GC_OK: i32 = 0;
/// A pointer with a nonzero length was NULL.
pub const GC_ERR_NULL_POINTER: i32 = 1;
/// A length, index, state, rate or tangent is out of range.
pub const GC_ERR_INVALID_ARGUMENT: i32 = 2;
/// The caller set the cancel flag during an evaluation.
pub const GC_ERR_CANCELLED: i32 = 3;
/// An internal bug, caught at the boundary.
pub const GC_ERR_PANIC: i32 = 4;

/// The fastest exact algorithm (currently [`GC_ALGO_SPARSE`]).
pub const GC_ALGO_AUTO: u32 = 0;
/// Straightforward per-pattern pruning over every node.
pub const GC_ALGO_DENSE: u32 = 1;
/// Sparse pruning: the chain engine, or the blocked one where most nodes are mixed.
pub const GC_ALGO_SPARSE: u32 = 2;

/// Rate layout: one (gain, loss) pair per parameter set, for every branch.
pub const GC_RATES_GLOBAL: u32 = 0;
/// Rate layout: one (gain, loss) pair per node and set (the rates of the branch above the node;
/// the root's pair sets the root prior).
pub const GC_RATES_PER_BRANCH: u32 = 1;
