//! Embeds libtorch's library folder as an rpath so this crate's tests run with no environment
//! set (torch-sys exports it as `DEP_TCH_LIBTORCH_LIB` to direct dependents).

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
