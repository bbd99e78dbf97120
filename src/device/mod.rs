//! Devices: the CPU reference path and CUDA. `--device auto|cpu|cuda[:N]`.
pub mod buffer;
pub mod cpu;
pub mod cuda;
pub mod nn_ops;
pub mod nvrtc;
pub mod ops;
pub mod parts;

pub use buffer::Buffer;

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(Error::usage(format!(
                    "unknown device {s:?}; use auto, cpu, cuda or cuda:N (e.g. cuda:0)"
                ))),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// A device ready for work.
#[derive(Clone)]
pub enum Device {
    Cpu,
    Cuda(Arc<cuda::CudaDevice>),
}

impl Device {
    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }
    pub fn name(&self) -> String {
        match self {
            Device::Cpu => format!("cpu ({} threads)", rayon::current_num_threads()),
            Device::Cuda(d) => format!("cuda:{} ({})", d.ordinal, d.name),
        }
    }
    pub fn cuda(&self) -> Option<&Arc<cuda::CudaDevice>> {
        match self {
            Device::Cuda(d) => Some(d),
            Device::Cpu => None,
        }
    }
    /// Waits for queued GPU work; a no-op on the CPU.
    pub fn synchronize(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Cuda(d) => d.synchronize(),
        }
    }
}

/// The chosen device and one line saying why.
pub struct Selected {
    pub device: Device,
    pub reason: String,
}

/// `auto` takes CUDA device 0 when the driver and a device exist, else the CPU (the reason says why).
/// An explicit `cuda[:N]` that cannot be had is an error.
pub fn select(choice: DeviceChoice) -> Result<Selected> {
    match choice {
        DeviceChoice::Cpu => Ok(Selected {
            device: Device::Cpu,
            reason: "cpu requested (--device cpu)".into(),
        }),
        DeviceChoice::Cuda(n) => {
            let d = cuda::CudaDevice::open(n)?;
            let reason = format!("cuda:{n} requested: {} (sm_{}{})", d.name, d.cc.0, d.cc.1);
            Ok(Selected {
                device: Device::Cuda(d),
                reason,
            })
        }
        DeviceChoice::Auto => match cuda::CudaDevice::open(0) {
            Ok(d) => {
                let reason = format!("auto: found {} (sm_{}{})", d.name, d.cc.0, d.cc.1);
                Ok(Selected {
                    device: Device::Cuda(d),
                    reason,
                })
            }
            Err(e) => Ok(Selected {
                device: Device::Cpu,
                reason: format!("auto: using the CPU because {}", why(&e)),
            }),
        },
    }
}

fn why(e: &Error) -> String {
    match e {
        Error::NoCuda(m) => m.clone(),
        other => other.to_string(),
    }
}
