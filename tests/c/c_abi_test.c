/*
 * A C caller of libgenecontent, compiled against rust/include/genecontent.h only (run by
 * tests/c_abi_test.ts). On the tree (a:0.3, b:0.7) it evaluates a global and a per-branch set
 * through gc_evaluate and compares with the closed form
 *     P(x_a, x_b) = sum_r pi_r P_{r x_a}(t_a) P_{r x_b}(t_b),
 * checks the derivatives against central differences of that closed form, checks a pattern
 * subset, the error paths (struct_size too small, NULL pointers, a bad subset), and frees the
 * dataset. It also runs gc_expectations (ABI 2.1) with per-branch rates and weights and compares
 * every per-pattern term and branch sum with the closed form
 *     M_a[r][y] = pi_r m_b(r) I_a(y) / L,   root: M[r][r] = pi_r m_a(r) m_b(r) / L,
 * where m_b(r) = sum_y P_{r y}(t_b) I_b(y), and checks its error paths. Prints one line per failure and exits 1 if any check failed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "genecontent.h"

static int failures = 0;
static int checks = 0;
/* The checks of ABI 2.1 (gc_abi_minor, gc_expectations), counted and reported on their own line. */
static int e_failures = 0;
static int e_checks = 0;

#define CHECK(cond, ...)                                                                    \
  do {                                                                                      \
    checks++;                                                                               \
    if (!(cond)) {                                                                          \
      failures++;                                                                           \
      printf("FAIL line %d: ", __LINE__);                                                   \
      printf(__VA_ARGS__);                                                                  \
      printf("\n");                                                                         \
    }                                                                                       \
  } while (0)

/* P_{x y}(t) of the two-state chain with rates g (0 -> 1) and l (1 -> 0). */
static double p(double g, double l, double t, int x, int y) {
  double s = g + l, e = expm1(-s * t), pi1 = g / s, pi0 = l / s;
  if (x == 0) return y == 0 ? 1 + pi1 * e : -pi1 * e;
  return y == 0 ? -pi0 * e : 1 + pi0 * e;
}

/* log P(x_a, x_b) with per-node rates r = [g_a, l_a, g_b, l_b, g_root, l_root]; 2 = missing. */
static double closed_form(const double *r, const double *t, int xa, int xb) {
  double s = r[4] + r[5], pi[2] = {r[5] / s, r[4] / s}, total = 0;
  for (int root = 0; root < 2; root++) {
    double ma = xa == 2 ? 1 : p(r[0], r[1], t[0], root, xa);
    double mb = xb == 2 ? 1 : p(r[2], r[3], t[1], root, xb);
    total += pi[root] * ma * mb;
  }
  return log(total);
}

static int close_to(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

/* The message sum_y P_{r y}(t) I(y) of a tip in state x (2 = missing: 1). */
#define ECHECK(cond, ...)                                                                   \
  do {                                                                                      \
    e_checks++;                                                                             \
    if (!(cond)) {                                                                          \
      e_failures++;                                                                         \
      printf("FAIL line %d: ", __LINE__);                                                   \
      printf(__VA_ARGS__);                                                                  \
      printf("\n");                                                                         \
    }                                                                                       \
  } while (0)

static double msg(double g, double l, double t, int r, int x) { return x == 2 ? 1 : p(g, l, t, r, x); }

/* The checks of the tree-building exports (gc_distances, gc_build_tree), reported on their own
   line. */
static int t_failures = 0;
static int t_checks = 0;

#define TCHECK(cond, ...)                                                                   \
  do {                                                                                      \
    t_checks++;                                                                             \
    if (!(cond)) {                                                                          \
      t_failures++;                                                                         \
      printf("FAIL line %d: ", __LINE__);                                                   \
      printf(__VA_ARGS__);                                                                  \
      printf("\n");                                                                         \
    }                                                                                       \
  } while (0)

/* The checks of the per-family table export (gc_family_table), reported on their own line. */
static int f_failures = 0;
static int f_checks = 0;

#define FCHECK(cond, ...)                                                                   \
  do {                                                                                      \
    f_checks++;                                                                             \
    if (!(cond)) {                                                                          \
      f_failures++;                                                                         \
      printf("FAIL line %d: ", __LINE__);                                                   \
      printf(__VA_ARGS__);                                                                  \
      printf("\n");                                                                         \
    }                                                                                       \
  } while (0)

/* CRC-32 of gzip, bit by bit (an independent reference for the running CRC). */
static uint32_t crc32_bits(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* Two families sharing rows of a 3-node tree, plain text against the text by hand (6
   significant digits, exact 0 and 1), deflate output with its running CRC-32, and errors. */
static void family_table_checks(void) {
  char err[512];
  FCHECK(sizeof(gc_family_table_args) == 240, "sizeof(gc_family_table_args) is %zu",
         sizeof(gc_family_table_args));
  const uint8_t q[3] = {0, 1, 2};
  const double present[6] = {1, 0.25, 0.5, 0, 0.123456789, 0.99999999};
  double gains[6] = {0.125, 0, 9, 5.3299562e-6, 1234565, 9};
  const double losses[6] = {0, 0.5, 9, 0.1 + 0.2, 0.00009999996, 9};
  const char *ids = "abroot";
  const uint64_t id_ends[3] = {1, 2, 6};
  const char *names = "f1fam2";
  const uint64_t name_ends[2] = {2, 6};
  const uint32_t rows[2] = {1, 0};
  uint8_t out[4096];
  uint64_t written[2] = {0, 0};
  gc_family_table_args a;
  memset(&a, 0, sizeof a);
  a.struct_size = sizeof a;
  a.n_nodes = 3;
  a.n_threads = 2;
  a.quantities = q;
  a.quantities_len = 3;
  a.present = present;
  a.present_len = 6;
  a.gains = gains;
  a.gains_len = 6;
  a.losses = losses;
  a.losses_len = 6;
  a.node_ids = (const uint8_t *)ids;
  a.node_ids_len = 6;
  a.node_id_ends = id_ends;
  a.node_id_ends_len = 3;
  a.family_names = (const uint8_t *)names;
  a.family_names_len = 6;
  a.family_name_ends = name_ends;
  a.family_name_ends_len = 2;
  a.family_rows = rows;
  a.family_rows_len = 2;
  a.out = out;
  a.out_len = sizeof out;
  a.out_written = written;
  int32_t rc = gc_family_table(&a, err, sizeof err);
  const char *want =
      "f1\ta\tpPresent\t0\nf1\ta\tgains\t5.32996e-6\nf1\ta\tlosses\t0.300000\n"
      "f1\tb\tpPresent\t0.123457\nf1\tb\tgains\t1.23457e+6\nf1\tb\tlosses\t0.000100000\n"
      "f1\troot\tpPresent\t1.00000\n"
      "fam2\ta\tpPresent\t1\nfam2\ta\tgains\t0.125000\nfam2\ta\tlosses\t0\n"
      "fam2\tb\tpPresent\t0.250000\nfam2\tb\tgains\t0\nfam2\tb\tlosses\t0.500000\n"
      "fam2\troot\tpPresent\t0.500000\n";
  size_t n = strlen(want);
  FCHECK(rc == GC_OK, "gc_family_table: %d %s", rc, err);
  FCHECK(written[0] == n && written[1] == n && memcmp(out, want, n) == 0,
         "plain text: %llu bytes: %.*s", (unsigned long long)written[0], (int)written[0], out);
  /* Deflate pieces: twice, the CRC-32 and length carried on from a starting state. */
  uint64_t crc[2] = {crc32_bits(0, (const uint8_t *)"head\n", 5), 5};
  a.gzip_level = 1;
  a.crc = crc;
  a.crc_len = 2;
  for (int k = 0; k < 2; k++) {
    rc = gc_family_table(&a, err, sizeof err);
    FCHECK(rc == GC_OK && written[1] == n && written[0] >= 4, "deflate %d: %d %s", k, rc, err);
    FCHECK(memcmp(out + written[0] - 4, "\0\0\xff\xff", 4) == 0, "no sync flush at the end");
  }
  uint32_t c = crc32_bits(0, (const uint8_t *)"head\n", 5);
  c = crc32_bits(c, (const uint8_t *)want, n);
  c = crc32_bits(c, (const uint8_t *)want, n);
  FCHECK(crc[0] == c && crc[1] == 5 + 2 * n, "crc %llx len %llu vs %x %zu",
         (unsigned long long)crc[0], (unsigned long long)crc[1], c, 5 + 2 * n);
  gc_family_table_args b = a;
  b.crc_len = 0;
  b.crc = NULL;
  rc = gc_family_table(&b, err, sizeof err);
  FCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "crc_len is 0"), "no crc: %d %s", rc, err);
  /* Errors: a short buffer names the bytes needed; a NaN names family, quantity and node. */
  b = a;
  b.gzip_level = 0;
  b.out_len = 10;
  rc = gc_family_table(&b, err, sizeof err);
  FCHECK(rc == GC_ERR_INVALID_ARGUMENT && written[0] >= n && strstr(err, "out_len is 10"),
         "short: %d %s", rc, err);
  gains[3] = NAN;
  b.out_len = sizeof out;
  rc = gc_family_table(&b, err, sizeof err);
  FCHECK(rc == GC_ERR_INVALID_ARGUMENT &&
             strstr(err, "Family 'f1': gains at node 'a' is NaN; every value must be finite."),
         "NaN: %d %s", rc, err);
  gains[3] = 5.3299562e-6;
  /* min_value (minor 3): rows below 0.2 are left out, and out_rows counts the rest. */
  uint64_t nrows = 99;
  b.min_value = 0.2;
  b.out_rows = &nrows;
  b.out_rows_len = 1;
  rc = gc_family_table(&b, err, sizeof err);
  const char *cut =
      "f1\ta\tlosses\t0.300000\nf1\tb\tgains\t1.23457e+6\nf1\troot\tpPresent\t1.00000\n"
      "fam2\ta\tpPresent\t1\nfam2\tb\tpPresent\t0.250000\nfam2\tb\tlosses\t0.500000\n"
      "fam2\troot\tpPresent\t0.500000\n";
  FCHECK(rc == GC_OK && written[0] == strlen(cut) && memcmp(out, cut, strlen(cut)) == 0 && nrows == 7,
         "min_value 0.2: %d %s, %llu rows: %.*s", rc, err, (unsigned long long)nrows,
         (int)written[0], out);
  /* A caller of minor 2 (struct_size 216, no min_value): every row, rows not reported. */
  b.struct_size = 216;
  nrows = 99;
  rc = gc_family_table(&b, err, sizeof err);
  FCHECK(rc == GC_OK && written[0] == n && memcmp(out, want, n) == 0 && nrows == 99,
         "struct_size 216: %d %s", rc, err);
  b.struct_size = sizeof b;
  b.min_value = -1;
  rc = gc_family_table(&b, err, sizeof err);
  FCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "min_value is -1"), "min_value -1: %d %s", rc,
         err);
  b.min_value = 0;
  b.struct_size = 208;
  rc = gc_family_table(&b, err, sizeof err);
  FCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "struct_size is 208"), "small: %d %s", rc, err);
  rc = gc_family_table(NULL, err, sizeof err);
  FCHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "args"), "NULL args: %d %s", rc, err);
}

/* Distances of a 4-family x 3-genome PAM with missing cells, against counts by hand; NJ on the
   additive distances of ((0:1,1:2):0.5,2:3,3:4) and UPGMA on an ultrametric matrix, against
   their trees; and the error paths. */
static void tree_building_checks(void) {
  char err[512];
  TCHECK(sizeof(gc_distance_args) == 80, "sizeof(gc_distance_args) is %zu", sizeof(gc_distance_args));
  TCHECK(sizeof(gc_tree_args) == 88, "sizeof(gc_tree_args) is %zu", sizeof(gc_tree_args));
  /* Families x genomes (g0, g1, g2); 2 = missing. */
  const uint8_t states[12] = {1, 1, 0, /**/ 0, 1, 2, /**/ 1, 0, 1, /**/ 2, 0, 1};
  /* (g0,g1): observed in both f0, f1, f2: differ in f1, f2; present in either f0, f1, f2.
     (g0,g2): f0, f2: differ in f0; present in f0, f2.
     (g1,g2): f0, f2, f3: differ in all three; present in all three. */
  const double jaccard[3] = {2.0 / 3, 1.0 / 2, 3.0 / 3}, hamming[3] = {2.0 / 3, 1.0 / 2, 3.0 / 3};
  for (uint32_t metric = GC_DISTANCE_JACCARD; metric <= GC_DISTANCE_HAMMING; metric++) {
    double out[3];
    gc_distance_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.n_genomes = 3;
    a.n_families = 4;
    a.metric = metric;
    a.n_threads = 1;
    a.states = states;
    a.states_len = 12;
    a.out = out;
    a.out_len = 3;
    int32_t rc = gc_distances(&a, err, sizeof err);
    TCHECK(rc == GC_OK, "gc_distances metric %u: %d %s", metric, rc, err);
    const double *want = metric == GC_DISTANCE_JACCARD ? jaccard : hamming;
    /* One division of two small integers: exact. */
    for (int k = 0; k < 3; k++) {
      TCHECK(out[k] == want[k], "metric %u pair %d: %.17g vs %.17g", metric, k, out[k], want[k]);
    }
  }
  /* g1 and g2 observed together nowhere: the pair is named and written. */
  const uint8_t apart[6] = {1, 2, 0, /**/ 0, 1, 2};
  uint64_t failed[2] = {9, 9};
  double out[3];
  gc_distance_args a;
  memset(&a, 0, sizeof a);
  a.struct_size = sizeof a;
  a.n_genomes = 3;
  a.n_families = 2;
  a.metric = GC_DISTANCE_HAMMING;
  a.states = apart;
  a.states_len = 6;
  a.out = out;
  a.out_len = 3;
  a.out_failed_pair = failed;
  a.out_failed_pair_len = 2;
  int32_t rc = gc_distances(&a, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "Genomes 1 and 2") && failed[0] == 1 &&
             failed[1] == 2,
         "undefined pair: %d %s (%llu, %llu)", rc, err, (unsigned long long)failed[0],
         (unsigned long long)failed[1]);
  gc_distance_args bad = a;
  bad.struct_size = 72;
  rc = gc_distances(&bad, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "struct_size is 72"), "small: %d %s", rc, err);
  rc = gc_distances(NULL, err, sizeof err);
  TCHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "args"), "NULL args: %d %s", rc, err);
  bad = a;
  bad.metric = 5;
  rc = gc_distances(&bad, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "metric is 5"), "metric: %d %s", rc, err);
  const uint8_t three[6] = {1, 3, 0, 0, 1, 1};
  bad = a;
  bad.states = three;
  rc = gc_distances(&bad, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "is 3"), "cell 3: %d %s", rc, err);
  bad = a;
  bad.out_len = 2;
  rc = gc_distances(&bad, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "out_len is 2"), "out_len: %d %s", rc, err);

  /* NJ: ((0:1,1:2):0.5,2:3,3:4), condensed (0,1) (0,2) (0,3) (1,2) (1,3) (2,3). */
  const double additive[6] = {3, 4.5, 5.5, 5.5, 6.5, 7};
  int32_t parent[7];
  double length[7];
  uint64_t clamped = 99;
  gc_tree_args t;
  memset(&t, 0, sizeof t);
  t.struct_size = sizeof t;
  t.n_taxa = 4;
  t.method = GC_TREE_NJ;
  t.distances = additive;
  t.distances_len = 6;
  t.out_parent = parent;
  t.out_parent_len = 6;
  t.out_branch_length = length;
  t.out_branch_length_len = 6;
  t.out_clamped = &clamped;
  t.out_clamped_len = 1;
  rc = gc_build_tree(&t, err, sizeof err);
  TCHECK(rc == GC_OK, "gc_build_tree NJ: %d %s", rc, err);
  const int32_t nj_parent[6] = {4, 4, 5, 5, 5, -1};
  const double nj_length[6] = {1, 2, 3, 4, 0.5, 0};
  for (int v = 0; v < 6; v++) {
    TCHECK(parent[v] == nj_parent[v], "NJ parent[%d] = %d", v, parent[v]);
    /* Sums and halvings of small numbers. */
    TCHECK(fabs(length[v] - nj_length[v]) <= 1e-12, "NJ length[%d] = %.17g", v, length[v]);
  }
  TCHECK(clamped == 0, "NJ clamped %llu", (unsigned long long)clamped);
  /* UPGMA: ((0,1) at height 1, (2,3) at height 3) at height 4. */
  const double ultrametric[6] = {2, 8, 8, 8, 8, 6};
  gc_tree_args u = t;
  u.method = GC_TREE_UPGMA;
  u.distances = ultrametric;
  u.out_parent_len = 7;
  u.out_branch_length_len = 7;
  rc = gc_build_tree(&u, err, sizeof err);
  TCHECK(rc == GC_OK, "gc_build_tree UPGMA: %d %s", rc, err);
  const int32_t up_parent[7] = {4, 4, 5, 5, 6, 6, -1};
  const double up_length[7] = {1, 1, 3, 3, 3, 1, 0};
  for (int v = 0; v < 7; v++) {
    TCHECK(parent[v] == up_parent[v] && length[v] == up_length[v], "UPGMA node %d: %d %.17g", v,
           parent[v], length[v]);
  }
  gc_tree_args tb = t;
  tb.out_parent_len = 7;
  rc = gc_build_tree(&tb, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "out_parent_len is 7"), "len: %d %s", rc, err);
  const double nan_d[6] = {3, 4.5, NAN, 5.5, 6.5, 7};
  tb = t;
  tb.distances = nan_d;
  rc = gc_build_tree(&tb, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "distances[2]"), "NaN: %d %s", rc, err);
  tb = t;
  tb.n_taxa = 2;
  tb.distances_len = 1;
  tb.out_parent_len = 2;
  tb.out_branch_length_len = 2;
  rc = gc_build_tree(&tb, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "at least 3 taxa"), "n=2: %d %s", rc, err);
  tb = t;
  tb.method = 9;
  rc = gc_build_tree(&tb, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "method is 9"), "method: %d %s", rc, err);
  tb = t;
  tb.struct_size = 80;
  rc = gc_build_tree(&tb, err, sizeof err);
  TCHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "struct_size is 80"), "small: %d %s", rc, err);
}

static gc_eval_args base_args(void) {
  gc_eval_args a;
  memset(&a, 0, sizeof a);
  a.struct_size = sizeof a;
  return a;
}

int main(void) {
  CHECK(gc_abi_version() == GC_ABI_VERSION, "gc_abi_version() %u vs header %u", gc_abi_version(),
        GC_ABI_VERSION);
  CHECK(sizeof(gc_eval_args) == 112, "sizeof(gc_eval_args) is %zu", sizeof(gc_eval_args));
  ECHECK(sizeof(gc_expect_args) == 128, "sizeof(gc_expect_args) is %zu", sizeof(gc_expect_args));
  ECHECK(gc_abi_minor() == GC_ABI_MINOR && GC_ABI_MINOR >= 1, "gc_abi_minor() %u vs header %u",
        gc_abi_minor(), GC_ABI_MINOR);
  /* Nodes: tip a, tip b, root. Patterns: every combination of 0, 1, missing. */
  const int32_t parent[3] = {2, 2, -1};
  const double bl[3] = {0.3, 0.7, 0};
  uint8_t states[18];
  for (int k = 0; k < 9; k++) {
    states[2 * k] = (uint8_t)(k / 3);
    states[2 * k + 1] = (uint8_t)(k % 3);
  }
  char err[512];
  for (uint32_t algo = GC_ALGO_DENSE; algo <= GC_ALGO_SPARSE; algo++) {
    gc_dataset *ds = NULL;
    int32_t rc = gc_dataset_new(2, 3, parent, bl, 9, states, 1, algo, &ds, err, sizeof err);
    CHECK(rc == GC_OK && ds != NULL, "gc_dataset_new: %d %s", rc, err);
    if (rc != GC_OK) continue;

    /* Set 0 global (0.4, 1.3); set 1 per branch. */
    const double global[2] = {0.4, 1.3};
    const double per_node[6] = {0.2, 2.5, 1.7, 0.6, 0.9, 0.45};
    double out[9], grad[18];
    for (int layout = 0; layout < 2; layout++) {
      gc_eval_args a = base_args();
      a.n_sets = 1;
      a.layout = layout == 0 ? GC_RATES_GLOBAL : GC_RATES_PER_BRANCH;
      a.rates = layout == 0 ? global : per_node;
      a.rates_len = layout == 0 ? 2 : 6;
      a.out_loglik = out;
      a.out_loglik_len = 9;
      a.out_grad = grad;
      a.out_grad_len = 18;
      rc = gc_evaluate(ds, &a, err, sizeof err);
      CHECK(rc == GC_OK, "gc_evaluate layout %d: %d %s", layout, rc, err);
      double r[6];
      for (int v = 0; v < 3; v++) {
        r[2 * v] = layout == 0 ? global[0] : per_node[2 * v];
        r[2 * v + 1] = layout == 0 ? global[1] : per_node[2 * v + 1];
      }
      for (int k = 0; k < 9; k++) {
        double want = closed_form(r, bl, k / 3, k % 3);
        /* A handful of rounded operations on numbers near 1. */
        CHECK(close_to(out[k], want, 1e-14), "algo %u layout %d pattern %d: %.17g vs %.17g", algo,
              layout, k, out[k], want);
        /* Default directions: every log gain (j = 0) or every log loss (j = 1) moves. Central
           differences with h = 1e-5: truncation ~1e-10, rounding ~1e-11. */
        for (int j = 0; j < 2; j++) {
          double h = 1e-5, up[6], down[6];
          for (int i = 0; i < 6; i++) {
            double f = i % 2 == j ? exp(h) : 1;
            up[i] = r[i] * f;
            down[i] = r[i] / f;
          }
          double fd = (closed_form(up, bl, k / 3, k % 3) - closed_form(down, bl, k / 3, k % 3)) /
                      (2 * h);
          CHECK(close_to(grad[2 * k + j], fd, 1e-8), "algo %u layout %d pattern %d dir %d: %g vs %g",
                algo, layout, k, j, grad[2 * k + j], fd);
        }
      }
    }

    /* A subset: patterns 2 and 7 of the per-branch set, in that order. */
    const uint32_t subset[2] = {2, 7};
    double sub[2];
    gc_eval_args a = base_args();
    a.n_sets = 1;
    a.layout = GC_RATES_PER_BRANCH;
    a.rates = per_node;
    a.rates_len = 6;
    a.patterns = subset;
    a.patterns_len = 2;
    a.out_loglik = sub;
    a.out_loglik_len = 2;
    rc = gc_evaluate(ds, &a, err, sizeof err);
    CHECK(rc == GC_OK, "subset: %d %s", rc, err);
    CHECK(sub[0] == out[2] && sub[1] == out[7], "subset %g %g vs %g %g", sub[0], sub[1], out[2],
          out[7]);

    /* Error paths. */
    gc_eval_args small = a;
    small.struct_size = 16;
    rc = gc_evaluate(ds, &small, err, sizeof err);
    CHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "struct_size is 16"), "small: %d %s", rc,
          err);
    rc = gc_evaluate(ds, NULL, err, sizeof err);
    CHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "args"), "NULL args: %d %s", rc, err);
    rc = gc_evaluate(NULL, &a, err, sizeof err);
    CHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "dataset"), "NULL dataset: %d %s", rc, err);
    gc_eval_args no_rates = a;
    no_rates.rates = NULL;
    rc = gc_evaluate(ds, &no_rates, err, sizeof err);
    CHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "rates"), "NULL rates: %d %s", rc, err);
    const uint32_t bad[2] = {7, 2};
    gc_eval_args bad_subset = a;
    bad_subset.patterns = bad;
    rc = gc_evaluate(ds, &bad_subset, err, sizeof err);
    CHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "patterns[1] is 2"), "bad subset: %d %s",
          rc, err);
    const uint32_t far[2] = {2, 9};
    bad_subset.patterns = far;
    rc = gc_evaluate(ds, &bad_subset, err, sizeof err);
    CHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "not below n_patterns (9)"),
          "subset out of range: %d %s", rc, err);
    gc_eval_args bad_layout = a;
    bad_layout.layout = 7;
    rc = gc_evaluate(ds, &bad_layout, err, sizeof err);
    CHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "layout is 7"), "layout: %d %s", rc, err);
    /* The ABI 1 entry point gives the same global values. */
    double old[9];
    rc = gc_loglik(ds, 1, global, old, 9, NULL, 0, NULL, err, sizeof err);
    CHECK(rc == GC_OK, "gc_loglik: %d %s", rc, err);
    a = base_args();
    a.n_sets = 1;
    a.rates = global;
    a.rates_len = 2;
    a.out_loglik = out;
    a.out_loglik_len = 9;
    rc = gc_evaluate(ds, &a, err, sizeof err);
    CHECK(rc == GC_OK && memcmp(old, out, sizeof old) == 0, "gc_loglik differs from gc_evaluate");

    /* gc_expectations: per-branch rates, weights, per-pattern terms. */
    double w[9], ell[9], branch[12], per[9 * 12];
    for (int k = 0; k < 9; k++) w[k] = 0.5 + k;
    gc_expect_args e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.n_sets = 1;
    e.layout = GC_RATES_PER_BRANCH;
    e.rates = per_node;
    e.rates_len = 6;
    e.weights = w;
    e.weights_len = 9;
    e.out_loglik = ell;
    e.out_loglik_len = 9;
    e.out_branch = branch;
    e.out_branch_len = 12;
    e.out_per_pattern = per;
    e.out_per_pattern_len = 9 * 12;
    rc = gc_expectations(ds, &e, err, sizeof err);
    ECHECK(rc == GC_OK, "gc_expectations: %d %s", rc, err);
    const double *r = per_node;
    double s = r[4] + r[5], pi[2] = {r[5] / s, r[4] / s}, sum[12] = {0};
    for (int k = 0; k < 9; k++) {
      int xa = k / 3, xb = k % 3;
      double lik = exp(closed_form(r, bl, xa, xb));
      ECHECK(close_to(ell[k], log(lik), 1e-14), "expectations logLik %d", k);
      double want[12] = {0};
      for (int root = 0; root < 2; root++) {
        double ma = msg(r[0], r[1], bl[0], root, xa), mb = msg(r[2], r[3], bl[1], root, xb);
        for (int y = 0; y < 2; y++) {
          want[2 * root + y] = pi[root] * mb * (xa == 2 || xa == y) / lik;     /* branch a */
          want[4 + 2 * root + y] = pi[root] * ma * (xb == 2 || xb == y) / lik; /* branch b */
        }
        want[8 + 3 * root] = pi[root] * ma * mb / lik;
      }
      for (int i = 0; i < 12; i++) {
        /* A few rounded products and one division of numbers near 1. */
        ECHECK(close_to(per[12 * k + i], w[k] * want[i], 1e-14), "pattern %d term %d: %.17g vs %.17g",
              k, i, per[12 * k + i], w[k] * want[i]);
        sum[i] += w[k] * want[i];
      }
    }
    for (int i = 0; i < 12; i++) {
      ECHECK(close_to(branch[i], sum[i], 1e-13), "branch sum %d: %.17g vs %.17g", i, branch[i], sum[i]);
    }
    /* Error paths leave the outputs untouched. */
    double keep = branch[0];
    gc_expect_args esmall = e;
    esmall.struct_size = 120;
    rc = gc_expectations(ds, &esmall, err, sizeof err);
    ECHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "struct_size is 120"), "small: %d %s", rc, err);
    rc = gc_expectations(ds, NULL, err, sizeof err);
    ECHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "args"), "NULL args: %d %s", rc, err);
    rc = gc_expectations(NULL, &e, err, sizeof err);
    ECHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "dataset"), "NULL dataset: %d %s", rc, err);
    gc_expect_args ebad = e;
    ebad.out_branch = NULL;
    rc = gc_expectations(ds, &ebad, err, sizeof err);
    ECHECK(rc == GC_ERR_NULL_POINTER && strstr(err, "out_branch"), "NULL out_branch: %d %s", rc, err);
    ebad = e;
    ebad.out_branch_len = 8;
    rc = gc_expectations(ds, &ebad, err, sizeof err);
    ECHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "out_branch_len is 8"), "branch len: %d %s",
          rc, err);
    ebad = e;
    w[4] = NAN;
    rc = gc_expectations(ds, &ebad, err, sizeof err);
    ECHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "weights[4]"), "NaN weight: %d %s", rc, err);
    ebad.reserved = 1;
    rc = gc_expectations(ds, &ebad, err, sizeof err);
    ECHECK(rc == GC_ERR_INVALID_ARGUMENT && strstr(err, "reserved is 1"), "reserved: %d %s", rc, err);
    ECHECK(branch[0] == keep, "an error wrote the outputs");
    gc_dataset_free(ds);
  }
  gc_dataset_free(NULL);
  printf("%d checks, %d failures\n", checks, failures);
  printf("ABI 2.1: %d checks, %d failures\n", e_checks, e_failures);
  tree_building_checks();
  printf("Trees: %d checks, %d failures\n", t_checks, t_failures);
  family_table_checks();
  printf("Family table: %d checks, %d failures\n", f_checks, f_failures);
  return failures == 0 && e_failures == 0 && t_failures == 0 && f_failures == 0 ? 0 : 1;
}
