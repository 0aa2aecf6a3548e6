//! Records the optimisation level this crate is compiled at, so that a build
//! without optimisation (a dependent project's default `dev` profile) can
//! say so at run time: `tensor::fast::build_profile`.

fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_default();
    println!("cargo:rustc-env=TAPEGRAD_TENSOR_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=build.rs");
}
