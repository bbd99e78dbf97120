//! Stage 2: IP-DPP selection and classifier re-training. Per class, p(y|x) of every training image
//! (first from the probe head, then from the current model every R epochs) builds the class kernel and
//! a size-k subset is drawn (classes with N_c ≤ k keep everything); the encoder (`--finetune all`) or only
//! a new linear head (`--finetune head`) trains on the union with cross-entropy. Evaluation at the end.
use super::config::Finetune;
use super::eval::{predict, score, table};
use super::head::{adamw_params, classifier_loss, step_loss};
use super::{
    labels_i64, oom_hint, salt, sub_seed, true_class_probs, Pipeline, SelectionRecord, Stage,
};
use crate::data::augment::Augment;
use crate::data::sampler::SubsetSampler;
use crate::dpp::select::{select, SelectOptions};
use crate::error::{Error, Result};
use crate::nn::Mode;
use crate::optim::{AdamW, CosineSchedule};
use std::time::Instant;

/// Draws the stage-2 subset before `epoch`.
fn reselect(p: &mut Pipeline, epoch: usize) -> Result<()> {
    let c = p.cfg.stage2.clone();
    let Some(selector) = c.selector.selector() else {
        return Ok(());
    };
    let t0 = Instant::now();
    let kernel = c.kernel.kind();
    let n = p.train.len();
    let all: Vec<usize> = (0..n).collect();
    let need_f = kernel.needs_features();
    let (probs, feats, source) = if epoch == 0 {
        let probs = p
            .progress
            .probe
            .as_ref()
            .map(|o| o.p.clone())
            .ok_or_else(|| Error::usage("stage 2 needs the probe's p(y|x): run the probe first"))?;
        let feats = if need_f {
            predict(
                &mut p.net,
                &mut p.probe_head,
                &p.train,
                &all,
                p.cfg.eval_batch,
                true,
            )?
            .1
        } else {
            Vec::new()
        };
        (probs, feats, "probe")
    } else {
        let (logits, feats) = predict(
            &mut p.net,
            &mut p.fc,
            &p.train,
            &all,
            p.cfg.eval_batch,
            need_f,
        )?;
        (
            true_class_probs(&logits, &p.train.ds.labels, p.classes)?,
            feats,
            "model",
        )
    };
    let n_min = p
        .train_counts
        .iter()
        .copied()
        .filter(|&x| x > 0)
        .min()
        .unwrap_or(1);
    let k = c.k.unwrap_or(c.k_factor.max(1) * n_min);
    let d = p.cfg.arch.feature_dim();
    let sel = select(
        &p.dev,
        &labels_i64(&p.train.ds),
        &probs,
        if need_f { Some((&feats[..], d)) } else { None },
        &SelectOptions::new(
            kernel,
            selector,
            Some(k),
            sub_seed(p.cfg.seed ^ epoch as u64, salt::SELECT),
            1,
        ),
    )?;
    let chosen = sel.draws.into_iter().next().unwrap_or_default();
    let secs = t0.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "kernel": sel.kernel, "selector": sel.selector, "k": k, "classes": sel.classes, "ms": sel.ms,
        "seconds": secs,
    });
    p.metric(serde_json::json!({
        "stage": "stage2", "event": "select", "epoch": epoch, "source": source,
        "kept": chosen.len(), "total": n, "seconds": secs,
    }))?;
    p.say(&format!(
        "stage2  IP-DPP ({} kernel, {} selector, k = {k}) from the {source}: kept {} of {n} images in {secs:.2} s",
        kernel.name(),
        selector.name(),
        chosen.len()
    ));
    p.progress.selections.push(SelectionRecord {
        epoch,
        source: source.into(),
        kept: chosen.len(),
        total: n,
        report,
    });
    p.progress.selection = Some(chosen);
    p.add_seconds(Stage::Stage2, secs);
    Ok(())
}

pub fn run(p: &mut Pipeline) -> Result<()> {
    let c = p.cfg.stage2.clone();
    let seed = sub_seed(p.cfg.seed, salt::STAGE2);
    let n = p.train.len();
    let sched = CosineSchedule {
        base_lr: c.lr,
        warmup_epochs: c.warmup_epochs,
        epochs: c.epochs as f64,
        min_lr: 0.0,
    };
    let aug = Augment::Simclr(p.cfg.aug.simclr(c.strength));
    let dev = p.dev.clone();
    let all_mode = c.finetune == Finetune::All;
    let mut loss_buf = None;
    for epoch in p.progress.epoch..c.epochs {
        // Re-select on the schedule; a run resumed mid-period (or inside this epoch) has the selection
        // in its checkpoint.
        if c.selector.selector().is_some()
            && !p.resuming_inside(Stage::Stage2, epoch)
            && (epoch % c.reselect_every == 0 || p.progress.selection.is_none())
        {
            reselect(p, epoch)?;
        }
        let t0 = Instant::now();
        let idx = p
            .progress
            .selection
            .clone()
            .unwrap_or_else(|| (0..n).collect());
        let sampler = SubsetSampler::new(idx, n)?;
        let steps = sampler.len().div_ceil(c.batch);
        // Batch-norm training needs 2 images: a last batch of 1 is dropped.
        let batches: Vec<Vec<usize>> = sampler
            .epoch(c.batch, seed, epoch as u32, false)?
            .into_iter()
            .filter(|b| b.len() >= 2)
            .collect();
        let nb = batches.len();
        let mut run = p.begin_epoch(Stage::Stage2, epoch, c.epochs, &batches, t0)?;
        let pb = p.bar(nb, format!("stage2 {}/{}", epoch + 1, c.epochs));
        pb.set_position(run.start as u64);
        let train = std::sync::Arc::clone(&p.train);
        let feed = train.epoch_from(batches, run.start, aug, 1, seed, epoch as u32)?;
        for (bi, fed) in (run.start..).zip(feed) {
            let fed = fed?;
            let b = fed.indices.len();
            let mode = if all_mode { Mode::Train } else { Mode::Eval };
            let fs = p
                .net
                .forward(&fed.images, mode, 1, false)
                .map_err(|e| oom_hint(e, "--batch2", c.batch))?;
            let logits = p.fc.forward(&dev, p.net.slot(fs), b)?;
            let (host_loss, gb) =
                classifier_loss(&dev, logits, &fed.labels, p.classes, &mut loss_buf)?;
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
            let gx = p.fc.backward(&dev, p.net.slot(fs), &gb, b, all_mode)?;
            if let Some(gx) = gx {
                p.net.backward_features(gx)?;
                // The projector is not part of the classifier: its parameters stay as stage 1 left them.
                adamw_params(
                    &dev,
                    p.net
                        .params
                        .iter_mut()
                        .filter(|q| !q.name.starts_with("proj.")),
                    &h,
                )?;
            }
            adamw_params(&dev, p.fc.params.iter_mut(), &h)?;
            p.end_step(&mut run, bi, step_loss(host_loss, &loss_buf)?, b, lr)?;
            pb.inc(1);
        }
        dev.synchronize()?;
        pb.finish_and_clear();
        let e = run.finish();
        p.end_epoch(&e, serde_json::json!({ "images": e.images }))?;
    }
    evaluate(p)?;
    p.progress.stage = Stage::Done;
    p.progress.epoch = 0;
    p.checkpoint("stage2-end", true)?;
    p.write_results()?;
    Ok(())
}

/// Test accuracy of the stage-2 model (encoder + fc head), stored in the progress and printed.
pub fn evaluate(p: &mut Pipeline) -> Result<()> {
    let t0 = Instant::now();
    let idx: Vec<usize> = (0..p.test.len()).collect();
    let (logits, _) = predict(
        &mut p.net,
        &mut p.fc,
        &p.test,
        &idx,
        p.cfg.eval_batch,
        false,
    )?;
    let acc = score(&logits, &p.test.ds.labels, &p.train_counts, p.rule);
    let secs = t0.elapsed().as_secs_f64();
    p.metric(serde_json::json!({
        "stage": "eval", "event": "eval", "overall": acc.overall, "many": acc.many,
        "medium": acc.medium, "few": acc.few, "seconds": secs,
    }))?;
    p.print_table(&table(
        "Final (stage 2: IP-DPP fine-tuned), test accuracy %",
        &acc,
    ));
    p.progress.final_accuracy = Some(acc);
    Ok(())
}
