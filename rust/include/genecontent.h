/*
 * genecontent.h: the C ABI of the genecontent pruning kernel (libgenecontent).
 *
 * ABI version 1. Call gc_abi_version() first and refuse to go on if it differs from
 * GC_ABI_VERSION: the layout of every buffer below is part of the version.
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
 * Thread safety. gc_abi_version and gc_dataset_new may be called from any thread. A gc_dataset
 * is immutable after creation: gc_loglik and gc_dataset_info may be called concurrently on the
 * same dataset from several threads (each call takes its own scratch space). gc_dataset_free must
 * not race with any other call on the same dataset. Each dataset runs its work on its own pool
 * of `n_threads` worker threads. Results are bit-identical whatever the number of threads.
 */
#ifndef GENECONTENT_H
#define GENECONTENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GC_ABI_VERSION 1u

/* Status codes. */
#define GC_OK 0
#define GC_ERR_NULL_POINTER 1     /* a pointer with a nonzero length was NULL */
#define GC_ERR_INVALID_ARGUMENT 2 /* a length, index, state or rate is out of range */
#define GC_ERR_CANCELLED 3        /* the caller set the cancel flag during gc_loglik */
#define GC_ERR_PANIC 4            /* an internal bug, caught at the boundary */

/* Algorithms for gc_dataset_new. */
#define GC_ALGO_AUTO 0   /* the fastest exact algorithm (currently GC_ALGO_SPARSE) */
#define GC_ALGO_DENSE 1  /* straightforward per-pattern pruning over every node: the baseline */
#define GC_ALGO_SPARSE 2 /* sparse pruning: only the mixed nodes of each pattern, chains of them
                           as precomputed 2x2 products (blocked minority-state pruning where most
                           nodes of most patterns branch) */

typedef struct gc_dataset gc_dataset;

/* The ABI version of the loaded library (GC_ABI_VERSION of the header it was built from). */
uint32_t gc_abi_version(void);

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
 * Evaluates n_sets parameter sets on every pattern of the dataset.
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

#ifdef __cplusplus
}
#endif

#endif /* GENECONTENT_H */
