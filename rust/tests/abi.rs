//! The C ABI: status codes and messages of invalid inputs, empty inputs, progress, cancellation.

mod common;
use common::*;
use genecontent::error::*;
use genecontent::*;
use std::ptr::{null, null_mut};

struct New {
    code: i32,
    msg: String,
    ds: *mut gc_dataset,
}

fn msg_of(buf: &[u8]) -> String {
    let n = buf.iter().position(|&b| b == 0).expect("NUL-terminated");
    String::from_utf8(buf[..n].to_vec()).expect("UTF-8")
}

#[allow(clippy::too_many_arguments)] // the arguments of `gc_dataset_new`
fn new_raw(
    n_tips: u64,
    n_nodes: u64,
    parent: *const i32,
    bl: *const f64,
    n_patterns: u64,
    states: *const u8,
    n_threads: u32,
    algo: u32,
) -> New {
    let mut err = [0xffu8; 300];
    let mut ds = std::ptr::dangling_mut::<gc_dataset>();
    let code = unsafe {
        gc_dataset_new(
            n_tips,
            n_nodes,
            parent,
            bl,
            n_patterns,
            states,
            n_threads,
            algo,
            &mut ds,
            err.as_mut_ptr() as *mut _,
            err.len() as u64,
        )
    };
    let msg = if code == GC_OK { String::new() } else { msg_of(&err) };
    if code != GC_OK {
        assert!(ds.is_null(), "out_dataset is NULL on failure");
    }
    New { code, msg, ds }
}

fn new(tree: &FlatTree, states: &[u8], algo: u32) -> New {
    let np = states.len() / tree.n_tips.max(1);
    new_raw(
        tree.n_tips as u64,
        tree.parent.len() as u64,
        tree.parent.as_ptr(),
        tree.bl.as_ptr(),
        np as u64,
        states.as_ptr(),
        2,
        algo,
    )
}

fn expect_err(r: New, code: i32, needle: &str) {
    assert_eq!(r.code, code, "message: {}", r.msg);
    assert!(r.msg.to_lowercase().contains(&needle.to_lowercase()), "message {:?} lacks {needle:?}", r.msg);
}

fn small() -> FlatTree {
    // ((t0,t1)3,t2)4
    FlatTree { n_tips: 3, parent: vec![3, 3, 4, 4, -1], bl: vec![0.1, 0.2, 0.3, 0.4, 0.0] }
}

#[test]
fn abi_version_is_2() {
    assert_eq!(gc_abi_version(), 2);
}

#[test]
fn invalid_trees_and_states_are_reported() {
    let t = small();
    let st = [0u8, 1, 0];
    expect_err(new_raw(3, 5, null(), t.bl.as_ptr(), 1, st.as_ptr(), 1, 0), GC_ERR_NULL_POINTER, "parent");
    expect_err(
        new_raw(3, 5, t.parent.as_ptr(), null(), 1, st.as_ptr(), 1, 0),
        GC_ERR_NULL_POINTER,
        "branch_length",
    );
    expect_err(
        new_raw(3, 5, t.parent.as_ptr(), t.bl.as_ptr(), 1, null(), 1, 0),
        GC_ERR_NULL_POINTER,
        "states",
    );
    // n_nodes mismatch: 4 nodes read, the last of which is not the root.
    expect_err(
        new_raw(3, 4, t.parent.as_ptr(), t.bl.as_ptr(), 1, st.as_ptr(), 1, 0),
        GC_ERR_INVALID_ARGUMENT,
        "root",
    );
    expect_err(
        new_raw(5, 5, t.parent.as_ptr(), t.bl.as_ptr(), 0, st.as_ptr(), 1, 0),
        GC_ERR_INVALID_ARGUMENT,
        "internal",
    );
    expect_err(
        new_raw(6, 5, t.parent.as_ptr(), t.bl.as_ptr(), 0, st.as_ptr(), 1, 0),
        GC_ERR_INVALID_ARGUMENT,
        "smaller than n_tips",
    );
    expect_err(new_raw(3, 0, null(), null(), 0, null(), 1, 0), GC_ERR_INVALID_ARGUMENT, "n_nodes");
    let bad = |parent: Vec<i32>, bl: Vec<f64>, needle: &str| {
        let tr = FlatTree { n_tips: 3, parent, bl };
        expect_err(new(&tr, &st, 0), GC_ERR_INVALID_ARGUMENT, needle);
    };
    bad(vec![3, 3, 4, 2, -1], t.bl.clone(), "not greater than"); // parent not > child
    bad(vec![3, 3, 4, -1, 4], t.bl.clone(), "root"); // root not last
    bad(vec![1, 3, 3, 4, -1], t.bl.clone(), "tips cannot have children"); // parent[0] = 1 is a tip
    bad(vec![2, 3, 3, 4, -1], t.bl.clone(), "tip"); // tip 2 with a child
    bad(vec![4, 4, 4, 4, -1], t.bl.clone(), "no children"); // internal node 3 without children
    bad(vec![3, 3, 4, 7, -1], t.bl.clone(), "outside");
    bad(t.parent.clone(), vec![0.1, -0.2, 0.3, 0.4, 0.0], "branch_length[1]");
    bad(t.parent.clone(), vec![0.1, 0.2, f64::NAN, 0.4, 0.0], "branch_length[2]");
    bad(t.parent.clone(), vec![0.1, 0.2, f64::INFINITY, 0.4, 0.0], "finite");
    // The root's branch length is ignored, even NaN.
    let ok = FlatTree { n_tips: 3, parent: t.parent.clone(), bl: vec![0.1, 0.2, 0.3, 0.4, f64::NAN] };
    let r = new(&ok, &st, 0);
    assert_eq!(r.code, GC_OK, "{}", r.msg);
    unsafe { gc_dataset_free(r.ds) };
    expect_err(new(&t, &[0, 3, 1], 0), GC_ERR_INVALID_ARGUMENT, "states[1] (pattern 0, tip 1) is 3");
    expect_err(new(&t, &st, 3), GC_ERR_INVALID_ARGUMENT, "algorithm");
    expect_err(
        new_raw(0, 1, [-1].as_ptr(), [0.0].as_ptr(), 0, null(), 1, 0),
        GC_ERR_INVALID_ARGUMENT,
        "n_tips",
    );
    // out_dataset NULL.
    let code = unsafe {
        gc_dataset_new(
            3,
            5,
            t.parent.as_ptr(),
            t.bl.as_ptr(),
            1,
            st.as_ptr(),
            1,
            0,
            null_mut(),
            null_mut(),
            0,
        )
    };
    assert_eq!(code, GC_ERR_NULL_POINTER);
}

#[test]
fn error_messages_are_truncated_and_nul_terminated() {
    let t = small();
    let mut err = [0xffu8; 8];
    let mut ds = null_mut();
    let code = unsafe {
        gc_dataset_new(
            3,
            5,
            t.parent.as_ptr(),
            t.bl.as_ptr(),
            1,
            [0u8, 9, 0].as_ptr(),
            1,
            0,
            &mut ds,
            err.as_mut_ptr() as *mut _,
            8,
        )
    };
    assert_eq!(code, GC_ERR_INVALID_ARGUMENT);
    assert_eq!(err[7], 0);
    assert_eq!(msg_of(&err), "states[");
}

struct Ds(*mut gc_dataset);
impl Drop for Ds {
    fn drop(&mut self) {
        unsafe { gc_dataset_free(self.0) }
    }
}

fn loglik(
    ds: &Ds,
    n_sets: u64,
    rates: &[f64],
    out: &mut [f64],
    grad: Option<&mut [f64]>,
    progress: *mut u64,
) -> (i32, String) {
    let mut err = [0u8; 300];
    let (gp, gl) = match grad {
        Some(g) => (if g.is_empty() { null_mut() } else { g.as_mut_ptr() }, g.len() as u64),
        None => (null_mut(), 0),
    };
    let code = unsafe {
        gc_loglik(
            ds.0,
            n_sets,
            if rates.is_empty() { null() } else { rates.as_ptr() },
            if out.is_empty() { null_mut() } else { out.as_mut_ptr() },
            out.len() as u64,
            gp,
            gl,
            progress,
            err.as_mut_ptr() as *mut _,
            300,
        )
    };
    (code, if code == GC_OK { String::new() } else { msg_of(&err) })
}

#[test]
fn invalid_loglik_arguments_are_reported() {
    let t = small();
    for algo in [1, 2] {
        let ds = Ds(new(&t, &[0, 1, 0, 1, 1, 2], algo).ds);
        let mut out = [0.0; 2];
        let mut g = [0.0; 4];
        let r = loglik(&ds, 1, &[0.5, 1.0], &mut out, Some(&mut g), null_mut());
        assert_eq!(r.0, GC_OK, "{}", r.1);
        let check = |r: (i32, String), code: i32, needle: &str| {
            assert_eq!(r.0, code, "{}", r.1);
            assert!(r.1.contains(needle), "{:?} lacks {needle:?}", r.1);
        };
        check(
            loglik(&ds, 1, &[0.5, 0.0], &mut out, None, null_mut()),
            GC_ERR_INVALID_ARGUMENT,
            "rates[1] (loss of set 0) is 0",
        );
        check(loglik(&ds, 1, &[-1.0, 1.0], &mut out, None, null_mut()), GC_ERR_INVALID_ARGUMENT, "rates[0]");
        check(loglik(&ds, 1, &[f64::NAN, 1.0], &mut out, None, null_mut()), GC_ERR_INVALID_ARGUMENT, "NaN");
        check(
            loglik(&ds, 1, &[f64::INFINITY, 1.0], &mut out, None, null_mut()),
            GC_ERR_INVALID_ARGUMENT,
            "finite",
        );
        check(
            loglik(&ds, 1, &[0.5, 1.0], &mut out[..1], None, null_mut()),
            GC_ERR_INVALID_ARGUMENT,
            "out_len is 1",
        );
        check(
            loglik(&ds, 1, &[0.5, 1.0], &mut out, Some(&mut g[..3]), null_mut()),
            GC_ERR_INVALID_ARGUMENT,
            "grad_len is 3",
        );
        // NULL pointers with nonzero lengths.
        let mut err = [0u8; 200];
        let e = err.as_mut_ptr() as *mut _;
        let c = unsafe { gc_loglik(ds.0, 1, null(), out.as_mut_ptr(), 2, null_mut(), 0, null_mut(), e, 200) };
        assert_eq!(c, GC_ERR_NULL_POINTER);
        assert!(msg_of(&err).contains("rates"));
        let c = unsafe {
            gc_loglik(ds.0, 1, [0.5, 1.0].as_ptr(), null_mut(), 2, null_mut(), 0, null_mut(), e, 200)
        };
        assert_eq!(c, GC_ERR_NULL_POINTER);
        assert!(msg_of(&err).contains("out_loglik"));
        let c = unsafe {
            gc_loglik(ds.0, 1, [0.5, 1.0].as_ptr(), out.as_mut_ptr(), 2, null_mut(), 4, null_mut(), e, 200)
        };
        assert_eq!(c, GC_ERR_NULL_POINTER);
        assert!(msg_of(&err).contains("out_grad"));
        let c = unsafe {
            gc_loglik(null(), 1, [0.5, 1.0].as_ptr(), out.as_mut_ptr(), 2, null_mut(), 0, null_mut(), e, 200)
        };
        assert_eq!(c, GC_ERR_NULL_POINTER);
        // Info.
        let mut info = [0u64; 6];
        let c = unsafe { gc_dataset_info(ds.0, info.as_mut_ptr(), 6, e, 200) };
        assert_eq!(c, GC_OK);
        assert_eq!(info, [3, 5, 2, 2, algo as u64, 0]);
        let c = unsafe { gc_dataset_info(ds.0, null_mut(), 2, e, 200) };
        assert_eq!(c, GC_ERR_NULL_POINTER);
        let c = unsafe { gc_dataset_info(ds.0, null_mut(), 0, e, 200) };
        assert_eq!(c, GC_OK);
    }
}

#[test]
fn empty_inputs_work() {
    let t = small();
    for algo in [0, 1, 2] {
        // No patterns: states may be NULL.
        let r = new_raw(3, 5, t.parent.as_ptr(), t.bl.as_ptr(), 0, null(), 0, algo);
        assert_eq!(r.code, GC_OK, "{}", r.msg);
        let ds = Ds(r.ds);
        let mut prog = [7u64, 7, 0];
        assert_eq!(loglik(&ds, 2, &[0.5, 1.0, 1.0, 1.0], &mut [], Some(&mut []), prog.as_mut_ptr()).0, GC_OK);
        assert_eq!(prog[0], prog[1]);
        // No sets on a dataset with patterns.
        let ds = Ds(new(&t, &[0, 1, 0], algo).ds);
        assert_eq!(loglik(&ds, 0, &[], &mut [], None, null_mut()).0, GC_OK);
    }
    let mut info = [0u64; 5];
    let r = new_raw(3, 5, t.parent.as_ptr(), t.bl.as_ptr(), 0, null(), 0, 0);
    let ds = Ds(r.ds);
    unsafe { gc_dataset_info(ds.0, info.as_mut_ptr(), 5, null_mut(), 0) };
    assert_eq!(info[4], 2, "auto resolves to sparse");
    assert!(info[3] >= 1, "0 threads means one per CPU");
    unsafe { gc_dataset_free(null_mut()) };
}

#[test]
fn progress_reaches_total_and_cancel_stops() {
    let mut rng = Rng(3);
    let tree = random_tree(&mut rng, 200, false);
    let states = random_patterns(&mut rng, 200, 3000);
    for algo in [1, 2] {
        let ds = Ds(new(&tree, &states, algo).ds);
        let mut out = vec![0.0; 6000];
        let mut prog = [0u64, 0, 0];
        let r = loglik(&ds, 2, &[0.5, 1.0, 1.0, 2.0], &mut out, None, prog.as_mut_ptr());
        assert_eq!(r.0, GC_OK, "{}", r.1);
        assert_eq!(prog[1], 6000);
        assert_eq!(prog[0], 6000);
        let mut prog = [0u64, 0, 1];
        let r = loglik(&ds, 2, &[0.5, 1.0, 1.0, 2.0], &mut out, None, prog.as_mut_ptr());
        assert_eq!(r.0, GC_ERR_CANCELLED, "{}", r.1);
        assert!(r.1.to_lowercase().contains("cancel"));
        // Cancel from another thread while a long call runs.
        let many: Vec<f64> = (0..400).flat_map(|i| [0.5 + i as f64 * 0.01, 1.0]).collect();
        let mut out = vec![0.0; 400 * 3000];
        let mut prog = [0u64, 0, 0];
        let pp = prog.as_mut_ptr() as usize;
        let canceller = std::thread::spawn(move || {
            let p = unsafe { std::sync::atomic::AtomicU64::from_ptr((pp as *mut u64).add(2)) };
            std::thread::sleep(std::time::Duration::from_millis(20));
            p.store(1, std::sync::atomic::Ordering::SeqCst);
        });
        let r = loglik(&ds, 400, &many, &mut out, None, prog.as_mut_ptr());
        canceller.join().unwrap();
        assert_eq!(r.0, GC_ERR_CANCELLED, "{}", r.1);
        assert!(prog[0] < prog[1]);
    }
}

#[test]
fn values_through_the_abi_match_brute_force() {
    let t = small();
    let states = [0u8, 1, 0, 1, 1, 1, 2, 0, 1];
    for algo in [1, 2] {
        let ds = Ds(new(&t, &states, algo).ds);
        let mut out = [0.0; 6];
        let mut g = [0.0; 12];
        assert_eq!(loglik(&ds, 2, &[0.5, 1.0, 3.0, 0.1], &mut out, Some(&mut g), null_mut()).0, GC_OK);
        for k in 0..2 {
            for p in 0..3 {
                let (gain, loss) = [(0.5, 1.0), (3.0, 0.1)][k];
                let want = brute_force(&t, &states[p * 3..p * 3 + 3], gain, loss);
                // Tiny tree: a handful of rounded operations.
                assert!(close(out[k * 3 + p], want, 1e-13));
            }
        }
    }
}

fn args() -> gc_eval_args {
    gc_eval_args {
        struct_size: std::mem::size_of::<gc_eval_args>() as u64,
        n_sets: 0,
        layout: genecontent::constants::GC_RATES_GLOBAL,
        reserved: 0,
        rates: null(),
        rates_len: 0,
        tangents: null(),
        tangents_len: 0,
        patterns: null(),
        patterns_len: 0,
        out_loglik: null_mut(),
        out_loglik_len: 0,
        out_grad: null_mut(),
        out_grad_len: 0,
        progress: null_mut(),
    }
}

fn evaluate_raw(ds: *const gc_dataset, a: *const gc_eval_args) -> (i32, String) {
    let mut err = [0xffu8; 400];
    let code = unsafe { gc_evaluate(ds, a, err.as_mut_ptr() as *mut _, err.len() as u64) };
    (code, if code == GC_OK { String::new() } else { msg_of(&err) })
}

#[test]
fn eval_args_has_the_documented_size() {
    // 13 eight-byte fields and two four-byte ones (header: 112 bytes in ABI 2 on 64-bit).
    assert_eq!(std::mem::size_of::<gc_eval_args>(), 112);
    assert_eq!(GC_EVAL_ARGS_SIZE, 112);
}

#[test]
fn gc_evaluate_equals_gc_loglik_and_reports_its_errors() {
    let mut rng = Rng(31);
    let tree = random_tree(&mut rng, 30, true);
    let states = random_patterns(&mut rng, 30, 50);
    let rates = [0.5, 1.0, 2.0, 0.3];
    for algo in [1, 2] {
        let ds = Ds(new(&tree, &states, algo).ds);
        let mut out = vec![0.0; 100];
        let mut g = vec![0.0; 200];
        assert_eq!(loglik(&ds, 2, &rates, &mut out, Some(&mut g), null_mut()).0, GC_OK);
        let mut out2 = vec![0.0; 100];
        let mut g2 = vec![0.0; 200];
        let mut prog = [0u64; 3];
        let mut a = args();
        a.n_sets = 2;
        (a.rates, a.rates_len) = (rates.as_ptr(), 4);
        (a.out_loglik, a.out_loglik_len) = (out2.as_mut_ptr(), 100);
        (a.out_grad, a.out_grad_len) = (g2.as_mut_ptr(), 200);
        a.progress = prog.as_mut_ptr();
        let r = evaluate_raw(ds.0, &a);
        assert_eq!(r.0, GC_OK, "{}", r.1);
        assert_eq!(prog[..2], [100, 100]);
        assert!(out.iter().zip(&out2).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert!(g.iter().zip(&g2).all(|(x, y)| x.to_bits() == y.to_bits()));

        // A caller with a larger (newer) struct: the known prefix is read.
        #[repr(C)]
        struct Newer {
            a: gc_eval_args,
            extra: [u64; 2],
        }
        let mut newer = Newer { a, extra: [0; 2] };
        newer.a.struct_size = std::mem::size_of::<Newer>() as u64;
        assert_eq!(evaluate_raw(ds.0, &newer.a).0, GC_OK);

        let check = |a: &gc_eval_args, code: i32, needle: &str| {
            let r = evaluate_raw(ds.0, a);
            assert_eq!(r.0, code, "{}", r.1);
            assert!(r.1.contains(needle), "{:?} lacks {needle:?}", r.1);
        };
        check(&gc_eval_args { struct_size: 8, ..a }, GC_ERR_INVALID_ARGUMENT, "struct_size is 8");
        check(&gc_eval_args { layout: 2, ..a }, GC_ERR_INVALID_ARGUMENT, "layout is 2");
        check(&gc_eval_args { reserved: 1, ..a }, GC_ERR_INVALID_ARGUMENT, "reserved is 1");
        check(&gc_eval_args { rates: null(), ..a }, GC_ERR_NULL_POINTER, "rates is NULL");
        check(&gc_eval_args { out_loglik: null_mut(), ..a }, GC_ERR_NULL_POINTER, "out_loglik");
        check(&gc_eval_args { out_grad: null_mut(), ..a }, GC_ERR_NULL_POINTER, "out_grad");
        check(&gc_eval_args { patterns_len: 3, ..a }, GC_ERR_NULL_POINTER, "patterns is NULL");
        check(&gc_eval_args { tangents_len: 8, ..a }, GC_ERR_NULL_POINTER, "tangents is NULL");
        let bad = [3u32, 2];
        check(
            &gc_eval_args { patterns: bad.as_ptr(), patterns_len: 2, ..a },
            GC_ERR_INVALID_ARGUMENT,
            "patterns[1] is 2, not greater than patterns[0] (3)",
        );
        let far = [3u32, 50];
        check(
            &gc_eval_args { patterns: far.as_ptr(), patterns_len: 2, ..a },
            GC_ERR_INVALID_ARGUMENT,
            "patterns[1] is 50, not below n_patterns (50)",
        );
        // The length check names the subset.
        let ok = [3u32, 7];
        check(
            &gc_eval_args { patterns: ok.as_ptr(), patterns_len: 2, ..a },
            GC_ERR_INVALID_ARGUMENT,
            "out_loglik_len is 100 but n_sets * patterns_len is 2 * 2 = 4",
        );
        let r = evaluate_raw(ds.0, null());
        assert_eq!((r.0, r.1.as_str()), (GC_ERR_NULL_POINTER, "args is NULL"));
        let r = evaluate_raw(null(), &a);
        assert_eq!((r.0, r.1.as_str()), (GC_ERR_NULL_POINTER, "dataset is NULL"));
        // A subset through the ABI: the entries of the full result.
        let mut o = [0.0; 4];
        let sub = gc_eval_args {
            patterns: ok.as_ptr(),
            patterns_len: 2,
            out_loglik: o.as_mut_ptr(),
            out_loglik_len: 4,
            out_grad: null_mut(),
            out_grad_len: 0,
            ..a
        };
        assert_eq!(evaluate_raw(ds.0, &sub).0, GC_OK);
        assert_eq!(o, [out[3], out[7], out[53], out[57]]);
    }
}
