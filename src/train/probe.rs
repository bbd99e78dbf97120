//! Linear probe: the stage-1 encoder frozen in eval mode, a fresh linear head trained with cross-entropy
//! on a class-balanced random subset (SimCLR augmentation at strength 1). Its test accuracy is the
//! stage-1 quality figure; its softmax on clean training images gives the first p(y|x) for IP-DPP.
use super::eval::{predict, score, table};
use super::head::{adamw_params, classifier_loss, step_loss};
use super::{salt, sub_seed, true_class_probs, Pipeline, ProbeOutcome, Stage};
use crate::data::augment::Augment;
use crate::data::sampler::{class_balanced_subset, SubsetSampler};
use crate::error::Result;
use crate::nn::Mode;
use crate::optim::{AdamW, CosineSchedule};
use std::time::Instant;

pub fn run(p: &mut Pipeline) -> Result<()> {
    let c = p.cfg.probe.clone();
    let seed = sub_seed(p.cfg.seed, salt::PROBE);
    let n = p.train.len();
    let subset = class_balanced_subset(&p.train.ds.labels, p.classes, c.per_class, seed)?;
    let sampler = SubsetSampler::new(subset, n)?;
    let steps = sampler.len().div_ceil(c.batch);
    let sched = CosineSchedule {
        base_lr: c.lr,
        warmup_epochs: c.warmup_epochs,
        epochs: c.epochs as f64,
        min_lr: 0.0,
    };
    let aug = Augment::Simclr(p.cfg.aug.simclr(c.strength));
    let dev = p.dev.clone();
    let mut loss_buf = None;
    for epoch in p.progress.epoch..c.epochs {
        let t0 = Instant::now();
        let batches = sampler.epoch(c.batch, seed, epoch as u32, false)?;
        let nb = batches.len();
        let mut run = p.begin_epoch(Stage::Probe, epoch, c.epochs, &batches, t0)?;
        let pb = p.bar(nb, format!("probe {}/{}", epoch + 1, c.epochs));
        pb.set_position(run.start as u64);
        let train = std::sync::Arc::clone(&p.train);
        let feed = train.epoch_from(batches, run.start, aug, 1, seed, epoch as u32)?;
        for (bi, fed) in (run.start..).zip(feed) {
            let fed = fed?;
            let b = fed.indices.len();
            let fs = p.net.forward(&fed.images, Mode::Eval, 1, false)?;
            let logits = p.probe_head.forward(&dev, p.net.slot(fs), b)?;
            let (host_loss, gb) =
                classifier_loss(&dev, logits, &fed.labels, p.classes, &mut loss_buf)?;
            p.probe_head.backward(&dev, p.net.slot(fs), &gb, b, false)?;
            let lr = sched.lr_at(epoch, bi, steps);
            p.progress.adam_step += 1;
            let h = AdamW {
                lr: lr as f32,
                beta1: c.beta1 as f32,
                beta2: c.beta2 as f32,
                eps: 1e-8,
                weight_decay: c.weight_decay as f32,
                step: p.progress.adam_step,
            };
            adamw_params(&dev, p.probe_head.params.iter_mut(), &h)?;
            p.end_step(&mut run, bi, step_loss(host_loss, &loss_buf)?, b, lr)?;
            pb.inc(1);
        }
        pb.finish_and_clear();
        let e = run.finish();
        p.end_epoch(&e, serde_json::json!({ "images": e.images }))?;
    }
    let t0 = Instant::now();
    let test_idx: Vec<usize> = (0..p.test.len()).collect();
    let (logits, _) = predict(
        &mut p.net,
        &mut p.probe_head,
        &p.test,
        &test_idx,
        p.cfg.eval_batch,
        false,
    )?;
    let acc = score(&logits, &p.test.ds.labels, &p.train_counts, p.rule);
    let train_idx: Vec<usize> = (0..n).collect();
    let (tl, _) = predict(
        &mut p.net,
        &mut p.probe_head,
        &p.train,
        &train_idx,
        p.cfg.eval_batch,
        false,
    )?;
    let probs = true_class_probs(&tl, &p.train.ds.labels, p.classes)?;
    p.add_seconds(Stage::Probe, t0.elapsed().as_secs_f64());
    p.metric(serde_json::json!({
        "stage": "probe", "event": "eval", "overall": acc.overall, "many": acc.many,
        "medium": acc.medium, "few": acc.few, "seconds": t0.elapsed().as_secs_f64(),
    }))?;
    p.print_table(&table(
        "Linear probe (stage-1 encoder, frozen), test accuracy %",
        &acc,
    ));
    p.progress.probe = Some(ProbeOutcome {
        accuracy: acc,
        p: probs,
    });
    p.progress.stage = Stage::Stage2;
    p.progress.epoch = 0;
    p.reset_optimizer()?;
    p.checkpoint("probe-end", true)?;
    p.write_results()?;
    Ok(())
}
