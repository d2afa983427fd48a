//! Embeds libtorch's library folder as an rpath so `striatum` runs with no environment set.
//!
//! torch-sys declares `links = "tch"` and exports the folder as `DEP_TCH_LIBTORCH_LIB` to
//! packages that depend on it directly (this one does).

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:rustc-env=STRIATUM_LIBTORCH_LIB={dir}");
    }
}
