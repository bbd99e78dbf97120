//! f32 buffers that live on one device. Shapes are the caller's business (ops take explicit dims).
use super::Device;
use crate::error::{Error, Result};
use cudarc::driver::CudaSlice;

pub enum Buffer {
    Cpu(Vec<f32>),
    Cuda(CudaSlice<f32>),
}

impl Buffer {
    pub fn from_host(dev: &Device, data: &[f32]) -> Result<Self> {
        match dev {
            Device::Cpu => Ok(Buffer::Cpu(data.to_vec())),
            Device::Cuda(d) => Ok(Buffer::Cuda(d.upload(data)?)),
        }
    }
    pub fn zeros(dev: &Device, n: usize) -> Result<Self> {
        match dev {
            Device::Cpu => Ok(Buffer::Cpu(vec![0.0; n])),
            Device::Cuda(d) => Ok(Buffer::Cuda(d.zeros(n)?)),
        }
    }
    /// A buffer whose every element is NaN, so that a kernel which skips an element is caught.
    pub fn poisoned(dev: &Device, n: usize) -> Result<Self> {
        Self::from_host(dev, &vec![f32::NAN; n])
    }
    pub fn len(&self) -> usize {
        match self {
            Buffer::Cpu(v) => v.len(),
            Buffer::Cuda(s) => s.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn to_host(&self, dev: &Device) -> Result<Vec<f32>> {
        match (self, dev) {
            (Buffer::Cpu(v), _) => Ok(v.clone()),
            (Buffer::Cuda(s), Device::Cuda(d)) => d.download(s),
            (Buffer::Cuda(_), Device::Cpu) => Err(Error::usage(
                "a CUDA buffer was read through the CPU device",
            )),
        }
    }
    pub fn as_cpu(&self) -> Result<&[f32]> {
        match self {
            Buffer::Cpu(v) => Ok(v),
            Buffer::Cuda(_) => Err(Error::usage("expected a CPU buffer, got a CUDA one")),
        }
    }
}
