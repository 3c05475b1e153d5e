//! kasim's end-to-end tests are one test binary, `tests/tests/suite/`
//! (its `main.rs` lists the modules; `common.rs` holds their shared helpers).
//! This library is empty: a package needs a target besides its tests.
