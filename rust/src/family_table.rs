//! The per-family long TSV of an ancestral reconstruction (`gc_family_table`): rows
//! `family \t node \t quantity \t value \n` formatted from per-pattern values, in parallel over
//! blocks of families, as plain text or as raw deflate pieces that continue one gzip member
//! (each block compressed on its own and ended by a sync flush, as pigz does, so the pieces of
//! every call, one after another, are one deflate stream; the CRC-32 and length of the text run
//! on from call to call for the member's trailer).
//!
//! Values are written with 6 significant digits ([`format_value`]), the rule of the TypeScript
//! writer (`lib/ancestral/formats/long_tsv.ts`, `formatValue`), so both give the same bytes.

use crate::error::GcError;
use rayon::prelude::*;
use std::os::raw::c_char;
use std::sync::OnceLock;

/// Names of the quantities, by code (0, 1, 2 in `gc_family_table_args.quantities`).
pub const QUANTITY_NAMES: [&str; 3] = ["pPresent", "gains", "losses"];

/// The longest value [`format_value`] writes: `-d.ddddde-ddd`.
pub const MAX_VALUE_BYTES: usize = 13;

/// Target uncompressed bytes of one block (one gzip member).
const BLOCK_BYTES: usize = 4 << 20;

/// `10^k` for `k` in -330..=330, each the double nearest to the exact power (parsed, which
/// rounds correctly).
fn pow10(k: i32) -> f64 {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    let t = TABLE.get_or_init(|| (-330..=330).map(|k| format!("1e{k}").parse::<f64>().unwrap()).collect());
    t[(k + 330) as usize]
}

/// The 6 significant digits of `a` (finite, > 0) as an integer `n` in 100000..=999999 and the
/// decimal exponent `e` of the rounded value `n * 10^(e - 5)`: the integer nearest to
/// `a * 10^(5 - e)`, ties away from zero (ECMAScript's `toExponential(5)` and `toPrecision(6)`).
fn digits6(a: f64) -> (u32, i32) {
    if (1e-300..=1e300).contains(&a) {
        // floor(log10 a) is e or e + 1 (the mantissa adds less than log10 2).
        let e2 = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        let mut e = (e2 * 78913) >> 18; // floor(e2 * log10 2) for |e2| < 2^11
        let mut s = a * pow10(5 - e);
        if s >= 1e6 {
            e += 1;
            s = a * pow10(5 - e);
        }
        // s is within 3e-16 relative (one rounding of the power, one of the product) of
        // a * 10^(5 - e) < 1e6, so within 3e-10 of it: away from a tie the rounding is sure.
        let f = s.floor();
        let frac = s - f;
        if (frac - 0.5).abs() > 1e-7 {
            let mut n = f as u32 + u32::from(frac > 0.5);
            if n >= 1_000_000 {
                n /= 10;
                e += 1;
            }
            if (100_000..1_000_000).contains(&n) {
                return (n, e);
            }
        }
    }
    digits6_exact(a)
}

/// [`digits6`] from the exact decimal expansion of `a` (a double has at most 767 significant
/// digits; Rust prints the requested digits exactly).
fn digits6_exact(a: f64) -> (u32, i32) {
    let s = format!("{a:.780e}");
    let (mant, exp) = s.split_once('e').expect("exponent");
    let mut e: i32 = exp.parse().expect("exponent digits");
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let mut n = digits[..6].iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    // The exact digits: the 7th decides (a tie, 5 then zeros, goes up like everything above).
    if digits[6] >= b'5' {
        n += 1;
        if n == 1_000_000 {
            n = 100_000;
            e += 1;
        }
    }
    (n, e)
}

/// Appends `x` (finite) with 6 significant digits: `0` and `1` when exactly 0 (either sign) or
/// 1; otherwise the digits correctly rounded (ties away from zero), as a plain decimal keeping
/// trailing zeros when the rounded value's decimal exponent `e` is in -4..=5 (`0.000123457`,
/// `0.500000`, `123457`), else as `d.ddddde±x` (`5.32996e-6`, `1.23457e+6`): ECMAScript's
/// `toPrecision(6)` with exponential notation from `e < -4` (as C's `%g`) instead of `e < -6`.
pub fn format_value(x: f64, out: &mut Vec<u8>) {
    let mut b = [0u8; 16];
    let n = format_value_into(x, &mut b);
    out.extend_from_slice(&b[..n]);
}

/// [`format_value`] into `b`; returns the number of bytes (at most [`MAX_VALUE_BYTES`]).
#[inline]
pub fn format_value_into(x: f64, b: &mut [u8; 16]) -> usize {
    if x == 0.0 {
        b[0] = b'0';
        return 1;
    }
    if x == 1.0 {
        b[0] = b'1';
        return 1;
    }
    let mut at = 0;
    if x < 0.0 {
        b[0] = b'-';
        at = 1;
    }
    let (n, e) = digits6(x.abs());
    let mut d = [0u8; 6];
    let mut m = n;
    for k in (0..6).rev() {
        d[k] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    if !(-4..=5).contains(&e) {
        b[at] = d[0];
        b[at + 1] = b'.';
        b[at + 2..at + 7].copy_from_slice(&d[1..]);
        b[at + 7] = b'e';
        b[at + 8] = if e < 0 { b'-' } else { b'+' };
        at += 9;
        let a = e.unsigned_abs();
        if a >= 100 {
            b[at] = b'0' + (a / 100) as u8;
            at += 1;
        }
        if a >= 10 {
            b[at] = b'0' + (a / 10 % 10) as u8;
            at += 1;
        }
        b[at] = b'0' + (a % 10) as u8;
        at + 1
    } else if e >= 0 {
        let int = e as usize + 1;
        b[at..at + int].copy_from_slice(&d[..int]);
        at += int;
        if int < 6 {
            b[at] = b'.';
            b[at + 1..at + 1 + 6 - int].copy_from_slice(&d[int..]);
            at += 7 - int;
        }
        at
    } else {
        let z = (-e - 1) as usize;
        b[at] = b'0';
        b[at + 1] = b'.';
        b[at + 2..at + 2 + z].fill(b'0');
        at += 2 + z;
        b[at..at + 6].copy_from_slice(&d);
        at + 6
    }
}

/// Bytes written one after another into a slice sized in advance.
struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn put(&mut self, s: &[u8]) {
        self.buf[self.pos..self.pos + s.len()].copy_from_slice(s);
        self.pos += s.len();
    }

    /// Appends `x` as [`format_value`] writes it, then a line break.
    #[inline(always)]
    fn put_value(&mut self, x: f64) {
        let mut num = [0u8; 16];
        let n = format_value_into(x, &mut num);
        num[n] = b'\n';
        self.put(&num[..n + 1]);
    }
}

/// A number as ECMAScript's `String(x)` writes the non-finite ones (for messages).
fn js_number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{x}")
    }
}

/// Byte strings given as one buffer and their end offsets.
#[derive(Clone, Copy)]
pub struct Names<'a> {
    /// The bytes of every name, one after another.
    pub bytes: &'a [u8],
    /// End offset of each name in `bytes` (non-decreasing).
    pub ends: &'a [u64],
}

impl<'a> Names<'a> {
    /// Checks the offsets; `what` names the argument in messages.
    pub fn new(bytes: &'a [u8], ends: &'a [u64], what: &str) -> Result<Self, GcError> {
        let mut start = 0u64;
        for (i, &e) in ends.iter().enumerate() {
            if e < start || e > bytes.len() as u64 {
                return Err(GcError::invalid(format!(
                    "{what}_ends[{i}] is {e}: ends must be non-decreasing and at most {what}_len ({})",
                    bytes.len()
                )));
            }
            start = e;
        }
        Ok(Names { bytes, ends })
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no name.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Name `i`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }
}

/// What one call formats: per-row values and the families that use them.
pub struct FamilyTable<'a> {
    /// Nodes of the tree (the last is the root, which has no branch).
    pub n_nodes: usize,
    /// Quantity codes to write for each node, in order (distinct, each below 3).
    pub quantities: &'a [u8],
    /// `n_rows * n_nodes` presence probabilities, row-major.
    pub present: &'a [f64],
    /// `n_rows * n_nodes` expected gains on the branch above each node (root entry unused).
    pub gains: &'a [f64],
    /// `n_rows * n_nodes` expected losses (root entry unused).
    pub losses: &'a [f64],
    /// One id per node.
    pub node_ids: Names<'a>,
    /// One name per family.
    pub families: Names<'a>,
    /// The value row of each family.
    pub family_rows: &'a [u32],
    /// Index of the first family in the whole table (for messages: "family N").
    pub first_family: u64,
    /// Rows whose value is below this are not written (0, or anything not above 0: every row).
    pub min_value: f64,
}

fn bad_name(name: &[u8]) -> bool {
    name.is_empty() || name.iter().any(|&b| b == b'\t' || b == b'\n' || b == b'\r')
}

impl FamilyTable<'_> {
    /// Checks every length, code, name and row index.
    pub fn validate(&self) -> Result<(), GcError> {
        let nn = self.n_nodes;
        if !(self.min_value.is_finite() && self.min_value >= 0.0) {
            return Err(GcError::invalid(format!(
                "min_value is {}: give a finite value >= 0 (0 writes every row)",
                js_number(self.min_value)
            )));
        }
        if nn == 0 {
            return Err(GcError::invalid("n_nodes is 0: a tree has at least one node"));
        }
        if self.quantities.is_empty() || self.quantities.len() > 3 {
            return Err(GcError::invalid(format!(
                "quantities_len is {}: give 1 to 3 distinct quantity codes",
                self.quantities.len()
            )));
        }
        for (i, &q) in self.quantities.iter().enumerate() {
            if q > 2 || self.quantities[..i].contains(&q) {
                return Err(GcError::invalid(format!(
                    "quantities[{i}] is {q}: codes are 0 (pPresent), 1 (gains) and 2 (losses), each at most once"
                )));
            }
        }
        if !self.present.len().is_multiple_of(nn) {
            return Err(GcError::invalid(format!(
                "present_len is {}, not a multiple of n_nodes ({nn})",
                self.present.len()
            )));
        }
        let n_rows = self.present.len() / nn;
        for (name, a) in [("gains", self.gains), ("losses", self.losses)] {
            if a.len() != self.present.len() {
                return Err(GcError::invalid(format!(
                    "{name}_len is {} but present_len is {}: give n_rows * n_nodes values of each",
                    a.len(),
                    self.present.len()
                )));
            }
        }
        if self.node_ids.len() != nn {
            return Err(GcError::invalid(format!(
                "node_id_ends_len is {} but n_nodes is {nn}: give one id per node",
                self.node_ids.len()
            )));
        }
        for v in 0..nn {
            if bad_name(self.node_ids.get(v)) {
                return Err(GcError::invalid(format!(
                    "Node id of node {v} is empty or holds a tab or line break: ids name rows of TSV files"
                )));
            }
        }
        if self.family_rows.len() != self.families.len() {
            return Err(GcError::invalid(format!(
                "family_rows_len is {} but family_name_ends_len is {}: give one row per family",
                self.family_rows.len(),
                self.families.len()
            )));
        }
        for f in 0..self.families.len() {
            let index = self.first_family + f as u64 + 1;
            if bad_name(self.families.get(f)) {
                return Err(GcError::invalid(format!(
                    "Family {index} of the per-family table is named {:?}: a family name in a TSV must be non-empty and hold no tab or line break. Rename it in the PAM.",
                    String::from_utf8_lossy(self.families.get(f))
                )));
            }
            if self.family_rows[f] as usize >= n_rows {
                return Err(GcError::invalid(format!(
                    "family_rows[{f}] is {}: rows are below n_rows ({n_rows})",
                    self.family_rows[f]
                )));
            }
        }
        Ok(())
    }

    fn values(&self, q: u8) -> &[f64] {
        match q {
            0 => self.present,
            1 => self.gains,
            _ => self.losses,
        }
    }

    /// Checks that family `f`'s values are finite, in the order of the TypeScript writer
    /// (quantity by quantity, node by node; no root entry for gains and losses).
    fn check_family(&self, f: usize) -> Result<(), GcError> {
        let nn = self.n_nodes;
        let row = self.family_rows[f] as usize;
        for &q in self.quantities {
            let vals = &self.values(q)[row * nn..(row + 1) * nn];
            let end = if q == 0 { nn } else { nn - 1 };
            if let Some(v) = vals[..end].iter().position(|x| !x.is_finite()) {
                return Err(GcError::invalid(format!(
                    "Family '{}': {} at node '{}' is {}; every value must be finite.",
                    String::from_utf8_lossy(self.families.get(f)),
                    QUANTITY_NAMES[q as usize],
                    String::from_utf8_lossy(self.node_ids.get(v)),
                    js_number(vals[v])
                )));
            }
        }
        Ok(())
    }

    /// `\t id \t quantity \t` of every node and quantity of the table (node-major, in the
    /// order of `quantities`; none for the root's gains and losses), and their end offsets.
    fn prefixes(&self) -> (Vec<u8>, Vec<usize>) {
        let root = self.n_nodes - 1;
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        for v in 0..self.n_nodes {
            for &q in self.quantities {
                if v == root && q != 0 {
                    continue;
                }
                bytes.push(b'\t');
                bytes.extend_from_slice(self.node_ids.get(v));
                bytes.push(b'\t');
                bytes.extend_from_slice(QUANTITY_NAMES[q as usize].as_bytes());
                bytes.push(b'\t');
                ends.push(bytes.len());
            }
        }
        (bytes, ends)
    }

    /// Writes the rows of families `a..b` into `out` (at least their bounds long), leaving out
    /// the rows whose value is below `min_value`; returns the bytes and the rows written.
    fn write_families(
        &self,
        a: usize,
        b: usize,
        prefixes: &(Vec<u8>, Vec<usize>),
        out: &mut [u8],
    ) -> Result<(usize, u64), GcError> {
        let nn = self.n_nodes;
        let root = nn - 1;
        let (pre, ends) = prefixes;
        let min = self.min_value;
        let mut c = Cursor { buf: out, pos: 0 };
        let mut rows = 0u64;
        for f in a..b {
            self.check_family(f)?;
            let row = self.family_rows[f] as usize;
            let name = self.families.get(f);
            let mut k = 0;
            for v in 0..nn {
                for &q in self.quantities {
                    if v == root && q != 0 {
                        continue;
                    }
                    let x = self.values(q)[row * nn + v];
                    let start = if k == 0 { 0 } else { ends[k - 1] };
                    k += 1;
                    // With min 0 every row is kept, negative rounding residues included.
                    if min > 0.0 && x < min {
                        continue;
                    }
                    c.put(name);
                    c.put(&pre[start..ends[k - 1]]);
                    c.put_value(x);
                    rows += 1;
                }
            }
        }
        Ok((c.pos, rows))
    }

    /// An upper bound of the bytes of family `f`'s rows.
    fn family_bound(&self, f: usize) -> usize {
        let nn = self.n_nodes;
        let ids = self.node_ids.bytes.len();
        let mut total = 0;
        for &q in self.quantities {
            let n = if q == 0 { nn } else { nn - 1 };
            let per = self.families.get(f).len() + QUANTITY_NAMES[q as usize].len() + 4 + MAX_VALUE_BYTES;
            total += n * per + ids;
        }
        total
    }

    /// Blocks of about [`BLOCK_BYTES`]: family ranges and the sum of their bounds.
    fn blocks(&self) -> Vec<(usize, usize, usize)> {
        let n = self.families.len();
        let mut blocks = Vec::new();
        let (mut start, mut size) = (0, 0);
        for f in 0..n {
            size += self.family_bound(f);
            if size >= BLOCK_BYTES || f + 1 == n {
                blocks.push((start, f + 1, size));
                start = f + 1;
                size = 0;
            }
        }
        blocks
    }

    /// The sum of the bounds of every family: what [`FamilyTable::render`] needs for plain text.
    pub fn bound(&self) -> usize {
        (0..self.families.len()).map(|f| self.family_bound(f)).sum()
    }

    /// Writes the rows of every family into `out`, plain (`gzip_level` 0) or as raw deflate
    /// pieces ([`deflate_piece`]) of blocks of about [`BLOCK_BYTES`], formatted in parallel on
    /// `pool`, and (compressed only) carries `crc` on over the text. Returns what the result
    /// takes ([`Rendered`]); when its `bytes` are more than `out.len()` (plain text: when `out`
    /// is shorter than [`FamilyTable::bound`], which is then `bytes`), `out` holds nothing
    /// useful and `bytes` is the length needed.
    pub fn render(
        &self,
        gzip_level: u32,
        pool: &rayon::ThreadPool,
        out: &mut [u8],
        crc: &mut crc32fast::Hasher,
    ) -> Result<Rendered, GcError> {
        self.validate()?;
        let blocks = self.blocks();
        let prefixes = self.prefixes();
        if gzip_level == 0 {
            let total: usize = blocks.iter().map(|b| b.2).sum();
            if total > out.len() {
                // Too short for the bounds the blocks are formatted into: they are needed.
                return Ok(Rendered { bytes: total, text: 0, rows: 0 });
            }
            // Every block in its own region at the offset of its bounds, then moved together.
            let mut regions: Vec<&mut [u8]> = Vec::with_capacity(blocks.len());
            let mut rest = &mut out[..total];
            for &(_, _, size) in &blocks {
                let (head, tail) = rest.split_at_mut(size);
                regions.push(head);
                rest = tail;
            }
            let lens: Vec<Result<(usize, u64), GcError>> = pool.install(|| {
                blocks
                    .par_iter()
                    .zip(regions.par_iter_mut())
                    .map(|(&(a, b, _), region)| self.write_families(a, b, &prefixes, region))
                    .collect()
            });
            let (mut at, mut from, mut rows) = (0, 0, 0);
            for (done, &(_, _, size)) in lens.into_iter().zip(&blocks) {
                // The first failing block in family order reports (the first bad family in it).
                let (len, n) = done?;
                out.copy_within(from..from + len, at);
                at += len;
                from += size;
                rows += n;
            }
            return Ok(Rendered { bytes: at, text: at, rows });
        }
        let done: Vec<Result<Piece, GcError>> = pool.install(|| {
            blocks
                .par_iter()
                .map(|&(a, b, size)| {
                    SCRATCH.with(|cell| {
                        let mut text = cell.borrow_mut();
                        if text.len() < size {
                            text.resize(size, 0);
                        }
                        let (len, rows) = self.write_families(a, b, &prefixes, &mut text[..size])?;
                        let mut crc = crc32fast::Hasher::new();
                        crc.update(&text[..len]);
                        Ok((deflate_piece(&text[..len], gzip_level)?, len, rows, crc))
                    })
                })
                .collect()
        });
        let mut pieces = Vec::with_capacity(done.len());
        let mut result = Rendered { bytes: 0, text: 0, rows: 0 };
        for d in done {
            // The first failing block in family order reports (the first bad family in it).
            let (m, n, rows, c) = d?;
            result.bytes += m.len();
            result.text += n;
            result.rows += rows;
            crc.combine(&c);
            pieces.push(m);
        }
        if result.bytes <= out.len() {
            let mut at = 0;
            for m in &pieces {
                out[at..at + m.len()].copy_from_slice(m);
                at += m.len();
            }
        }
        Ok(result)
    }
}

/// What [`FamilyTable::render`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendered {
    /// Bytes the result takes in `out` (or needs, when `out` is too short).
    pub bytes: usize,
    /// Bytes of the text before compression.
    pub text: usize,
    /// Rows written.
    pub rows: u64,
}

/// `text` as raw deflate data ended by a sync flush (an empty stored block): byte-aligned and
/// not final, so that pieces compressed on their own concatenate into one deflate stream.
pub fn deflate_piece(text: &[u8], level: u32) -> Result<Vec<u8>, GcError> {
    let fail = |e: String| GcError::invalid(format!("Compressing the per-family table failed: {e}"));
    let mut c = flate2::Compress::new(flate2::Compression::new(level), false);
    let mut out = Vec::with_capacity(text.len() / 3 + 1024);
    loop {
        let done = c.total_in() as usize;
        c.compress_vec(&text[done..], &mut out, flate2::FlushCompress::Sync)
            .map_err(|e| fail(e.to_string()))?;
        // The flush is complete once all input is in and the output did not fill up.
        if c.total_in() as usize == text.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(4096));
    }
    if !out.ends_with(&[0, 0, 0xff, 0xff]) {
        return Err(fail("the deflate piece does not end with a sync flush".into()));
    }
    Ok(out)
}

/// A block's deflate data, text length, rows and the CRC-32 of its text.
type Piece = (Vec<u8>, usize, u64, crc32fast::Hasher);

thread_local! {
    /// Each worker's text buffer for the blocks it compresses (kept between calls).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The arguments of `gc_family_table` (see `genecontent.h`); callers set `struct_size` to their
/// `sizeof(gc_family_table_args)`, and fields are only ever appended.
#[repr(C)]
#[allow(non_camel_case_types)] // the C name
#[derive(Debug, Clone, Copy)]
pub struct gc_family_table_args {
    /// The caller's `sizeof(gc_family_table_args)`.
    pub struct_size: u64,
    /// Nodes of the tree.
    pub n_nodes: u64,
    /// Worker threads (0: one per core).
    pub n_threads: u32,
    /// 0: plain text; 1..=9: gzip members at that level.
    pub gzip_level: u32,
    /// Quantity codes, in the order rows are written for a node.
    pub quantities: *const u8,
    /// Length of `quantities`.
    pub quantities_len: u64,
    /// `n_rows * n_nodes` presence probabilities.
    pub present: *const f64,
    /// Length of `present`.
    pub present_len: u64,
    /// `n_rows * n_nodes` expected gains.
    pub gains: *const f64,
    /// Length of `gains`.
    pub gains_len: u64,
    /// `n_rows * n_nodes` expected losses.
    pub losses: *const f64,
    /// Length of `losses`.
    pub losses_len: u64,
    /// Node ids, one after another.
    pub node_ids: *const u8,
    /// Length of `node_ids`.
    pub node_ids_len: u64,
    /// End offset of each node id.
    pub node_id_ends: *const u64,
    /// Length of `node_id_ends` (n_nodes).
    pub node_id_ends_len: u64,
    /// Family names, one after another.
    pub family_names: *const u8,
    /// Length of `family_names`.
    pub family_names_len: u64,
    /// End offset of each family name.
    pub family_name_ends: *const u64,
    /// Length of `family_name_ends` (the number of families).
    pub family_name_ends_len: u64,
    /// The value row of each family.
    pub family_rows: *const u32,
    /// Length of `family_rows`.
    pub family_rows_len: u64,
    /// Index of the first family in the whole table (messages only).
    pub first_family: u64,
    /// The output buffer.
    pub out: *mut u8,
    /// Capacity of `out`.
    pub out_len: u64,
    /// 2 values, written: the bytes written to `out` (or needed, when `out_len` is too small),
    /// and the bytes of the text before compression.
    pub out_written: *mut u64,
    /// Compressed output only: 2 values, read and written: the CRC-32 of the text before this
    /// call (low 32 bits) and its length, carried on over this call's text.
    pub crc: *mut u64,
    /// Length of `crc`: 2, or 0 (NULL) for plain text.
    pub crc_len: u64,
    // ----- Since ABI 2.3 (a caller's smaller struct reads as 0 / NULL here). -----
    /// Rows whose value is below this are not written; 0 writes every row.
    pub min_value: f64,
    /// 1 value, written: the rows written (NULL: not reported).
    pub out_rows: *mut u64,
    /// Length of `out_rows`: 1, or 0 (NULL).
    pub out_rows_len: u64,
}

/// Size of the `gc_family_table_args` this library knows.
pub const GC_FAMILY_TABLE_ARGS_SIZE: usize = std::mem::size_of::<gc_family_table_args>();

/// Size of `gc_family_table_args` in ABI 2.2, where it first appeared: the least a caller's
/// `struct_size` may be.
pub const GC_FAMILY_TABLE_ARGS_SIZE_2_2: usize = 216;

/// See `genecontent.h`.
///
/// # Safety
/// `args` must point to a `gc_family_table_args` of `args->struct_size` bytes whose pointers
/// are valid for their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_family_table(
    args: *const gc_family_table_args,
    err: *mut c_char,
    err_len: u64,
) -> i32 {
    crate::guard(err, err_len, || {
        let a = crate::abi::read_args(args, "gc_family_table_args", GC_FAMILY_TABLE_ARGS_SIZE_2_2)?;
        if a.gzip_level > 9 {
            return Err(GcError::invalid(format!(
                "gzip_level is {}: use 0 (plain text) or 1 to 9",
                a.gzip_level
            )));
        }
        if a.n_threads > 4096 {
            return Err(GcError::invalid(format!("n_threads is {}: at most 4096", a.n_threads)));
        }
        let n_nodes = usize::try_from(a.n_nodes)
            .map_err(|_| GcError::invalid(format!("n_nodes ({}) is too large", a.n_nodes)))?;
        let table = FamilyTable {
            n_nodes,
            quantities: crate::slice(a.quantities, a.quantities_len, "quantities")?,
            present: crate::slice(a.present, a.present_len, "present")?,
            gains: crate::slice(a.gains, a.gains_len, "gains")?,
            losses: crate::slice(a.losses, a.losses_len, "losses")?,
            node_ids: Names::new(
                crate::slice(a.node_ids, a.node_ids_len, "node_ids")?,
                crate::slice(a.node_id_ends, a.node_id_ends_len, "node_id_ends")?,
                "node_id",
            )?,
            families: Names::new(
                crate::slice(a.family_names, a.family_names_len, "family_names")?,
                crate::slice(a.family_name_ends, a.family_name_ends_len, "family_name_ends")?,
                "family_name",
            )?,
            family_rows: crate::slice(a.family_rows, a.family_rows_len, "family_rows")?,
            first_family: a.first_family,
            min_value: a.min_value,
        };
        let written = crate::slice_mut(a.out_written, 2, "out_written")?;
        let out = crate::slice_mut(a.out, a.out_len, "out")?;
        let threads = if a.n_threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            a.n_threads as usize
        };
        let pool = crate::pool::shared_pool(threads)?;
        let crc_state = crate::slice_mut(a.crc, a.crc_len, "crc")?;
        if a.gzip_level > 0 && crc_state.len() != 2 {
            return Err(GcError::invalid(format!(
                "crc_len is {}: compressed output carries the CRC-32 and length of the text in 2 values",
                crc_state.len()
            )));
        }
        let mut crc = match crc_state {
            [c, n] => crc32fast::Hasher::new_with_initial_len(*c as u32, *n),
            _ => crc32fast::Hasher::new(),
        };
        let out_rows = crate::slice_mut(a.out_rows, a.out_rows_len, "out_rows")?;
        if out_rows.len() > 1 {
            return Err(GcError::invalid(format!(
                "out_rows_len is {}: the rows written are 1 value (or 0 for none)",
                out_rows.len()
            )));
        }
        let done = table.render(a.gzip_level, &pool, out, &mut crc)?;
        let (total, text) = (done.bytes, done.text);
        written[0] = total as u64;
        written[1] = text as u64;
        if let [rows] = out_rows {
            *rows = done.rows;
        }
        if let [c, n] = crc_state {
            if total <= out.len() {
                *n += text as u64;
                *c = u64::from(crc.finalize());
            }
        }
        if total > out.len() {
            return Err(GcError::invalid(format!(
                "out_len is {} but the rows need {total} bytes: pass a larger buffer",
                out.len()
            )));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(x: f64) -> String {
        let mut v = Vec::new();
        format_value(x, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn values_follow_the_documented_rule() {
        // Expected strings are ECMAScript's toPrecision(6) / toExponential(5) of each value.
        let cases: [(f64, &str); 22] = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (0.5, "0.500000"),
            (0.99999993, "1.00000"),
            (1.0000001, "1.00000"),
            (0.123456789, "0.123457"),
            (-0.123456789, "-0.123457"),
            (0.000123456789, "0.000123457"),
            (0.00009999996, "0.000100000"),
            (0.00009999949, "9.99995e-5"),
            (5.3299562e-6, "5.32996e-6"),
            (123456.7, "123457"),
            (999999.7, "1.00000e+6"),
            (1234567.0, "1.23457e+6"),
            // Exact ties go up, as in ECMAScript (Rust's own formatting goes to even).
            (1234565.0, "1.23457e+6"),
            (100000.5, "100001"),
            (2.5e-310, "2.50000e-310"),
            (f64::MIN_POSITIVE, "2.22507e-308"),
            (5e-324, "4.94066e-324"),
            (f64::MAX, "1.79769e+308"),
            (12.5, "12.5000"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt(x), want, "value {x:e}");
        }
    }

    #[test]
    fn fast_digits_agree_with_exact_digits() {
        // A deterministic spread over magnitudes and mantissas (xorshift), plus values just
        // around ties and powers of ten.
        let mut s = 0x9e3779b97f4a7c15u64;
        for i in 0..40_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = match i % 4 {
                0 => f64::from_bits((s >> 2) | 0x0010_0000_0000_0000) % 1e300,
                1 => (s >> 11) as f64 / (1u64 << 53) as f64,
                2 => ((s % 2_000_000) as f64 + 0.5) * 10f64.powi((s % 40) as i32 - 20),
                _ => 10f64.powi((s % 600) as i32 - 300) * (1.0 + ((s >> 40) % 3) as f64 * 1e-16),
            };
            if !(x > 0.0 && x.is_finite()) {
                continue;
            }
            assert_eq!(digits6(x), digits6_exact(x), "value {x:e}");
        }
    }

    #[test]
    fn args_have_the_documented_size() {
        assert_eq!(GC_FAMILY_TABLE_ARGS_SIZE, 240);
        assert_eq!(std::mem::offset_of!(gc_family_table_args, min_value), GC_FAMILY_TABLE_ARGS_SIZE_2_2);
    }

    #[test]
    fn rows_and_blocks() {
        let ids = b"ab";
        let ends = [1u64, 2];
        let names = b"f1f2";
        let fends = [2u64, 4];
        let t = FamilyTable {
            n_nodes: 2,
            quantities: &[0, 1, 2],
            present: &[1.0, 0.25, 0.0, 0.5],
            gains: &[0.125, 9.0, 0.0, 9.0],
            losses: &[0.0, 9.0, 0.5, 9.0],
            node_ids: Names::new(ids, &ends, "node_id").unwrap(),
            families: Names::new(names, &fends, "family_name").unwrap(),
            family_rows: &[1, 0],
            first_family: 0,
            min_value: 0.0,
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let mut out = vec![0u8; t.bound() + 4096];
        let mut crc = crc32fast::Hasher::new();
        let r = t.render(0, &pool, &mut out, &mut crc).unwrap();
        let (len, text_len) = (r.bytes, r.text);
        assert_eq!(len, text_len);
        assert_eq!(r.rows, 8);
        let text = out[..len].to_vec();
        // A buffer too short for the bounds: they are the length needed.
        let mut short = vec![0u8; 10];
        assert_eq!(t.render(0, &pool, &mut short, &mut crc).unwrap().bytes, t.bound());
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            "f1\ta\tpPresent\t0\nf1\ta\tgains\t0\nf1\ta\tlosses\t0.500000\nf1\tb\tpPresent\t0.500000\n\
             f2\ta\tpPresent\t1\nf2\ta\tgains\t0.125000\nf2\ta\tlosses\t0\nf2\tb\tpPresent\t0.250000\n"
        );
        // Two calls continue one gzip member: header, pieces, final empty block, trailer.
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        let mut crc = crc32fast::Hasher::new();
        for _ in 0..2 {
            let r = t.render(1, &pool, &mut out, &mut crc).unwrap();
            let (n, text_len) = (r.bytes, r.text);
            assert_eq!(text_len, text.len());
            assert_eq!(r.rows, 8);
            gz.extend_from_slice(&out[..n]);
        }
        gz.extend_from_slice(&[3, 0]);
        gz.extend_from_slice(&crc.finalize().to_le_bytes());
        gz.extend_from_slice(&(2 * text.len() as u32).to_le_bytes());
        let mut back = Vec::new();
        // GzDecoder reads one member and checks its CRC-32 and length.
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!(back, [&text[..], &text[..]].concat());
        let bad = FamilyTable { gains: &[f64::NAN, 9.0, 0.0, 9.0], ..t };
        let e = bad.render(0, &pool, &mut out, &mut crc32fast::Hasher::new()).unwrap_err();
        assert_eq!(e.message, "Family 'f2': gains at node 'a' is NaN; every value must be finite.");
        // A cut at 0.25 leaves out the rows below it (0, 0.125), plain and compressed alike.
        let cut = FamilyTable { min_value: 0.25, ..t };
        let r = cut.render(0, &pool, &mut out, &mut crc32fast::Hasher::new()).unwrap();
        assert_eq!(
            String::from_utf8(out[..r.bytes].to_vec()).unwrap(),
            "f1\ta\tlosses\t0.500000\nf1\tb\tpPresent\t0.500000\nf2\ta\tpPresent\t1\nf2\tb\tpPresent\t0.250000\n"
        );
        assert_eq!(r.rows, 4);
        let z = cut.render(6, &pool, &mut out, &mut crc32fast::Hasher::new()).unwrap();
        assert_eq!((z.text, z.rows), (r.bytes, 4));
        for bad in [-1e-9, f64::NAN, f64::INFINITY] {
            let e = FamilyTable { min_value: bad, ..t }
                .render(0, &pool, &mut out, &mut crc32fast::Hasher::new())
                .unwrap_err();
            assert!(e.message.starts_with("min_value is "), "{}", e.message);
        }
    }
}
