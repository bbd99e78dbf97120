//! Long-tailed subsets as in LDAM (Cao et al. 2019): class i keeps the first
//! n_i = ⌊n_max · IF^(−i/(C−1))⌋ images of that class in file order; test sets stay balanced.
use super::Dataset;
use crate::error::{Error, Result};

/// Per-class counts of the long-tailed rule. Computed as LDAM does, n_max · (1/IF)^(i/(C−1)) in f64.
pub fn counts(n_max: usize, num_classes: usize, imbalance: f64) -> Result<Vec<usize>> {
    if !imbalance.is_finite() || imbalance < 1.0 {
        return Err(Error::usage(format!(
            "imbalance factor {imbalance} is invalid: it is n_max / n_min and must be >= 1 (e.g. 10, 50, 100)"
        )));
    }
    if num_classes == 0 {
        return Err(Error::usage("a long-tailed set needs at least one class"));
    }
    if num_classes == 1 {
        return Ok(vec![n_max]);
    }
    let inv = 1.0 / imbalance;
    Ok((0..num_classes)
        .map(|i| (n_max as f64 * inv.powf(i as f64 / (num_classes - 1) as f64)) as usize)
        .collect())
}

/// Indices (into `ds`, ascending within each class, classes in order) of the long-tailed subset.
/// `n_max` defaults to the size of the largest class. Errors if a class holds fewer images than it needs.
pub fn indices(ds: &Dataset, imbalance: f64, n_max: Option<usize>) -> Result<Vec<usize>> {
    let by_class = ds.indices_by_class();
    let n_max = n_max.unwrap_or_else(|| by_class.iter().map(Vec::len).max().unwrap_or(0));
    let want = counts(n_max, ds.num_classes(), imbalance)?;
    let mut out = Vec::with_capacity(want.iter().sum());
    for (c, (idx, &n)) in by_class.iter().zip(&want).enumerate() {
        if idx.len() < n {
            return Err(Error::usage(format!(
                "class {c} ({}) has {} images, the long-tailed rule at imbalance {imbalance} needs {n}; \
                 use the full training set or a larger imbalance factor",
                ds.classes[c],
                idx.len()
            )));
        }
        if n == 0 {
            return Err(Error::usage(format!(
                "class {c} ({}) would keep no image at imbalance {imbalance} (n_max {n_max}); use a \
                 smaller imbalance factor",
                ds.classes[c]
            )));
        }
        out.extend_from_slice(&idx[..n]);
    }
    Ok(out)
}

/// The long-tailed training set.
pub fn apply(ds: &Dataset, imbalance: f64) -> Result<Dataset> {
    ds.subset(&indices(ds, imbalance, None)?)
}

/// Many / medium / few-shot groups by training count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shot {
    Many,
    Medium,
    Few,
}

impl Shot {
    pub fn name(&self) -> &'static str {
        match self {
            Shot::Many => "many",
            Shot::Medium => "medium",
            Shot::Few => "few",
        }
    }
}

/// Thresholds: many > `many_above`, few < `few_below`, medium in between (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShotRule {
    pub many_above: usize,
    pub few_below: usize,
}

impl ShotRule {
    /// CIFAR-100 (and the usual rule): many > 100, medium 20–100, few < 20.
    pub const CIFAR100: ShotRule = ShotRule {
        many_above: 100,
        few_below: 20,
    };
    /// CIFAR-10 as the official code splits it: many > 500, medium 200–500, few < 200.
    pub const CIFAR10: ShotRule = ShotRule {
        many_above: 500,
        few_below: 200,
    };
    /// The rule for a data set of `num_classes` classes (10 or fewer: the CIFAR-10 rule).
    pub fn for_classes(num_classes: usize) -> Self {
        if num_classes <= 10 {
            Self::CIFAR10
        } else {
            Self::CIFAR100
        }
    }
    pub fn shot(&self, train_count: usize) -> Shot {
        if train_count > self.many_above {
            Shot::Many
        } else if train_count < self.few_below {
            Shot::Few
        } else {
            Shot::Medium
        }
    }
    /// Shot group of every class.
    pub fn groups(&self, counts: &[usize]) -> Vec<Shot> {
        counts.iter().map(|&n| self.shot(n)).collect()
    }
}
