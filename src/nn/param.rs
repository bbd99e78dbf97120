//! Trainable parameters with their gradient and AdamW moments, named as PyTorch's state_dict names them.
use crate::device::{Buffer, Device};
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Convolution weight, stored OHWI ([out, kh, kw, in]); PyTorch stores OIHW.
    Conv,
    /// Linear weight [out, in] (same as PyTorch).
    Linear,
    /// 1-D: biases, batch-norm γ and β (no weight decay).
    Vector,
}

pub struct Param {
    pub name: String,
    /// PyTorch's shape (OIHW for convolutions).
    pub shape: Vec<usize>,
    pub kind: ParamKind,
    pub w: Buffer,
    pub g: Buffer,
    pub m: Buffer,
    pub v: Buffer,
}

impl Param {
    pub fn new(
        dev: &Device,
        name: &str,
        shape: &[usize],
        kind: ParamKind,
        init: &[f32],
    ) -> Result<Self> {
        let n = init.len();
        Ok(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            kind,
            w: Buffer::from_host(dev, init)?,
            g: Buffer::zeros(dev, n)?,
            m: Buffer::zeros(dev, n)?,
            v: Buffer::zeros(dev, n)?,
        })
    }
    pub fn len(&self) -> usize {
        self.w.len()
    }
    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }
    /// PyTorch's AdamW recipe in this project: weight decay only on parameters with ≥ 2 dimensions.
    pub fn decays(&self) -> bool {
        self.kind != ParamKind::Vector
    }
}
