/*
 * genecontent.h: the C ABI of the genecontent pruning kernel (libgenecontent).
 *
 * ABI version 2, minor version 1. Call gc_abi_version() first and refuse to go on if it differs
 * from GC_ABI_VERSION: the layout of every buffer below is part of the version. Version 2 added
 * gc_evaluate (rate assignments per branch, tangent directions, pattern subsets); gc_loglik of
 * version 1 is kept and gives the same results as before.
 *
 * Minor versions are compatible growth within a version: new exports with their own argument
 * structs, or fields appended to an argument struct (whose struct_size then tells the library
 * which fields the caller has; the fields an older caller lacks read as 0), nothing existing
 * changed. Minor 1 added gc_expectations and gc_abi_minor; minor 2 added gc_family_table,
 * gc_distances and gc_build_tree; minor 3 appended min_value and out_rows to
 * gc_family_table_args. A caller
 * that needs an addition looks the symbol gc_abi_minor up (dlsym, or an optional symbol of its
 * FFI): if it is absent the library is minor 0; otherwise gc_abi_minor() >= the minor that
 * introduced the addition tells that its exports are there.
 *
 * The model. Each gene family evolves on a rooted tree as a two-state continuous-time Markov
 * chain with gain rate `gain` (0 -> 1) and loss rate `loss` (1 -> 0). With s = gain + loss,
 * pi1 = gain / s, pi0 = loss / s and e = expm1(-s t), a branch of length t has
 *     P00 = 1 + pi1 e   P01 = -pi1 e   P10 = -pi0 e   P11 = 1 + pi0 e
 * The root prior is (pi0, pi1). A tip state 0 or 1 is observed; 2 means missing (both states
 * allowed, partial vector (1, 1)). The kernel computes, for each pattern (a column of tip
 * states) and each parameter set, the natural log of the probability of the pattern by
 * Felsenstein pruning, with per-node scaling so that no result underflows. Ascertainment
 * correction, weights of merged columns and rate mixtures are the caller's business.
 *
 * Rate assignments. A parameter set gives either one (gain, loss) pair for every branch
 * (GC_RATES_GLOBAL) or one pair per node (GC_RATES_PER_BRANCH): the pair of node v is the rate
 * of the branch above v, and the root's pair sets the root prior (its stationary distribution).
 * Derivatives are directional: each set has two tangent directions over its log-rates, by
 * default "every log gain moves by 1" and "every log loss moves by 1", so that a global set's
 * derivatives are d/d log(gain) and d/d log(loss).
 *
 * The tree, as flat arrays (tips first, then internal nodes in post-order):
 *   nodes 0 .. n_tips-1 are tips, in the order of the columns of `states`;
 *   nodes n_tips .. n_nodes-1 are internal, and parent[i] > i for every i < n_nodes-1;
 *   node n_nodes-1 is the root, parent[n_nodes-1] == -1;
 *   every internal node has at least one child (unary nodes and multifurcations are allowed);
 *   branch_length[i] is the length of the branch above node i, finite and >= 0 (the root's
 *   entry is ignored). A single-tip tree is n_tips = n_nodes = 1.
 *
 * Ownership. Every pointer argument is borrowed for the duration of the call only; the kernel
 * copies what it keeps. Output buffers are owned by the caller and must hold exactly the number
 * of elements stated. A gc_dataset is created by gc_dataset_new and owned by the caller, who
 * releases it exactly once with gc_dataset_free.
 *
 * Empty inputs. A pointer whose length is 0 may be NULL (an empty typed array arrives as NULL).
 * A pointer whose length is not 0 must not be NULL.
 *
 * Errors. Every function that can fail returns a status code (GC_OK = 0 on success) and, when
 * `err` is not NULL and err_len > 0, writes a NUL-terminated UTF-8 message (truncated to fit)
 * into `err`. There is no global or thread-local "last error". No Rust panic crosses the ABI:
 * an internal bug is caught and reported as GC_ERR_PANIC.
 *
 * Thread safety. gc_abi_version, gc_abi_minor and gc_dataset_new may be called from any thread.
 * A gc_dataset is immutable after creation: gc_evaluate, gc_expectations, gc_loglik and
 * gc_dataset_info may be called
 * concurrently on the same dataset from several threads (each call takes its own scratch
 * space). gc_dataset_free must not race with any other call on the same dataset. The work runs
 * on one process-wide pool of worker threads per thread count, shared by every dataset created
 * with that count; pools start on first use and live until the process ends, so opening many
 * datasets does not start more threads. Results are bit-identical whatever the number of
 * threads, and a pattern's result does not depend on which other patterns are evaluated.
 */
#ifndef GENECONTENT_H
#define GENECONTENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GC_ABI_VERSION 2u
#define GC_ABI_MINOR 3u

/* Status codes. */
#define GC_OK 0
#define GC_ERR_NULL_POINTER 1     /* a pointer with a nonzero length was NULL */
#define GC_ERR_INVALID_ARGUMENT 2 /* a length, index, state, rate or tangent is out of range */
#define GC_ERR_CANCELLED 3        /* the caller set the cancel flag during an evaluation */
#define GC_ERR_PANIC 4            /* an internal bug, caught at the boundary */

/* Algorithms for gc_dataset_new. */
#define GC_ALGO_AUTO 0   /* the fastest exact algorithm (currently GC_ALGO_SPARSE) */
#define GC_ALGO_DENSE 1  /* straightforward per-pattern pruning over every node: the baseline */
#define GC_ALGO_SPARSE 2 /* sparse pruning: only the mixed nodes of each pattern, chains of them
                           as precomputed 2x2 products (blocked minority-state pruning where most
                           nodes of most patterns branch) */

/* Rate layouts of gc_eval_args.layout. */
#define GC_RATES_GLOBAL 0     /* 2 rates per set: [gain, loss] for every branch */
#define GC_RATES_PER_BRANCH 1 /* 2 * n_nodes rates per set: [gain_v, loss_v] for node v = 0, 1, ...
                                 (the branch above v; the root's pair sets the root prior) */

typedef struct gc_dataset gc_dataset;

/* The ABI version of the loaded library (GC_ABI_VERSION of the header it was built from). */
uint32_t gc_abi_version(void);

/* The minor ABI version of the loaded library (GC_ABI_MINOR of its header; since minor 1). */
uint32_t gc_abi_minor(void);

/*
 * Validates the tree and the patterns, precomputes what does not depend on the rates, and
 * returns a new dataset in *out_dataset (set to NULL on failure).
 *   parent, branch_length: n_nodes elements each (see "The tree" above).
 *   states: n_patterns * n_tips bytes, pattern-major (states[p * n_tips + tip]), each 0, 1 or 2.
 *   n_threads: worker threads for this dataset; 0 means one per available CPU.
 *   algorithm: one of GC_ALGO_*.
 */
int32_t gc_dataset_new(uint64_t n_tips, uint64_t n_nodes, const int32_t *parent,
                       const double *branch_length, uint64_t n_patterns, const uint8_t *states,
                       uint32_t n_threads, uint32_t algorithm, gc_dataset **out_dataset,
                       char *err, uint64_t err_len);

/* Releases a dataset. NULL is a no-op. */
void gc_dataset_free(gc_dataset *dataset);

/*
 * Writes min(out_len, 5) values into out: n_tips, n_nodes, n_patterns, n_threads, algorithm
 * (the one actually used).
 */
int32_t gc_dataset_info(const gc_dataset *dataset, uint64_t *out, uint64_t out_len,
                        char *err, uint64_t err_len);

/*
 * Evaluates n_sets global parameter sets on every pattern of the dataset (the ABI 1 entry point;
 * gc_evaluate with GC_RATES_GLOBAL, no tangents and no subset gives the same results).
 *   rates: 2 * n_sets doubles, [gain_0, loss_0, gain_1, loss_1, ...], each finite and > 0.
 *   out_loglik: exactly n_sets * n_patterns doubles, set-major: out_loglik[k * n_patterns + p].
 *   out_grad: NULL with grad_len 0 for values only; otherwise exactly 2 * n_sets * n_patterns
 *     doubles: out_grad[(k * n_patterns + p) * 2 + j] is the derivative of out_loglik[k*n_patterns+p]
 *     with respect to log(gain_k) (j = 0) and log(loss_k) (j = 1).
 *   progress: NULL, or 3 uint64 values shared with the caller and accessed atomically:
 *     progress[0] (written by the kernel): work units done so far;
 *     progress[1] (written by the kernel at the start): total work units;
 *     progress[2] (written by the caller): set nonzero to cancel; the call then returns
 *     GC_ERR_CANCELLED soon, with the outputs unspecified.
 */
int32_t gc_loglik(const gc_dataset *dataset, uint64_t n_sets, const double *rates,
                  double *out_loglik, uint64_t out_len, double *out_grad, uint64_t grad_len,
                  uint64_t *progress, char *err, uint64_t err_len);

/*
 * The arguments of gc_evaluate. The struct grows only at its end: a later ABI may append
 * fields, never move or remove one. The caller sets struct_size to its sizeof(gc_eval_args);
 * the library accepts any struct_size >= the size of the fields it knows (112 bytes in version
 * 2 on 64-bit platforms), reads only those, and rejects a smaller struct_size with
 * GC_ERR_INVALID_ARGUMENT. Appended fields are such that zero means "as before", so zero the
 * whole struct (e.g. `gc_eval_args a = {0};` or memset) and set what you use. A caller that
 * needs a field a library might not know checks gc_abi_version first.
 *
 * Let r be the number of rates per set (2 for GC_RATES_GLOBAL, 2 * n_nodes for
 * GC_RATES_PER_BRANCH) and n_eval the number of evaluated patterns (patterns_len, or
 * n_patterns of the dataset when patterns is NULL). Every length below must be exact.
 */
typedef struct gc_eval_args {
  uint64_t struct_size;    /* sizeof(gc_eval_args) of the caller */
  uint64_t n_sets;         /* number of parameter sets (rate assignments) */
  uint32_t layout;         /* GC_RATES_GLOBAL or GC_RATES_PER_BRANCH */
  uint32_t reserved;       /* must be 0 */
  const double *rates;     /* n_sets * r rates, each finite and > 0: set k is rates[k*r .. k*r+r) */
  uint64_t rates_len;
  const double *tangents;  /* NULL with tangents_len 0: the default directions (d log gain and
                              d log loss of every rate). Otherwise n_sets * 2 * r finite values:
                              tangents[(k*2 + j)*r + i] is the derivative of log(rates[k*r + i])
                              along direction j (0 or 1) of set k. Checked even without
                              out_grad (then unused). */
  uint64_t tangents_len;
  const uint32_t *patterns; /* NULL with patterns_len 0: every pattern. Otherwise strictly
                               increasing pattern indices below n_patterns; only these are
                               evaluated, and results are laid out over them in this order. */
  uint64_t patterns_len;
  double *out_loglik;      /* n_sets * n_eval doubles: out_loglik[k*n_eval + i], the natural-log
                              probability of (the i-th evaluated) pattern under set k */
  uint64_t out_loglik_len;
  double *out_grad;        /* NULL with out_grad_len 0 for values only; otherwise exactly
                              2 * n_sets * n_eval doubles: out_grad[(k*n_eval + i)*2 + j] is the
                              derivative of out_loglik[k*n_eval + i] along direction j of set k */
  uint64_t out_grad_len;
  uint64_t *progress;      /* NULL, or 3 uint64 values as for gc_loglik (total = n_sets * n_eval) */
} gc_eval_args;

/*
 * Evaluates the rate assignments of `args` on the dataset's patterns (or the listed ones).
 * Ownership: every pointer in `args`, and `args` itself, is borrowed for the call only; the
 * output buffers are the caller's. Errors (GC_ERR_NULL_POINTER for a NULL dataset or args or a
 * NULL pointer with a nonzero length; GC_ERR_INVALID_ARGUMENT for a struct_size that is too
 * small, an unknown layout, a nonzero reserved field, a length that is not exact, a rate that is
 * not finite and > 0, a tangent that is not finite, or a pattern list
 * that is not strictly increasing or names a pattern >= n_patterns; the message names the
 * field, index and value) leave the outputs untouched. With progress, GC_ERR_CANCELLED as for
 * gc_loglik.
 */
int32_t gc_evaluate(const gc_dataset *dataset, const gc_eval_args *args, char *err,
                    uint64_t err_len);

/*
 * The arguments of gc_expectations (since minor 1). Grows only at its end, with struct_size as
 * for gc_eval_args (128 bytes in version 2.1 on 64-bit platforms; zero the whole struct and set
 * what you use). r and n_eval are as for gc_eval_args; every length below must be exact.
 */
typedef struct gc_expect_args {
  uint64_t struct_size;      /* sizeof(gc_expect_args) of the caller */
  uint64_t n_sets;           /* number of parameter sets (rate assignments) */
  uint32_t layout;           /* GC_RATES_GLOBAL or GC_RATES_PER_BRANCH */
  uint32_t reserved;         /* must be 0 */
  const double *rates;       /* n_sets * r rates, each finite and > 0, as for gc_eval_args */
  uint64_t rates_len;
  const uint32_t *patterns;  /* NULL with length 0 (every pattern) or strictly increasing
                                indices below n_patterns, as for gc_eval_args */
  uint64_t patterns_len;
  const double *weights;     /* NULL with length 0: every weight 1. Otherwise n_sets * n_eval
                                finite weights, weights[k*n_eval + i] of evaluated pattern i in
                                set k; a weight of 0 leaves the pattern out of the sums */
  uint64_t weights_len;
  double *out_loglik;        /* n_sets * n_eval doubles: out_loglik[k*n_eval + i], as gc_evaluate
                                computes it */
  uint64_t out_loglik_len;
  double *out_branch;        /* n_sets * n_nodes * 4 doubles (see gc_expectations) */
  uint64_t out_branch_len;
  double *out_per_pattern;   /* NULL with length 0, or n_sets * n_eval * n_nodes * 4 doubles:
                                out_per_pattern[((k*n_eval + i)*n_nodes + v)*4 + 2a + b], the
                                weighted terms of out_branch before summing (large: use subsets) */
  uint64_t out_per_pattern_len;
  uint64_t *progress;        /* NULL, or 3 uint64 values as for gc_loglik (total = n_sets * n_eval) */
} gc_expect_args;

/*
 * The inside and outside passes (since minor 1). For pattern p and set k with likelihood L,
 * node v with parent u: I_v(b) is v's inside (pruning) partial for state b (a tip: 1 for its
 * observed state and 0 for the other, (1, 1) when missing); O_v(a) is the probability of the
 * tips outside v's subtree jointly with u in state a (u's outside partial times the messages
 * sum_b P_ab(t_w) I_w(b) of v's siblings w; at the root the outside partial is the root prior).
 * With weight w = weights[k*n_eval + i]:
 *   out_branch[(k*n_nodes + v)*4 + 2a + b] = sum_i w O_v(a) I_v(b) / L     (v not the root)
 *   out_branch[(k*n_nodes + root)*4 + 3a]   = sum_i w pi_a I_root(a) / L   (off-diagonal 0)
 * so that P(u = a, v = b | column) = M_ab P_ab(t_v), with M the unsummed terms, and
 * P(root = a | column) is the root's diagonal term. Expected numbers of gains and losses on a
 * branch, node presence and d logL / d t_v are linear in these with closed-form coefficients.
 * Nodes are numbered as in the caller's tree. Partials are rescaled by powers of two in both
 * passes, so nothing underflows on deep trees; sums run over patterns in a fixed order (fixed
 * chunks of evaluated patterns, chunks in order), so the results are bit-identical whatever the
 * number of threads, and a pattern's terms do not depend on which other patterns are evaluated.
 * A pattern of likelihood 0 (conflicting tips joined by zero-length branches) has log-likelihood
 * -inf and, with a nonzero weight, non-finite terms. Work: without out_per_pattern, per
 * pattern only the nodes whose subtree holds more than one tip state (0, 1, missing), and one
 * sweep per set carries the summed outside vectors down the uniform subtrees (their partials
 * are shared by every pattern); with out_per_pattern, every node of every pattern (dense). The
 * two agree to rounding (~1e-15 relative per term); each is bit-identical across thread counts.
 * The dataset keeps its tip states at 2 bits per cell for this pass.
 * Ownership: every pointer in `args`, and `args` itself, is borrowed for the call only; the
 * output buffers are the caller's. Errors as for gc_evaluate (GC_ERR_NULL_POINTER,
 * GC_ERR_INVALID_ARGUMENT for a struct_size that is too small, an unknown layout, a nonzero
 * reserved field, a length that is not exact, a rate that is not finite and > 0, a weight that
 * is not finite or a bad pattern list; the message names the field, index and value) leave the
 * outputs untouched. With progress, GC_ERR_CANCELLED as for gc_loglik (outputs unspecified).
 */
int32_t gc_expectations(const gc_dataset *dataset, const gc_expect_args *args, char *err,
                        uint64_t err_len);

/* ----- Trees from a presence/absence matrix: distances, neighbour joining, UPGMA. -----
 *
 * These two exports need no dataset. Look their symbols up before use (a library built before
 * them lacks them); the minor version that introduces them is set by the library's
 * GC_ABI_MINOR. Their constants are enumerations (checked against rust/src/distances.rs,
 * rust/src/tree_building.rs and lib/tree_building/native.ts by tests/tree_building_test.ts).
 * Both run on the process-wide pool of n_threads workers (0: one per CPU) and give
 * bit-identical results for any thread count. Pointers are borrowed for the call only; output
 * buffers are the caller's; errors return a status code and a message in err as above.
 */

/* Distance metrics of gc_distance_args.metric. With o the families observed (not missing) in
   both genomes, n_both = |o|, n_diff = families of o present in exactly one, n_union = families
   of o present in at least one: */
enum gc_distance_metric {
  GC_DISTANCE_JACCARD = 0, /* n_diff / n_union: 1 - Jaccard similarity of the present sets */
  GC_DISTANCE_HAMMING = 1  /* n_diff / n_both: mismatches per family observed in both */
};

/*
 * The arguments of gc_distances (80 bytes on 64-bit platforms). Grows only at its end, with
 * struct_size as for gc_eval_args (zero the whole struct and set what you use).
 */
typedef struct gc_distance_args {
  uint64_t struct_size;      /* sizeof(gc_distance_args) of the caller */
  uint64_t n_genomes;        /* genomes (>= 2) */
  uint64_t n_families;       /* families (>= 0) */
  uint32_t metric;           /* GC_DISTANCE_JACCARD or GC_DISTANCE_HAMMING */
  uint32_t n_threads;        /* worker threads; 0: one per CPU */
  const uint8_t *states;     /* n_families * n_genomes cells, family-major (as a PAM's rows):
                                states[f * n_genomes + g], each 0 absent, 1 present, 2 missing */
  uint64_t states_len;
  double *out;               /* n_genomes (n_genomes - 1) / 2 distances, condensed as SciPy's
                                pdist: pair (i, j), i < j, at i n - i (i + 1) / 2 + j - i - 1 */
  uint64_t out_len;
  uint64_t *out_failed_pair; /* NULL with length 0, or 2 values (see gc_distances) */
  uint64_t out_failed_pair_len;
} gc_distance_args;

/*
 * Distances between every pair of genomes, missing cells excluded pair by pair (each genome is
 * packed into a presence and an observed bitset; the pairs run in tiles, in parallel). Each
 * distance is one IEEE division of two integer counts. A pair with n_both = 0 (no family
 * observed in both), or for Jaccard n_union = 0 (nothing present in either), has no distance:
 * the call returns GC_ERR_INVALID_ARGUMENT naming the first such pair (row-major, 0-based) and,
 * when out_failed_pair is given, writes its two genome indices there; out is then unspecified.
 * Other errors: a cell other than 0, 1 or 2 (named), a length that is not exact, an unknown
 * metric, fewer than 2 genomes, struct_size too small.
 */
int32_t gc_distances(const gc_distance_args *args, char *err, uint64_t err_len);

/* Tree-building methods of gc_tree_args.method. */
enum gc_tree_method {
  GC_TREE_NJ = 0,   /* neighbour joining: unrooted, written with a root of 3 children */
  GC_TREE_UPGMA = 1 /* UPGMA (average linkage): rooted, ultrametric */
};

/*
 * The arguments of gc_build_tree (88 bytes on 64-bit platforms). Grows only at its end, with
 * struct_size as for gc_eval_args.
 */
typedef struct gc_tree_args {
  uint64_t struct_size;        /* sizeof(gc_tree_args) of the caller */
  uint64_t n_taxa;             /* n: >= 3 for NJ, >= 2 for UPGMA */
  uint32_t method;             /* GC_TREE_NJ or GC_TREE_UPGMA */
  uint32_t n_threads;          /* worker threads; 0: one per CPU */
  const double *distances;     /* n (n - 1) / 2 condensed distances (as gc_distances writes
                                  them), each finite and >= 0 */
  uint64_t distances_len;
  int32_t *out_parent;         /* 2n - 2 (NJ) or 2n - 1 (UPGMA) parents, written: tips 0..n-1 in
                                  input order, internal nodes in the order they were made (every
                                  parent above its children), the root last with parent -1 */
  uint64_t out_parent_len;
  double *out_branch_length;   /* as many lengths, written (the root's is 0) */
  uint64_t out_branch_length_len;
  uint64_t *out_clamped;       /* NULL with length 0, or 1 value: negative lengths set to 0 */
  uint64_t out_clamped_len;
} gc_tree_args;

/*
 * Builds a tree from distances. Neighbour joining (Saitou and Nei 1987, Studier and Keppler's
 * Q): with r active clusters at positions 0..n-1 and R_a the sum of a's distances to the active
 * clusters, joins the pair a < b of least Q = (r - 2) d_ab - R_a - R_b (ties: the lowest pair in
 * position order) into a new node at position a, with lengths
 * l_a = d_ab / 2 + (R_a - R_b) / (2 (r - 2)) and l_b = d_ab - l_a, and distances
 * d_uc = (d_ac + d_bc - d_ab) / 2 (R_c then becomes ((R_c - d_ac) - d_bc) + d_uc, and R_u the
 * sum of the d_uc in position order). The least Q is found with sorted rows and a bound, as
 * RapidNJ does, with the exhaustive search's result. A negative length is set to 0 and added to
 * its sister's (the pair's path length is kept; both are 0 when d_ab itself is negative). The
 * last of the 3 clusters joins the last node with (d_ac + d_bc - d_ab) / 2 (0 if negative).
 * O(n^3) time at worst, 24 n^2 bytes of memory; NJ runs on one thread (n_threads is used for
 * its set-up and for UPGMA). UPGMA joins the pair of least distance (ties: the lowest pair) at height d_ab / 2, with size-weighted average
 * distances. Errors: too few taxa, a distance that is not finite and >= 0 (named), a length
 * that is not exact, an unknown method, struct_size too small.
 */
int32_t gc_build_tree(const gc_tree_args *args, char *err, uint64_t err_len);

/*
 * The per-family long TSV of an ancestral reconstruction (gc_family_table; an addition after
 * minor 1: look the symbol up). Rows "family\tnode\tquantity\tvalue\n": for every family in
 * order, for every node in order, one row per quantity code in `quantities` (0 pPresent, 1
 * gains, 2 losses; gains and losses are not written for the root, the last node). The values of
 * family f are row family_rows[f] of `present`, `gains` and `losses` (n_rows * n_nodes doubles
 * each, row-major), so families that share a column pattern share a row.
 *
 * Values have 6 significant digits: exactly 0 (either sign) is "0" and exactly 1 is "1";
 * otherwise the digits are correctly rounded, ties away from zero, and written as a plain
 * decimal keeping trailing zeros when the rounded value's decimal exponent e is in -4..5
 * ("0.000123457", "0.500000", "123457"), else as d.ddddde+x or d.ddddde-x ("5.32996e-6",
 * "1.23457e+6"): ECMAScript's toPrecision(6), with exponential notation from e < -4 as in C's
 * %g. Six digits bound the relative rounding error by 5e-6, far below the uncertainty of any
 * fitted model, and keep the table short (the tables run to hundreds of millions of rows).
 *
 * The rows are formatted in parallel, in blocks of about 4 MiB. With gzip_level 1..9 every
 * block is compressed on its own as raw deflate data ended by a sync flush (an empty stored
 * block: byte-aligned, not final), as pigz does, so the output of successive calls, one after
 * another, is one deflate stream, and crc[0] (CRC-32 of the text so far, low 32 bits) and
 * crc[1] (its length) are carried on over the call's text. A gzip file is then the 10-byte
 * header 1f 8b 08 00 00 00 00 00 00 ff, the output of every call, the final empty block 03 00,
 * and the trailer: crc[0] and crc[1] mod 2^32, 4 bytes each, little-endian (one member, which
 * every gzip reader reads). The text (or the deflate data) goes to `out`; out_written[0] is
 * set to its length, or, when it does not fit, to the length needed (GC_ERR_INVALID_ARGUMENT,
 * nothing written to `out`, crc unchanged), and out_written[1] to the length of the text
 * before compression. Names are
 * byte strings given as one buffer and their end offsets; a family name or node id that is
 * empty or holds a tab or line break, and a value that is not finite (named by family, quantity
 * and node), are GC_ERR_INVALID_ARGUMENT.
 *
 * Since minor 3, rows whose value is below min_value are left out (min_value 0 writes every
 * row), and *out_rows (when out_rows_len is 1) is set to the rows written. The struct grows by
 * appended fields: a caller built against minor 2 passes struct_size 216, and the fields it
 * lacks read as 0 (every row written, rows not reported). A minor-2 library ignores fields
 * past its 216 bytes: check gc_abi_minor() >= 3 before relying on min_value.
 */
typedef struct gc_family_table_args {
  uint64_t struct_size;             /* sizeof(gc_family_table_args): 240 bytes on 64-bit
                                       (216 before minor 3, still accepted) */
  uint64_t n_nodes;                 /* nodes of the tree, >= 1; the last is the root */
  uint32_t n_threads;               /* worker threads, 0 for one per core */
  uint32_t gzip_level;              /* 0: plain text; 1..9: deflate pieces at that level */
  const uint8_t *quantities;        /* 1 to 3 distinct codes: 0 pPresent, 1 gains, 2 losses */
  uint64_t quantities_len;
  const double *present;            /* n_rows * n_nodes posterior presence probabilities */
  uint64_t present_len;
  const double *gains;              /* n_rows * n_nodes expected gains on the branch above */
  uint64_t gains_len;
  const double *losses;             /* n_rows * n_nodes expected losses on the branch above */
  uint64_t losses_len;
  const uint8_t *node_ids;          /* the node ids, one after another */
  uint64_t node_ids_len;
  const uint64_t *node_id_ends;     /* n_nodes end offsets into node_ids */
  uint64_t node_id_ends_len;
  const uint8_t *family_names;      /* the family names, one after another */
  uint64_t family_names_len;
  const uint64_t *family_name_ends; /* one end offset per family */
  uint64_t family_name_ends_len;
  const uint32_t *family_rows;      /* one value row (< n_rows) per family */
  uint64_t family_rows_len;
  uint64_t first_family;            /* index of the first family in the whole table (messages) */
  uint8_t *out;                     /* the output buffer */
  uint64_t out_len;                 /* its capacity */
  uint64_t *out_written;            /* 2 values, written: bytes written to out (or needed),
                                       and bytes of the text before compression */
  uint64_t *crc;                    /* gzip_level > 0: 2 values, read and written: CRC-32 and
                                       length of the text before the call, carried on */
  uint64_t crc_len;                 /* 2, or 0 (NULL) for plain text */
  /* Since minor 3: */
  double min_value;                 /* rows whose value is below it are not written; finite,
                                       >= 0; 0 writes every row */
  uint64_t *out_rows;               /* 1 value, written: the rows written (or NULL) */
  uint64_t out_rows_len;            /* 1, or 0 (NULL) */
} gc_family_table_args;

int32_t gc_family_table(const gc_family_table_args *args, char *err, uint64_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* GENECONTENT_H */
