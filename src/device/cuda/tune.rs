//! Run-time choice among kernel variants that compute the same numbers (the same operations in the same
//! order) and differ only in speed, as cuDNN's benchmark mode does: the first call for a key times every
//! candidate on the caller's real arguments and the fastest is kept for the rest of the process, per
//! device. Later calls cost one map lookup.
use super::CudaDevice;
use crate::error::{Error, Result};
use cudarc::driver::sys::CUevent_flags;

/// Timed launches per candidate (after one untimed launch that loads the module and warms the caches); the
/// fastest of them counts. `IPDPP_TUNE_REPEATS=N` (at least 1) changes it: the simulated driver's tests
/// take 1, where times mean nothing and every launch is slow.
fn repeats() -> usize {
    static V: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *V.get_or_init(|| {
        std::env::var("IPDPP_TUNE_REPEATS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(2, |n| n.max(1))
    })
}

/// The candidate to use for `key` among those named `names`: remembered, or measured now with `run(i)`
/// launching candidate `i` (each launch must leave the same outputs, since the caller's buffers receive
/// every one of them).
pub fn pick(
    dev: &CudaDevice,
    key: &str,
    names: &[&str],
    mut run: impl FnMut(usize) -> Result<()>,
) -> Result<usize> {
    let n = names.len();
    if n <= 1 {
        return Ok(0);
    }
    if let Some((i, _)) = lock(dev)?.get(key) {
        return Ok(*i);
    }
    let ev = || {
        dev.ctx
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| Error::driver("creating an event", e))
    };
    let mut best = (f32::INFINITY, 0);
    for i in 0..n {
        run(i)?;
        for _ in 0..repeats() {
            let (a, b) = (ev()?, ev()?);
            a.record(&dev.stream)
                .map_err(|e| Error::driver("recording an event", e))?;
            run(i)?;
            b.record(&dev.stream)
                .map_err(|e| Error::driver("recording an event", e))?;
            b.synchronize()
                .map_err(|e| Error::driver("waiting for an event", e))?;
            let ms = a
                .elapsed_ms(&b)
                .map_err(|e| Error::driver("reading event time", e))?;
            if ms < best.0 {
                best = (ms, i);
            }
        }
    }
    lock(dev)?.insert(key.to_string(), (best.1, names[best.1].to_string()));
    Ok(best.1)
}

/// The candidate to launch among `cands`: `forced` where it is one of them, else the one picked for `key`
/// by speed ([`pick`], timing `run` on the first call). None when `cands` is empty.
pub fn choose<C: Copy + PartialEq>(
    dev: &CudaDevice,
    key: &str,
    cands: &[C],
    forced: Option<C>,
    tag: fn(C) -> &'static str,
    mut run: impl FnMut(C) -> Result<()>,
) -> Result<Option<C>> {
    if cands.is_empty() {
        return Ok(None);
    }
    if let Some(f) = forced.filter(|f| cands.contains(f)) {
        return Ok(Some(f));
    }
    let names: Vec<&str> = cands.iter().map(|&c| tag(c)).collect();
    let i = pick(dev, key, &names, |i| run(cands[i]))?;
    Ok(Some(cands[i]))
}

/// The candidate [`choose`] launches for `key` among `cands`: the forced one, the only one, or the one
/// picked by speed (None before the first call).
pub fn chosen<C: Copy + PartialEq>(
    dev: &CudaDevice,
    key: &str,
    cands: &[C],
    forced: Option<C>,
) -> Option<C> {
    if let Some(f) = forced.filter(|f| cands.contains(f)) {
        return Some(f);
    }
    if cands.len() == 1 {
        return Some(cands[0]);
    }
    // One map lookup: the grad-input launchers ask this on every call (whether to tune on a scratch).
    let i = lock(dev).ok()?.get(key).map(|(i, _)| *i)?;
    cands.get(i).copied()
}

/// The choices made so far on `dev`: (key, index, name), sorted by key (reports).
pub fn choices(dev: &CudaDevice) -> Result<Vec<(String, usize, String)>> {
    let mut v: Vec<_> = lock(dev)?
        .iter()
        .map(|(k, (i, name))| (k.clone(), *i, name.clone()))
        .collect();
    v.sort();
    Ok(v)
}

type Choices = std::collections::HashMap<String, (usize, String)>;

fn lock(dev: &CudaDevice) -> Result<std::sync::MutexGuard<'_, Choices>> {
    dev.tuned
        .lock()
        .map_err(|_| Error::usage("kernel tuning cache poisoned"))
}
