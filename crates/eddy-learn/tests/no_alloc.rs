//! Predict and learn of the linear models (and the other dense models) do not touch the heap
//! once warm: a counting global allocator checks it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use eddy_learn::linear::{GlmParams, LinearRegression, LogisticRegression};
use eddy_learn::naive_bayes::GaussianNb;
use eddy_learn::optim::Optimizer;
use eddy_learn::pa::{PaClassifier, PaRegressor};
use eddy_learn::softmax::SoftmaxRegression;
use eddy_learn::{Classifier, Regressor};

struct Counting;

thread_local! {
    /// Allocations made by this thread (tests run on parallel threads).
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn rows() -> Vec<[f64; 20]> {
    (0..300)
        .map(|i| std::array::from_fn(|j| (((i * 31 + j * 7) % 17) as f64 - 8.0) / 8.0))
        .collect()
}

fn check_classifier(name: &str, m: &mut dyn Classifier, n_classes: usize) {
    let rows = rows();
    let mut p = Vec::with_capacity(8);
    // Warm up: weights, optimizer state and scratch reach their sizes.
    for (i, x) in rows.iter().enumerate() {
        m.predict_proba_one(x, &mut p);
        m.learn_one(x, i % n_classes);
    }
    let before = allocs();
    for (i, x) in rows.iter().enumerate() {
        m.predict_proba_one(x, &mut p);
        std::hint::black_box(m.predict_one(x));
        m.learn_one(x, i % n_classes);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{name}: {n} allocations in 300 predict+learn steps");
}

fn check_regressor(name: &str, m: &mut dyn Regressor) {
    let rows = rows();
    for (i, x) in rows.iter().enumerate() {
        m.learn_one(x, i as f64 * 0.01);
    }
    let before = allocs();
    for (i, x) in rows.iter().enumerate() {
        std::hint::black_box(m.predict_one(x));
        m.learn_one(x, i as f64 * 0.01);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{name}: {n} allocations in 300 predict+learn steps");
}

#[test]
fn dense_models_do_not_allocate_per_example() {
    check_classifier("logistic_regression", &mut LogisticRegression::default(), 2);
    for opt in [
        Optimizer::adam(0.1, 0.9, 0.999, 1e-8),
        Optimizer::adagrad(0.1, 1e-8),
        Optimizer::ftrl(0.05, 1.0, 0.1, 1.0),
        Optimizer::inverse_scaling(0.1, 0.5),
    ] {
        let mut m = LogisticRegression::new(GlmParams {
            optimizer: opt,
            l1: 0.01,
            ..GlmParams::default()
        })
        .unwrap();
        check_classifier("logistic_regression (optimizers, l1)", &mut m, 2);
    }
    check_classifier("softmax_regression", &mut SoftmaxRegression::default(), 3);
    check_classifier("pa_classifier", &mut PaClassifier::default(), 2);
    check_classifier("gaussian_nb", &mut GaussianNb::new(), 3);
    check_regressor("linear_regression", &mut LinearRegression::default());
    check_regressor("pa_regressor", &mut PaRegressor::default());
}

#[test]
fn predict_one_agrees_with_predict_proba_one() {
    use eddy_learn::tree::HoeffdingTreeClassifier;
    let rows = rows();
    let mut models: Vec<Box<dyn Classifier>> = vec![
        Box::new(SoftmaxRegression::default()),
        Box::new(PaClassifier::default()),
        Box::new(GaussianNb::new()),
        Box::new(LogisticRegression::default()),
        Box::new(HoeffdingTreeClassifier::default()),
    ];
    for m in &mut models {
        let k = m.n_classes().max(3);
        let mut p = Vec::new();
        for round in 0..4 {
            for (i, x) in rows.iter().enumerate() {
                m.learn_one(x, (i + round) % k % 3);
                m.predict_proba_one(x, &mut p);
                let mut best = 0;
                for (c, &v) in p.iter().enumerate() {
                    if v > p[best] {
                        best = c;
                    }
                }
                assert_eq!(m.predict_one(x), best);
            }
        }
    }
}

/// Rows of named fields, encoded and run test-then-train ([`eddy_learn::tabular`]): once the
/// encoder, the row, the delay queue and the model have grown, no allocation per row — for
/// all-numeric rows and for rows with categories already seen, with and without a delay.
#[test]
fn tabular_rows_do_not_allocate_per_example() {
    use eddy_learn::registry::{self, Params};
    use eddy_learn::tabular::{
        build_metrics, ColumnSpec, ExampleEncoder, Field, PrequentialRun, Row,
    };
    use eddy_learn::Task;

    let cats = ["red", "green", "blue"];
    let labels = ["no", "yes"];
    let nums: Vec<String> = (0..40)
        .map(|i| format!("{:.3}", (i % 17) as f64 / 7.0 - 1.0))
        .collect();
    for (with_category, model, delay) in [
        (false, "logistic_regression", 0),
        (false, "linear_regression", 5),
        (true, "logistic_regression", 0),
        (true, "logistic_regression", 5),
        (true, "pa_regressor", 5),
    ] {
        let task = registry::build(model, &Params::new()).unwrap().task();
        let mut header: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
        header.push("y".into());
        header.push("c".into());
        let spec = ColumnSpec {
            ignore: if with_category {
                vec![]
            } else {
                vec!["c".into()]
            },
            ..Default::default()
        };
        let mut enc = ExampleEncoder::new("y", task, &header, &spec).unwrap();
        let layout = enc.layout(&header).unwrap();
        let m = registry::build(model, &Params::new()).unwrap();
        let ms = build_metrics(&m, &[]).unwrap();
        let det = eddy_learn::drift::build("adwin", &Params::new()).unwrap();
        let mut run = PrequentialRun::new(m, ms, Some(det), 50, delay).unwrap();
        let mut row = Row::default();
        let mut fields: Vec<Field> = Vec::with_capacity(header.len());
        let mut step = |i: usize, run: &mut PrequentialRun, row: &mut Row| {
            fields.clear();
            fields.extend((0..20).map(|j| Field::NumText(&nums[(i + j) % 40], 0.0)));
            for f in fields.iter_mut() {
                if let Field::NumText(t, v) = f {
                    *v = t.parse().unwrap();
                }
            }
            fields.push(match task {
                Task::Classification => Field::Text(labels[i % 2]),
                Task::Regression => Field::Num(i as f64 * 0.01),
            });
            fields.push(Field::Text(cats[i % 3]));
            let y = enc.encode(&fields, &layout, row).unwrap();
            std::hint::black_box(run.step(row, y));
        };
        for i in 0..300 {
            step(i, &mut run, &mut row);
        }
        let before = allocs();
        for i in 0..300 {
            step(i, &mut run, &mut row);
        }
        let n = allocs() - before;
        assert_eq!(
            n, 0,
            "{model} (categories: {with_category}, delay {delay}): {n} allocations in 300 rows"
        );
    }
}
