//! Every dataset shares one process-wide pool per thread count: opening many datasets does not
//! start more threads. (Its own test binary, so that no other test starts threads meanwhile.)

mod common;
use common::*;

/// The `Threads:` line of /proc/self/status.
fn threads() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = s.lines().find(|l| l.starts_with("Threads:")).expect("Threads: line");
    line[8..].trim().parse().expect("a number")
}

#[test]
fn opening_many_datasets_does_not_grow_the_thread_count() {
    let mut rng = Rng(21);
    let tree = random_tree(&mut rng, 40, true);
    let states = random_patterns(&mut rng, 40, 100);
    let open_all = |n: usize| {
        for engine in ENGINES.iter().cycle().take(n) {
            let ds = dataset_with(&tree, &states, 2, *engine);
            let (ll, _) = eval(&ds, &[0.5, 1.0], true);
            assert!(ll.iter().all(|x| x.is_finite()));
        }
    };
    open_all(3);
    let before = threads();
    open_all(30);
    // Datasets kept alive at the same time share the pool too.
    let kept: Vec<_> = (0..10).map(|_| dataset(&tree, &states, 2, 0)).collect();
    assert_eq!(threads(), before, "30 + 10 more datasets of 2 threads started threads");
    drop(kept);
    // A different thread count gets its own pool, once.
    let _one = dataset(&tree, &states, 1, 0);
    let with_one = threads();
    assert_eq!(with_one, before + 1);
    open_all(5);
    let _again = dataset(&tree, &states, 1, 0);
    assert_eq!(threads(), with_one);
}
