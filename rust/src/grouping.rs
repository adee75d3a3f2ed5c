//! Grouping items by an id, as compressed sparse rows: used to list, for each distinct column,
//! the input patterns that share it, and to write a distinct column's result to all of them.

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

/// Writes the result `r` (log-likelihood, and gradient if `grad` is not null) of parameter set
/// `k` to every original pattern in `members`; returns how many.
///
/// # Safety
/// `out` must hold `(k + 1) * n_patterns` values and `grad` (if not null) twice that; members
/// are below `n_patterns`; no other thread writes them meanwhile.
#[inline(always)]
pub unsafe fn write_to_members(
    members: &[u32],
    r: (f64, [f64; 2]),
    n_patterns: usize,
    k: usize,
    out: *mut f64,
    grad: *mut f64,
) -> u64 {
    for &p in members {
        let i = k * n_patterns + p as usize;
        *out.add(i) = r.0;
        if !grad.is_null() {
            *grad.add(2 * i) = r.1[0];
            *grad.add(2 * i + 1) = r.1[1];
        }
    }
    members.len() as u64
}

#[cfg(test)]
mod tests {
    use super::group_members;

    #[test]
    fn groups_list_their_members_in_order() {
        let (start, members) = group_members(&[1, 0, 1, 2, 0], 3);
        assert_eq!(start, vec![0, 2, 4, 5]);
        assert_eq!(members, vec![1, 4, 0, 2, 3]);
    }
}
