//! Grouping items by an id, as compressed sparse rows: used to list, for each distinct column,
//! the input patterns that share it, and to write a distinct column's result to all of them (or
//! to the listed ones of a pattern subset, [`Targets`]).

/// For items `0..ids.len()` with group ids in `0..n_groups`, returns `(start, members)`: the
/// members of group `g` are `members[start[g]..start[g + 1]]`, in increasing item order.
pub fn group_members(ids: &[u32], n_groups: usize) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; n_groups + 1];
    for &g in ids {
        start[g as usize + 1] += 1;
    }
    for g in 0..n_groups {
        start[g + 1] += start[g];
    }
    let mut fill = start[..n_groups].to_vec();
    let mut members = vec![0u32; ids.len()];
    for (item, &g) in ids.iter().enumerate() {
        members[fill[g as usize] as usize] = item as u32;
        fill[g as usize] += 1;
    }
    (start, members)
}

/// Where the results of an engine's distinct patterns go for one evaluation: to every
/// original pattern of each (a full evaluation), or only to the listed ones of a pattern subset.
pub enum Targets<'a> {
    /// Every original pattern: those of distinct pattern `u` are `members[start[u]..start[u +
    /// 1]]`, written at `k * n_out + p`.
    All {
        /// Group starts, one per distinct pattern plus one.
        start: &'a [u32],
        /// Original pattern indices grouped by distinct pattern.
        members: &'a [u32],
        /// Results per set (the number of original patterns).
        n_out: usize,
    },
    /// A subset: `(distinct pattern, output position)` pairs sorted by distinct pattern; the
    /// result of distinct pattern `u` goes to `k * n_out + position` for each of its pairs.
    Subset {
        /// Pairs sorted by distinct pattern.
        pairs: &'a [(u32, u32)],
        /// Results per set (the length of the subset).
        n_out: usize,
    },
}

impl Targets<'_> {
    /// The output positions of distinct pattern `u` in a subset (empty for a full evaluation).
    #[inline]
    pub fn subset_range(pairs: &[(u32, u32)], u: u32) -> &[(u32, u32)] {
        let a = pairs.partition_point(|&(d, _)| d < u);
        let b = a + pairs[a..].partition_point(|&(d, _)| d == u);
        &pairs[a..b]
    }

    /// Writes the result `r` (log-likelihood, and the two derivatives if `grad` is not null) of
    /// distinct pattern `u` for parameter set `k`; returns how many results it wrote.
    ///
    /// # Safety
    /// `out` must hold `(k + 1) * n_out` values and `grad` (if not null) twice that; no other
    /// thread writes the same results meanwhile.
    #[inline(always)]
    pub unsafe fn write(&self, u: usize, r: (f64, [f64; 2]), k: usize, out: *mut f64, grad: *mut f64) -> u64 {
        let put = |i: usize| {
            *out.add(i) = r.0;
            if !grad.is_null() {
                *grad.add(2 * i) = r.1[0];
                *grad.add(2 * i + 1) = r.1[1];
            }
        };
        match self {
            Targets::All { start, members, n_out } => {
                let ms = &members[start[u] as usize..start[u + 1] as usize];
                for &p in ms {
                    put(k * n_out + p as usize);
                }
                ms.len() as u64
            }
            Targets::Subset { pairs, n_out } => {
                let ps = Self::subset_range(pairs, u as u32);
                for &(_, i) in ps {
                    put(k * n_out + i as usize);
                }
                ps.len() as u64
            }
        }
    }
}

/// The distinct pattern of every listed original pattern, as `(distinct, position in the
/// list)` pairs sorted by distinct pattern, from the map `distinct_of` (original -> distinct).
pub fn subset_pairs(patterns: &[u32], distinct_of: &[u32]) -> Vec<(u32, u32)> {
    let mut pairs: Vec<(u32, u32)> =
        patterns.iter().enumerate().map(|(i, &p)| (distinct_of[p as usize], i as u32)).collect();
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::{group_members, subset_pairs, Targets};

    #[test]
    fn groups_list_their_members_in_order() {
        let (start, members) = group_members(&[1, 0, 1, 2, 0], 3);
        assert_eq!(start, vec![0, 2, 4, 5]);
        assert_eq!(members, vec![1, 4, 0, 2, 3]);
    }

    #[test]
    fn subset_targets_write_only_listed_positions() {
        // Original patterns 0..5 belong to distinct patterns [1, 0, 1, 2, 0]; list 1, 2 and 4.
        let pairs = subset_pairs(&[1, 2, 4], &[1, 0, 1, 2, 0]);
        assert_eq!(pairs, vec![(0, 0), (0, 2), (1, 1)]);
        let mut out = [f64::NAN; 6];
        let t = Targets::Subset { pairs: &pairs, n_out: 3 };
        // SAFETY: out holds 2 sets of 3 results.
        let n = unsafe { t.write(0, (-1.0, [0.0; 2]), 1, out.as_mut_ptr(), std::ptr::null_mut()) };
        assert_eq!(n, 2);
        assert_eq!(unsafe { t.write(2, (-3.0, [0.0; 2]), 1, out.as_mut_ptr(), std::ptr::null_mut()) }, 0);
        assert!(out[..3].iter().all(|x| x.is_nan()));
        assert_eq!((out[3], out[5]), (-1.0, -1.0));
        assert!(out[4].is_nan());
    }
}
