//! The linear classifier (probe head and stage-2 head) on the encoder features, and AdamW over a chosen
//! set of parameters.
use crate::device::nn_ops;
use crate::device::ops;
use crate::device::{Buffer, Device};
use crate::error::Result;
use crate::nn::{Param, ParamKind};
use crate::optim::AdamW;
use rand::{RngExt, SeedableRng};

pub struct Head {
    pub din: usize,
    pub dout: usize,
    /// `<prefix>.weight` [dout, din] and `<prefix>.bias` [dout].
    pub params: Vec<Param>,
    logits: Buffer,
    gx: Buffer,
    rows: usize,
}

impl Head {
    /// PyTorch's nn.Linear initialisation, U(−1/√din, 1/√din), seeded.
    pub fn new(dev: &Device, prefix: &str, din: usize, dout: usize, seed: u64) -> Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let b = 1.0 / (din as f32).sqrt();
        let w: Vec<f32> = (0..din * dout).map(|_| rng.random_range(-b..b)).collect();
        let bias: Vec<f32> = (0..dout).map(|_| rng.random_range(-b..b)).collect();
        Ok(Head {
            din,
            dout,
            params: vec![
                Param::new(
                    dev,
                    &format!("{prefix}.weight"),
                    &[dout, din],
                    ParamKind::Linear,
                    &w,
                )?,
                Param::new(
                    dev,
                    &format!("{prefix}.bias"),
                    &[dout],
                    ParamKind::Vector,
                    &bias,
                )?,
            ],
            logits: Buffer::zeros(dev, 0)?,
            gx: Buffer::zeros(dev, 0)?,
            rows: 0,
        })
    }

    fn ensure(&mut self, dev: &Device, rows: usize) -> Result<()> {
        if self.rows != rows {
            self.logits = Buffer::zeros(dev, rows * self.dout)?;
            self.gx = Buffer::zeros(dev, rows * self.din)?;
            self.rows = rows;
        }
        Ok(())
    }

    /// Logits [rows, dout] of features `x` [rows, din].
    pub fn forward(&mut self, dev: &Device, x: &Buffer, rows: usize) -> Result<&Buffer> {
        self.ensure(dev, rows)?;
        let (w, b) = (&self.params[0].w, &self.params[1].w);
        nn_ops::linear_fwd(
            dev,
            &mut self.logits,
            x,
            w,
            Some(b),
            rows,
            self.din,
            self.dout,
        )?;
        Ok(&self.logits)
    }

    /// Parameter gradients (overwritten) from the logit gradient; returns the feature gradient when
    /// `need_gx`.
    pub fn backward(
        &mut self,
        dev: &Device,
        x: &Buffer,
        glogits: &Buffer,
        rows: usize,
        need_gx: bool,
    ) -> Result<Option<&Buffer>> {
        self.ensure(dev, rows)?;
        let (pw, pb) = self.params.split_at_mut(1);
        nn_ops::linear_bwd(
            dev,
            if need_gx { Some(&mut self.gx) } else { None },
            &mut pw[0].g,
            Some(&mut pb[0].g),
            glogits,
            x,
            &pw[0].w,
            rows,
            self.din,
            self.dout,
        )?;
        Ok(if need_gx { Some(&self.gx) } else { None })
    }
}

/// One AdamW update of `params` (no weight decay on 1-D parameters), as `ResNet::adamw_step` does.
pub fn adamw_params<'a>(
    dev: &Device,
    params: impl IntoIterator<Item = &'a mut Param>,
    h: &AdamW,
) -> Result<()> {
    for p in params {
        let hp = if p.decays() {
            *h
        } else {
            AdamW {
                weight_decay: 0.0,
                ..*h
            }
        };
        ops::adamw_f32(dev, &mut p.w, &p.g, &mut p.m, &mut p.v, &hp)?;
    }
    Ok(())
}

/// The classifier loss of a head's logits (the probe, stage 2). On the GPU: the cross-entropy kernel, the
/// loss left in `loss_buf` (one float, read back with the next steps': `StepLosses`), nothing waited
/// for; on the CPU (and on the GPU under `IPDPP_GPU_LOSSES=0`: the logits read back, as before 2026-11-28):
/// the reference, its loss returned. Returns (the host's loss, the gradient of the logits).
pub fn classifier_loss(
    dev: &Device,
    logits: &Buffer,
    labels: &[u32],
    classes: usize,
    loss_buf: &mut Option<cudarc::driver::CudaSlice<f32>>,
) -> Result<(Option<f64>, Buffer)> {
    let rows = labels.len();
    match (dev, logits) {
        (Device::Cuda(d), Buffer::Cuda(l)) if super::losses_stay_on_gpu() => {
            crate::loss::cross_entropy::check_labels(labels, classes)?;
            let lab: Vec<i32> = labels.iter().map(|&c| c as i32).collect();
            let labd = d.upload(&lab)?;
            let mut g = d.zeros::<f32>(rows * classes)?;
            if loss_buf.is_none() {
                *loss_buf = Some(d.zeros::<f32>(1)?);
            }
            let lb = loss_buf.as_mut().expect("allocated above");
            crate::loss::cross_entropy::cross_entropy_cuda(
                d,
                &mut lb.slice_mut(0..1),
                &mut g,
                l,
                &labd,
                rows,
                classes,
            )?;
            Ok((None, Buffer::Cuda(g)))
        }
        _ => {
            let h = logits.to_host(dev)?;
            let (loss, g) = crate::loss::cross_entropy::cross_entropy_f32(&h, labels, classes)?;
            Ok((Some(loss), Buffer::from_host(dev, &g)?))
        }
    }
}

/// The step loss for [`super::Pipeline::end_step`] from [`classifier_loss`]'s result.
pub fn step_loss<'a>(
    host: Option<f64>,
    loss_buf: &'a Option<cudarc::driver::CudaSlice<f32>>,
) -> Result<super::StepLoss<'a>> {
    match (host, loss_buf) {
        (Some(v), _) => Ok(super::StepLoss::Host(v)),
        (None, Some(b)) => Ok(super::StepLoss::Device(b)),
        (None, None) => Err(crate::error::Error::usage("classifier loss buffer missing")),
    }
}
