//! Stage 1: BNS contrastive pre-training of encoder + projector on two SimCLR views per image.
//! Both views go through the network as one batch of 2B images with per-view batch-norm statistics.
//! Paper form: batches of groups (anchor + m same-label images, `BnsSampler`); code form: instance
//! shuffling with the last partial batch dropped. On CUDA the loss runs on the GPU (the BNS kernels of the
//! step's precision) and its value stays there until the pipeline reads a group of steps' losses back.
use super::config::LossForm;
use super::{oom_hint, salt, sub_seed, Pipeline, Stage, StepLoss};
use crate::data::augment::Augment;
use crate::data::sampler::{instance_shuffle, BnsSampler};
use crate::device::cuda::CudaDevice;
use crate::device::{Buffer, Device};
use crate::error::{Error, Result};
use crate::loss::bns::{bns_code_f32, bns_paper_f32, PaperLayout};
use crate::loss::bns_cuda::{BnsCodeCuda, BnsPaperCuda, BnsVersion};
use crate::nn::Mode;
use crate::optim::{AdamW, CosineSchedule};
use cudarc::driver::CudaSlice;
use std::time::Instant;

/// GPU loss workspaces, made for one batch size.
#[allow(clippy::large_enum_variant)]
enum CudaLoss {
    Code(BnsCodeCuda, CudaSlice<i32>),
    Paper {
        ws: Box<BnsPaperCuda>,
        labels: CudaSlice<i32>,
        z1: CudaSlice<f32>,
        z2: CudaSlice<f32>,
        g1: CudaSlice<f32>,
        g2: CudaSlice<f32>,
    },
}

/// Loss and the gradient of the stacked projector output [2B, d] (view 1 rows first).
#[allow(clippy::too_many_arguments)]
fn loss_and_grad(
    p: &Pipeline,
    z: &Buffer,
    labels: &[i32],
    d: usize,
    form: LossForm,
    m: usize,
    tau: f64,
    ws: &mut Option<(usize, CudaLoss, BnsVersion)>,
) -> Result<(Option<f64>, Buffer)> {
    let b = labels.len();
    match (&p.dev, z) {
        (Device::Cuda(dev), Buffer::Cuda(zs)) => {
            let v = BnsVersion::for_training(dev, p.net.conv_precision(), form == LossForm::Code);
            loss_cuda(dev, v, zs, labels, d, form, m, tau, ws)
        }
        _ => {
            let zh = z.to_host(&p.dev)?;
            let (z1, z2) = zh.split_at(b * d);
            let o = match form {
                LossForm::Paper => {
                    let layout = PaperLayout::groups(b, m)?;
                    bns_paper_f32(z1, z2, labels, &layout, d, tau as f32)?
                }
                LossForm::Code => bns_code_f32(z1, z2, labels, d, tau as f32)?,
            };
            let mut g = o.g1;
            g.extend_from_slice(&o.g2);
            Ok((Some(o.loss), Buffer::Cpu(g)))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn loss_cuda(
    dev: &CudaDevice,
    v: BnsVersion,
    zs: &CudaSlice<f32>,
    labels: &[i32],
    d: usize,
    form: LossForm,
    m: usize,
    tau: f64,
    ws: &mut Option<(usize, CudaLoss, BnsVersion)>,
) -> Result<(Option<f64>, Buffer)> {
    let b = labels.len();
    let drv = |e| Error::driver("stage-1 loss buffers", e);
    // Rebuilt when the batch size changes (the last batch of an epoch) or the version does (a resumed
    // run keeps its precision, so at most once).
    if ws.as_ref().map(|w| (w.0, w.2)) != Some((b, v)) {
        let w = match form {
            LossForm::Code => {
                CudaLoss::Code(BnsCodeCuda::new(dev, 2 * b, d, &[v])?, dev.zeros(2 * b)?)
            }
            LossForm::Paper => CudaLoss::Paper {
                ws: Box::new(BnsPaperCuda::new(
                    dev,
                    b,
                    d,
                    &PaperLayout::groups(b, m)?,
                    &[v],
                )?),
                labels: dev.zeros(b)?,
                z1: dev.zeros(b * d)?,
                z2: dev.zeros(b * d)?,
                g1: dev.zeros(b * d)?,
                g2: dev.zeros(b * d)?,
            },
        };
        *ws = Some((b, w, v));
    }
    let Some((_, w, _)) = ws.as_mut() else {
        return Err(Error::usage("stage-1 loss workspace missing"));
    };
    let mut gx = dev.zeros::<f32>(2 * b * d)?;
    match w {
        CudaLoss::Code(ws, lab) => {
            let l2: Vec<i32> = labels.iter().chain(labels).copied().collect();
            dev.stream.memcpy_htod(&l2, lab).map_err(drv)?;
            ws.run(dev, v, zs, lab, tau as f32, &mut gx)?;
        }
        CudaLoss::Paper {
            ws,
            labels: lab,
            z1,
            z2,
            g1,
            g2,
        } => {
            dev.stream.memcpy_htod(labels, lab).map_err(drv)?;
            dev.stream
                .memcpy_dtod(&zs.slice(0..b * d), z1)
                .map_err(drv)?;
            dev.stream
                .memcpy_dtod(&zs.slice(b * d..2 * b * d), z2)
                .map_err(drv)?;
            ws.run(dev, v, z1, z2, lab, tau as f32, g1, g2)?;
            dev.stream
                .memcpy_dtod(g1, &mut gx.slice_mut(0..b * d))
                .map_err(drv)?;
            dev.stream
                .memcpy_dtod(g2, &mut gx.slice_mut(b * d..2 * b * d))
                .map_err(drv)?;
        }
    }
    // The loss stays in the workspace ([`device_loss`]): read back with the next steps' (StepLosses).
    Ok((None, Buffer::Cuda(gx)))
}

/// The loss the last [`loss_cuda`] wrote (one float on the GPU).
fn device_loss(ws: &Option<(usize, CudaLoss, BnsVersion)>) -> Result<&CudaSlice<f32>> {
    match ws {
        Some((_, CudaLoss::Code(w, _), _)) => Ok(&w.loss),
        Some((_, CudaLoss::Paper { ws, .. }, _)) => Ok(&ws.loss),
        None => Err(Error::usage("stage-1 loss workspace missing")),
    }
}

pub fn run(p: &mut Pipeline) -> Result<()> {
    let c = p.cfg.stage1.clone();
    let seed = sub_seed(p.cfg.seed, salt::STAGE1);
    let labels_all = p.train.ds.labels.clone();
    let n = labels_all.len();
    let sampler = match c.loss {
        LossForm::Paper => Some(BnsSampler::new(&labels_all, p.classes, c.m)?),
        LossForm::Code => None,
    };
    let batches_of = |epoch: usize| -> Result<Vec<Vec<usize>>> {
        match &sampler {
            Some(s) => s.epoch(c.batch, seed, epoch as u32),
            None => instance_shuffle(n, c.batch, seed, epoch as u32, true),
        }
    };
    let steps = batches_of(0)?.len();
    if steps == 0 {
        return Err(Error::usage(format!(
            "stage 1: batch {} is larger than the training set ({n} images); pass a smaller --batch1",
            c.batch
        )));
    }
    let sched = CosineSchedule {
        base_lr: c.lr,
        warmup_epochs: c.warmup_epochs,
        epochs: c.epochs as f64,
        min_lr: 0.0,
    };
    let aug = Augment::Simclr(p.cfg.aug.simclr(c.strength));
    let d = c.proj_out;
    let mut ws = None;
    let dev = p.dev.clone();
    for epoch in p.progress.epoch..c.epochs {
        let t0 = Instant::now();
        let batches = batches_of(epoch)?;
        let nb = batches.len();
        let mut run = p.begin_epoch(Stage::Stage1, epoch, c.epochs, &batches, t0)?;
        let pb = p.bar(nb, format!("stage1 {}/{}", epoch + 1, c.epochs));
        pb.set_position(run.start as u64);
        let train = std::sync::Arc::clone(&p.train);
        let feed = train.epoch_from(batches, run.start, aug, 2, seed, epoch as u32)?;
        for (bi, fed) in (run.start..).zip(feed) {
            let fed = fed?;
            let b = fed.indices.len();
            let out = p
                .net
                .forward(&fed.images, Mode::Train, 2, true)
                .map_err(|e| oom_hint(e, "--batch1", c.batch))?;
            let labels: Vec<i32> = fed.labels.iter().map(|&l| l as i32).collect();
            let (host_loss, g) =
                loss_and_grad(p, p.net.slot(out), &labels, d, c.loss, c.m, c.tau, &mut ws)?;
            p.net.backward(&g)?;
            let lr = sched.lr_at(epoch, bi, steps);
            p.progress.adam_step += 1;
            p.net.adamw_step(&AdamW {
                lr: lr as f32,
                beta1: c.beta1 as f32,
                beta2: c.beta2 as f32,
                eps: 1e-8,
                weight_decay: c.weight_decay as f32,
                step: p.progress.adam_step,
            })?;
            let loss = match (host_loss, &p.dev) {
                (Some(v), _) => StepLoss::Host(v),
                (None, Device::Cuda(d)) if !super::losses_stay_on_gpu() => {
                    StepLoss::Host(d.download(device_loss(&ws)?)?[0] as f64)
                }
                (None, _) => StepLoss::Device(device_loss(&ws)?),
            };
            p.end_step(&mut run, bi, loss, 2 * b, lr)?;
            pb.inc(1);
            pb.set_message(format!("loss {:.4}", run.mean_loss()));
        }
        dev.synchronize()?;
        pb.finish_and_clear();
        let e = run.finish();
        p.end_epoch(&e, serde_json::json!({ "views": e.images, "batches": nb }))?;
    }
    p.progress.stage = Stage::Probe;
    p.progress.epoch = 0;
    p.reset_optimizer()?;
    p.checkpoint("stage1-end", true)?;
    p.write_results()?;
    Ok(())
}
