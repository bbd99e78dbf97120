//! Samplers. Every draw is seeded by (seed, epoch) so a run can be replayed or resumed at any epoch.
//!
//! * [`instance_shuffle`]: a random permutation per epoch, cut into batches (the official code).
//! * [`BnsSampler`]: METHOD.md's group batches for the paper form of the BNS loss: a batch of B images is
//!   B/(m+1) groups, each one anchor and m other images of the anchor's label (drawn without replacement
//!   when the class has at least m + 1 images, else with replacement). An epoch covers as many images as
//!   the data set holds (⌊N/B⌋ batches, so "batch 1024" and "one epoch" cost the same as with instance
//!   shuffling); anchors are the first ones of a fresh permutation of the data set.
//! * [`class_balanced_subset`]: at most `per_class` random images per class (the linear probe).
//! * [`SubsetSampler`]: instance shuffling over given indices (the IP-DPP selection).
use crate::error::{Error, Result};
use crate::rng::mix64;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

fn epoch_rng(seed: u64, epoch: u32, salt: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(mix64(mix64(seed ^ salt).wrapping_add(epoch as u64)))
}

fn check_batch(batch: usize) -> Result<()> {
    if batch == 0 {
        return Err(Error::usage(
            "batch size 0: pass a batch size of at least 1 (e.g. --batch 256)",
        ));
    }
    Ok(())
}

/// A random permutation of 0..n for `epoch`, cut into batches of `batch`; a last partial batch is dropped
/// when `drop_last` (the official code's stage 1 drops it).
pub fn instance_shuffle(
    n: usize,
    batch: usize,
    seed: u64,
    epoch: u32,
    drop_last: bool,
) -> Result<Vec<Vec<usize>>> {
    check_batch(batch)?;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut epoch_rng(seed, epoch, 0x5348_5546));
    Ok(cut(idx, batch, drop_last))
}

fn cut(idx: Vec<usize>, batch: usize, drop_last: bool) -> Vec<Vec<usize>> {
    idx.chunks(batch)
        .filter(|c| !drop_last || c.len() == batch)
        .map(<[usize]>::to_vec)
        .collect()
}

/// Group batches for the BNS paper form.
#[derive(Clone, Debug)]
pub struct BnsSampler {
    labels: Vec<u32>,
    by_class: Vec<Vec<usize>>,
    /// Same-label images per anchor (m).
    pub m: usize,
}

impl BnsSampler {
    pub fn new(labels: &[u32], num_classes: usize, m: usize) -> Result<Self> {
        let mut by_class = vec![Vec::new(); num_classes];
        for (i, &l) in labels.iter().enumerate() {
            let l = l as usize;
            if l >= num_classes {
                return Err(Error::usage(format!(
                    "label {l} of image {i} is outside 0..{num_classes}"
                )));
            }
            by_class[l].push(i);
        }
        if labels.is_empty() {
            return Err(Error::usage("the BNS sampler got an empty data set"));
        }
        Ok(BnsSampler {
            labels: labels.to_vec(),
            by_class,
            m,
        })
    }

    /// Group size m + 1.
    pub fn group(&self) -> usize {
        self.m + 1
    }

    /// The m images that join `anchor`: distinct when its class has m + 1 images or more, else drawn with
    /// replacement from the class's other images (or the anchor itself if it is alone).
    fn mates(&self, anchor: usize, rng: &mut rand::rngs::StdRng, out: &mut Vec<usize>) {
        let class = &self.by_class[self.labels[anchor] as usize];
        let others = class.len() - 1;
        if others >= self.m {
            // Floyd's algorithm over positions 0..others (skipping the anchor's position).
            let apos = class.binary_search(&anchor).unwrap_or(0);
            let mut chosen: Vec<usize> = Vec::with_capacity(self.m);
            for j in others - self.m..others {
                let t = rng.random_range(0..=j);
                let pick = if chosen.contains(&t) { j } else { t };
                chosen.push(pick);
            }
            out.extend(
                chosen
                    .into_iter()
                    .map(|p| class[if p >= apos { p + 1 } else { p }]),
            );
        } else if others == 0 {
            out.extend(std::iter::repeat_n(anchor, self.m));
        } else {
            let apos = class.binary_search(&anchor).unwrap_or(0);
            for _ in 0..self.m {
                let p = rng.random_range(0..others);
                out.push(class[if p >= apos { p + 1 } else { p }]);
            }
        }
    }

    /// Batches of `batch` images (a multiple of m + 1) for `epoch`: each batch lists its groups in order,
    /// anchor first. ⌊N / batch⌋ batches.
    pub fn epoch(&self, batch: usize, seed: u64, epoch: u32) -> Result<Vec<Vec<usize>>> {
        check_batch(batch)?;
        let g = self.group();
        if batch % g != 0 {
            return Err(Error::usage(format!(
                "batch size {batch} is not a multiple of the group size m + 1 = {g}; pass a batch size like {}",
                (batch / g).max(1) * g
            )));
        }
        let n = self.labels.len();
        let nb = n / batch;
        if nb == 0 {
            return Err(Error::usage(format!(
                "batch size {batch} is larger than the data set ({n} images); pass a smaller batch size"
            )));
        }
        let mut rng = epoch_rng(seed, epoch, 0x424E_5347);
        let mut anchors: Vec<usize> = (0..n).collect();
        anchors.shuffle(&mut rng);
        let per = batch / g;
        let mut out = Vec::with_capacity(nb);
        for b in 0..nb {
            let mut v = Vec::with_capacity(batch);
            for &a in &anchors[b * per..(b + 1) * per] {
                v.push(a);
                self.mates(a, &mut rng, &mut v);
            }
            out.push(v);
        }
        Ok(out)
    }
}

/// At most `per_class` images of each class, drawn at random without replacement; sorted ascending.
pub fn class_balanced_subset(
    labels: &[u32],
    num_classes: usize,
    per_class: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    if per_class == 0 {
        return Err(Error::usage(
            "a class-balanced subset needs at least 1 image per class",
        ));
    }
    let mut by_class = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        let l = l as usize;
        if l >= num_classes {
            return Err(Error::usage(format!(
                "label {l} of image {i} is outside 0..{num_classes}"
            )));
        }
        by_class[l].push(i);
    }
    let mut rng = epoch_rng(seed, 0, 0x5052_4F42);
    let mut out = Vec::new();
    for v in &mut by_class {
        v.shuffle(&mut rng);
        out.extend_from_slice(&v[..per_class.min(v.len())]);
    }
    out.sort_unstable();
    Ok(out)
}

/// Instance shuffling restricted to a given subset (e.g. the union of IP-DPP selections).
#[derive(Clone, Debug)]
pub struct SubsetSampler {
    indices: Vec<usize>,
}

impl SubsetSampler {
    /// `n` is the size of the data set the indices point into.
    pub fn new(indices: Vec<usize>, n: usize) -> Result<Self> {
        if indices.is_empty() {
            return Err(Error::usage(
                "the subset is empty: the selection kept no image",
            ));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::usage(format!(
                "subset index {bad} is out of range: the data set has {n} images"
            )));
        }
        let mut seen = vec![false; n];
        for &i in &indices {
            if std::mem::replace(&mut seen[i], true) {
                return Err(Error::usage(format!(
                    "subset index {i} appears twice; a selection holds distinct images"
                )));
            }
        }
        Ok(SubsetSampler { indices })
    }
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    pub fn epoch(
        &self,
        batch: usize,
        seed: u64,
        epoch: u32,
        drop_last: bool,
    ) -> Result<Vec<Vec<usize>>> {
        check_batch(batch)?;
        let mut idx = self.indices.clone();
        idx.shuffle(&mut epoch_rng(seed, epoch, 0x5355_4253));
        Ok(cut(idx, batch, drop_last))
    }
}
