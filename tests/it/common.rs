//! Helpers shared by the test modules.
use ipdpp::device::{cuda, Device};
use std::sync::Arc;

/// The CUDA device when there is one; otherwise prints the skip line the GPU bundle greps for.
pub fn cuda_or_skip(test: &str) -> Option<Device> {
    match cuda::device_count() {
        Ok(_) => match cuda::CudaDevice::open(0) {
            Ok(d) => Some(Device::Cuda(Arc::clone(&d))),
            Err(e) => panic!("{test}: a CUDA device is reported but cannot be opened: {e}"),
        },
        Err(_) => {
            println!("{test}: skipped: no CUDA device");
            None
        }
    }
}

pub fn seed_for(test: &str) -> u64 {
    let s = ipdpp::rng::fresh_seed();
    println!("{test}: seed {s}");
    s
}

/// The ipdpp binary: `$IPDPP_BIN` (the GPU bundle sets it: paths differ there), else cargo's.
pub fn bin() -> std::path::PathBuf {
    std::env::var_os("IPDPP_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_ipdpp").into())
}

/// A file under tests/fixtures/, found from `$IPDPP_SOURCE_DIR` (set by the GPU bundle) or the source tree.
#[allow(dead_code)]
pub fn fixture(rel: &str) -> std::path::PathBuf {
    let root = std::env::var("IPDPP_SOURCE_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    std::path::Path::new(&root).join("tests/fixtures").join(rel)
}
