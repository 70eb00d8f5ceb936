//! `scripts/make_doc_examples.py` ports eddy's generator to Python to run River on the streams
//! of the doc examples; the first draws it recorded must be the generator's.

use eddy_core::rng::Rng;

#[test]
fn python_port_of_the_generator_matches() {
    let text = include_str!("../../../fixtures/doc_examples.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let check = &v["rng_check"];
    let mut rng = Rng::new(42);
    assert_eq!(check[0].as_u64(), Some(rng.next_u64()));
    assert_eq!(check[1].as_f64(), Some(rng.next_f64()));
    assert_eq!(check[2].as_f64(), Some(rng.normal()));
}
