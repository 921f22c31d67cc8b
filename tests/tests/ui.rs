//! Compile-time checks: misuse is a compile error at the right span, with a clear
//! message (`tests/ui/fail/*.stderr`), and valid uses compile (`tests/ui/pass`).
//! Regenerate the expected output with `TRYBUILD=overwrite` after reviewing it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
