//! A loader that keeps the data set in memory as u8 and augments the next batches on a background thread
//! (the augmentation itself fans out over rayon), so the consumer finds a batch ready.
//!
//! View numbering: the k-th occurrence of an image within an epoch (BNS groups may repeat an image) gets
//! views k·V .. k·V + V − 1, so repeated images still get distinct augmentations while every view stays a
//! pure function of (seed, epoch, image index, view).
//!
//! An epoch can start at any batch (a run resumed from a mid-epoch checkpoint): the batches before it are
//! not augmented, but their images are counted, because an image may occur more than once (BNS groups)
//! and its later occurrences must get the views of the full pass. Batch `k` of an epoch started at `k`
//! is therefore batch `k` of the full pass, bit for bit.
use super::augment::{augment_batch, Augment, Item, OUT_FLOATS};
use super::Dataset;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One augmented batch.
#[derive(Debug)]
pub struct Batch {
    /// Data set indices, in batch order.
    pub indices: Vec<usize>,
    pub labels: Vec<u32>,
    /// Number of views per image.
    pub views: usize,
    /// views × B × 32 × 32 × 3 floats: all first views (NHWC), then all second views, ...
    pub images: Vec<f32>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    /// The NHWC block of view `v`.
    pub fn view(&self, v: usize) -> &[f32] {
        let n = self.len() * OUT_FLOATS;
        &self.images[v * n..(v + 1) * n]
    }
}

/// Items (index, view) of every view of a batch, updating the per-epoch occurrence counts.
pub fn batch_items(
    batch: &[usize],
    views: usize,
    seen: &mut HashMap<usize, u32>,
) -> Vec<Vec<Item>> {
    let mut out = vec![Vec::with_capacity(batch.len()); views];
    for &i in batch {
        let k = seen.entry(i).or_insert(0);
        for (v, o) in out.iter_mut().enumerate() {
            o.push(Item {
                index: i as u32,
                view: *k * views as u32 + v as u32,
            });
        }
        *k += 1;
    }
    out
}

/// Checks an epoch's batches against a data set of `len` images before any of them is augmented.
pub fn check_batches(len: usize, batches: &[Vec<usize>], views: usize) -> Result<()> {
    if views == 0 {
        return Err(Error::usage("views must be at least 1 (SimCLR/BNS use 2)"));
    }
    if let Some(bad) = batches.iter().flatten().find(|&&i| i >= len) {
        return Err(Error::usage(format!(
            "batch index {bad} is out of range: the data set has {len} images"
        )));
    }
    Ok(())
}

/// The per-epoch occurrence counts after `batches` (the ones an epoch started later skips): exactly the
/// counts [`batch_items`] leaves behind, without making any item.
pub fn occurrences(batches: &[Vec<usize>]) -> HashMap<usize, u32> {
    let mut seen = HashMap::new();
    for &i in batches.iter().flatten() {
        *seen.entry(i).or_insert(0) += 1;
    }
    seen
}

/// Augments one batch on the calling thread.
pub fn make_batch(
    ds: &Dataset,
    batch: &[usize],
    aug: &Augment,
    views: usize,
    seed: u64,
    epoch: u32,
    seen: &mut HashMap<usize, u32>,
) -> Result<Batch> {
    let items = batch_items(batch, views, seen);
    let n = batch.len() * OUT_FLOATS;
    let mut images = vec![0.0f32; views * n];
    for (v, it) in items.iter().enumerate() {
        augment_batch(ds, it, aug, seed, epoch, &mut images[v * n..(v + 1) * n])?;
    }
    Ok(Batch {
        indices: batch.to_vec(),
        labels: batch.iter().map(|&i| ds.labels[i]).collect(),
        views,
        images,
    })
}

/// Iterator over the augmented batches of one epoch, prepared `prefetch` batches ahead.
pub struct Loader {
    rx: Option<Receiver<Result<Batch>>>,
    worker: Option<JoinHandle<()>>,
    remaining: usize,
}

impl Loader {
    /// The whole epoch.
    pub fn new(
        ds: Arc<Dataset>,
        batches: Vec<Vec<usize>>,
        aug: Augment,
        views: usize,
        seed: u64,
        epoch: u32,
        prefetch: usize,
    ) -> Result<Self> {
        Self::starting_at(ds, batches, 0, aug, views, seed, epoch, prefetch)
    }

    /// The batches `start..` of the epoch, each exactly as the full pass makes it (see the module notes).
    /// Every batch is checked, the skipped ones too; a `start` past the end yields nothing.
    pub fn starting_at(
        ds: Arc<Dataset>,
        mut batches: Vec<Vec<usize>>,
        start: usize,
        aug: Augment,
        views: usize,
        seed: u64,
        epoch: u32,
        prefetch: usize,
    ) -> Result<Self> {
        check_batches(ds.len(), &batches, views)?;
        let start = start.min(batches.len());
        let mut seen = occurrences(&batches[..start]);
        batches.drain(..start);
        let remaining = batches.len();
        let (tx, rx) = sync_channel(prefetch.max(1));
        let worker = std::thread::Builder::new()
            .name("ipdpp-loader".into())
            .spawn(move || {
                for b in &batches {
                    let r = make_batch(&ds, b, &aug, views, seed, epoch, &mut seen);
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        return; // consumer gone, or an error was handed over
                    }
                }
            })
            .map_err(|e| Error::usage(format!("could not start the loader thread: {e}")))?;
        Ok(Loader {
            rx: Some(rx),
            worker: Some(worker),
            remaining,
        })
    }

    /// Batches not yet handed out.
    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

impl Iterator for Loader {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        let r = self.rx.as_ref()?.recv().ok()?;
        self.remaining = self.remaining.saturating_sub(1);
        Some(r)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.rx.take(); // unblocks the worker's send
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
