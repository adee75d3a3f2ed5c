//! The validated flat tree: tips `0..n_tips`, internal nodes in post-order, root last,
//! children in CSR form. Every traversal iterates over node indices (no recursion), because
//! `parent[i] > i` makes increasing index order a post-order.

use crate::error::GcError;

/// A rooted tree checked against the rules of `genecontent.h`.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Number of tips (nodes `0..n_tips`).
    pub n_tips: usize,
    /// Number of nodes, tips included; the root is `n_nodes - 1`.
    pub n_nodes: usize,
    /// Parent of each node, `u32::MAX` for the root.
    pub parent: Vec<u32>,
    /// Length of the branch above each node (0 for the root).
    pub branch_length: Vec<f64>,
    /// Children of node `v` are `children[child_start[v]..child_start[v + 1]]`.
    pub child_start: Vec<u32>,
    /// Child indices grouped by parent, increasing within a parent.
    pub children: Vec<u32>,
}

impl Tree {
    /// Validates the flat arrays and builds the CSR child lists.
    pub fn new(n_tips: usize, parent: &[i32], branch_length: &[f64]) -> Result<Tree, GcError> {
        let n_nodes = parent.len();
        if branch_length.len() != n_nodes {
            return Err(GcError::invalid(format!(
                "branch_length has {} entries but parent has {n_nodes}",
                branch_length.len()
            )));
        }
        if n_tips == 0 {
            return Err(GcError::invalid("n_tips is 0: a tree needs at least one tip"));
        }
        if n_nodes < n_tips {
            return Err(GcError::invalid(format!("n_nodes ({n_nodes}) is smaller than n_tips ({n_tips})")));
        }
        if n_nodes >= i32::MAX as usize {
            return Err(GcError::invalid(format!("n_nodes ({n_nodes}) is too large")));
        }
        if n_nodes == n_tips && n_tips != 1 {
            return Err(GcError::invalid(format!(
                "n_nodes equals n_tips ({n_tips}): a tree with more than one tip needs internal nodes"
            )));
        }
        let root = n_nodes - 1;
        if parent[root] != -1 {
            return Err(GcError::invalid(format!(
                "parent[{root}] is {} but the last node must be the root (parent -1)",
                parent[root]
            )));
        }
        let mut count = vec![0u32; n_nodes + 1];
        for (i, &p) in parent[..root].iter().enumerate() {
            if p < 0 || p as usize >= n_nodes {
                return Err(GcError::invalid(format!(
                    "parent[{i}] is {p}, outside 0..{n_nodes} (only the last node, the root, has parent -1)"
                )));
            }
            let p = p as usize;
            if p <= i {
                return Err(GcError::invalid(format!(
                    "parent[{i}] is {p}, not greater than {i}: internal nodes must come after their children (post-order)"
                )));
            }
            if p < n_tips {
                return Err(GcError::invalid(format!(
                    "parent[{i}] is {p}, a tip (tips are 0..{n_tips}): tips cannot have children"
                )));
            }
            count[p] += 1;
        }
        for (v, &c) in count.iter().enumerate().take(n_nodes).skip(n_tips) {
            if c == 0 {
                return Err(GcError::invalid(format!(
                    "internal node {v} has no children: every node >= n_tips ({n_tips}) needs at least one"
                )));
            }
        }
        let mut bl = branch_length.to_vec();
        for (i, &t) in branch_length[..root].iter().enumerate() {
            if !(t.is_finite() && t >= 0.0) {
                return Err(GcError::invalid(format!(
                    "branch_length[{i}] is {t}: branch lengths must be finite and >= 0"
                )));
            }
        }
        bl[root] = 0.0;
        let mut child_start = vec![0u32; n_nodes + 1];
        for v in 0..n_nodes {
            child_start[v + 1] = child_start[v] + count[v];
        }
        let mut fill: Vec<u32> = child_start[..n_nodes].to_vec();
        let mut children = vec![0u32; n_nodes - 1];
        for (i, &p) in parent[..root].iter().enumerate() {
            let p = p as usize;
            children[fill[p] as usize] = i as u32;
            fill[p] += 1;
        }
        let parent_u = parent.iter().map(|&p| if p < 0 { u32::MAX } else { p as u32 }).collect();
        Ok(Tree { n_tips, n_nodes, parent: parent_u, branch_length: bl, child_start, children })
    }

    /// Children of node `v`.
    #[inline]
    pub fn children_of(&self, v: usize) -> &[u32] {
        &self.children[self.child_start[v] as usize..self.child_start[v + 1] as usize]
    }

    /// Index of the root.
    #[inline]
    pub fn root(&self) -> usize {
        self.n_nodes - 1
    }

    /// Rank of every tip in a depth-first traversal from the root (tips close in this order
    /// share most of their root paths). Iterative.
    pub fn tip_dfs_rank(&self) -> Vec<u32> {
        let mut rank = vec![0u32; self.n_tips];
        let mut next = 0u32;
        let mut stack = vec![self.root() as u32];
        while let Some(v) = stack.pop() {
            let v = v as usize;
            if v < self.n_tips {
                rank[v] = next;
                next += 1;
            } else {
                stack.extend(self.children_of(v).iter().rev());
            }
        }
        rank
    }

    /// The same tree renumbered in depth-first post-order (tips by depth-first rank, internal
    /// nodes in post-order), so that nodes close in the tree are close in memory, and the
    /// old index of each new node (`node_old[new] = old`; tips first, so `node_old[..n_tips]`
    /// maps new tips to old ones).
    pub fn dfs_renumbered(&self) -> (Tree, Vec<u32>) {
        let nn = self.n_nodes;
        // Mirrored pre-order (last child first); its reverse is a post-order, first child first.
        let mut order = Vec::with_capacity(nn);
        let mut stack = vec![self.root() as u32];
        while let Some(v) = stack.pop() {
            order.push(v);
            stack.extend(self.children_of(v as usize).iter());
        }
        order.reverse();
        let mut new_of = vec![0u32; nn];
        let (mut next_tip, mut next_int) = (0u32, self.n_tips as u32);
        let mut node_old = vec![0u32; nn];
        for &v in &order {
            let next = if (v as usize) < self.n_tips { &mut next_tip } else { &mut next_int };
            node_old[*next as usize] = v;
            new_of[v as usize] = *next;
            *next += 1;
        }
        let mut parent = vec![-1i32; nn];
        let mut bl = vec![0.0; nn];
        for v in 0..nn {
            let nv = new_of[v] as usize;
            parent[nv] = if self.parent[v] == u32::MAX { -1 } else { new_of[self.parent[v] as usize] as i32 };
            bl[nv] = self.branch_length[v];
        }
        let t = Tree::new(self.n_tips, &parent, &bl).expect("a renumbered valid tree is valid");
        (t, node_old)
    }
}
