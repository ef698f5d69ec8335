//! Compile-time tests of the macros: accepted shapes must compile (and run), every diagnostic
//! must read as recorded in `tests/ui/fail/*.stderr`.
//!
//! Regenerate the recorded output with `TRYBUILD=overwrite cargo test -p broker-macros --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
