//! Softmax cross-entropy for the linear probe and stage-2 classifier: [`cross_entropy_f32`] on the CPU (f64
//! inside; the reference), [`cross_entropy_cuda`] on the GPU (kernels/cross_entropy.cu), so that a training
//! step on the GPU reads nothing back.
use crate::device::cuda::{check_len, launch_err, CudaDevice};
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, CudaViewMut, LaunchConfig, PushKernelArg};

/// Row-wise log-softmax of `logits` [rows, classes], in f64.
pub fn log_softmax_rows(logits: &[f32], classes: usize) -> Result<Vec<f64>> {
    if classes == 0 || logits.len() % classes != 0 {
        return Err(Error::usage(format!(
            "log-softmax: {} logits are not whole rows of {classes} classes",
            logits.len()
        )));
    }
    let mut out = vec![0.0f64; logits.len()];
    for (row, o) in logits.chunks(classes).zip(out.chunks_mut(classes)) {
        let mx = row
            .iter()
            .map(|&x| x as f64)
            .fold(f64::NEG_INFINITY, f64::max);
        let lse = mx + row.iter().map(|&x| (x as f64 - mx).exp()).sum::<f64>().ln();
        for (o, &x) in o.iter_mut().zip(row) {
            *o = x as f64 - lse;
        }
    }
    Ok(out)
}

/// Mean cross-entropy over the rows and its gradient with respect to the logits
/// ((softmax − one-hot) / rows), as `torch.nn.functional.cross_entropy` with mean reduction.
/// A non-finite logit gives a non-finite loss (the caller stops the run), never a panic.
pub fn cross_entropy_f32(
    logits: &[f32],
    labels: &[u32],
    classes: usize,
) -> Result<(f64, Vec<f32>)> {
    let rows = labels.len();
    if rows == 0 || logits.len() != rows * classes {
        return Err(Error::usage(format!(
            "cross-entropy: {} logits for {rows} labels and {classes} classes",
            logits.len()
        )));
    }
    check_labels(labels, classes)?;
    let ls = log_softmax_rows(logits, classes)?;
    let inv = 1.0 / rows as f64;
    let mut loss = 0.0;
    let mut g = vec![0.0f32; logits.len()];
    for (r, &l) in labels.iter().enumerate() {
        let row = &ls[r * classes..(r + 1) * classes];
        loss -= row[l as usize];
        for (c, (&lp, gr)) in row
            .iter()
            .zip(&mut g[r * classes..(r + 1) * classes])
            .enumerate()
        {
            let onehot = if c == l as usize { 1.0 } else { 0.0 };
            *gr = ((lp.exp() - onehot) * inv) as f32;
        }
    }
    Ok((loss * inv, g))
}

/// Every label names one of `classes` classes (a usage error naming the first that does not).
pub fn check_labels(labels: &[u32], classes: usize) -> Result<()> {
    match labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        Some((i, &l)) => Err(Error::usage(format!(
            "cross-entropy: label {l} of row {i} is outside 0..{classes}"
        ))),
        None => Ok(()),
    }
}

/// [`cross_entropy_f32`] on the GPU: the mean loss into `loss` (one float, e.g. a slot of a ring of step
/// losses) and its gradient into `g` [rows, classes], from `logits` [rows, classes] and `labels` [rows] on
/// the device; nothing read back. One block of 256 threads (a training batch); the same bits on every run.
pub fn cross_entropy_cuda(
    dev: &CudaDevice,
    loss: &mut CudaViewMut<f32>,
    g: &mut CudaSlice<f32>,
    logits: &CudaSlice<f32>,
    labels: &CudaSlice<i32>,
    rows: usize,
    classes: usize,
) -> Result<()> {
    if rows == 0 || classes == 0 {
        return Err(Error::usage(
            "cross-entropy: need at least one row and one class",
        ));
    }
    check_len("cross-entropy logits", logits.len(), rows * classes)?;
    check_len("cross-entropy gradient", g.len(), rows * classes)?;
    check_len("cross-entropy labels", labels.len(), rows)?;
    check_len("cross-entropy loss", loss.len(), 1)?;
    let as_i32 = |v: usize| {
        i32::try_from(v).map_err(|_| Error::usage(format!("cross-entropy: {v} exceeds i32")))
    };
    let (r, c) = (as_i32(rows)?, as_i32(classes)?);
    let f = dev.function("cross_entropy", "cross_entropy_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: cross_entropy_f32(float* loss, float* g, const float* logits, const int* labels, int rows,
    // int classes); lengths checked above; one block.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(loss)
            .arg(g)
            .arg(logits)
            .arg(labels)
            .arg(&r)
            .arg(&c)
            .launch(cfg)
    }
    .map_err(launch_err("cross_entropy_f32"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_definition_and_finite_differences() {
        let classes = 4;
        let logits = [0.3f32, -1.2, 2.0, 0.1, 1.5, 1.5, -0.5, 0.0];
        let labels = [2u32, 0];
        let (l, g) = cross_entropy_f32(&logits, &labels, classes).unwrap();
        let naive = |z: &[f32]| -> f64 {
            let mut s = 0.0;
            for (r, &lab) in labels.iter().enumerate() {
                let row = &z[r * classes..(r + 1) * classes];
                let den: f64 = row.iter().map(|&x| (x as f64).exp()).sum();
                s -= ((row[lab as usize] as f64).exp() / den).ln();
            }
            s / labels.len() as f64
        };
        assert!((l - naive(&logits)).abs() < 1e-9);
        for i in 0..logits.len() {
            let (mut a, mut b) = (logits, logits);
            a[i] += 1e-3;
            b[i] -= 1e-3;
            let fd = (naive(&a) - naive(&b)) / 2e-3;
            assert!((fd - g[i] as f64).abs() < 1e-4, "{i}: {fd} vs {}", g[i]);
        }
        assert!(cross_entropy_f32(&logits, &[9, 0], classes).is_err());
        let (nan, _) = cross_entropy_f32(&[f32::NAN, 0.0], &[0], 2).unwrap();
        assert!(!nan.is_finite());
    }
}
