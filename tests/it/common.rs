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
