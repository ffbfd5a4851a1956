// Links libcommvq.so: from $COMMVQ_LIB_DIR when set, else the linker's
// default search path.
fn main() {
    println!("cargo:rerun-if-env-changed=COMMVQ_LIB_DIR");
    if let Ok(dir) = std::env::var("COMMVQ_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir);
    }
    println!("cargo:rustc-link-lib=dylib=commvq");
}
