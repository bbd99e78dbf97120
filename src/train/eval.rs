//! Evaluation: clean images through the encoder in eval mode and a linear head; overall, many-, medium-
//! and few-shot accuracy (per-class accuracy averaged over the classes of each group; the test set is
//! balanced), per-class accuracy and the confusion matrix.
use super::feed::{in_order, Feeder};
use super::head::Head;
use crate::data::augment::Augment;
use crate::data::longtail::{Shot, ShotRule};
use crate::error::Result;
use crate::nn::{Mode, ResNet};
use serde::{Deserialize, Serialize};

/// Logits (rows × classes) of the images `idx` of `feeder`, and their encoder features when asked.
pub fn predict(
    net: &mut ResNet,
    head: &mut Head,
    feeder: &Feeder,
    idx: &[usize],
    batch: usize,
    want_features: bool,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let dev = net.device().clone();
    let mut logits = Vec::with_capacity(idx.len() * head.dout);
    let mut feats = Vec::new();
    for fed in feeder.epoch(in_order(idx, batch), Augment::None, 1, 0, 0)? {
        let fed = fed?;
        let n = fed.indices.len();
        let fs = net.forward(&fed.images, Mode::Eval, 1, false)?;
        if want_features {
            feats.extend(net.read_slot(fs)?);
        }
        let l = head.forward(&dev, net.slot(fs), n)?;
        logits.extend(l.to_host(&dev)?);
    }
    Ok((logits, feats))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShotSplit {
    pub many_above: usize,
    pub few_below: usize,
    pub many_classes: usize,
    pub medium_classes: usize,
    pub few_classes: usize,
}

/// Accuracies in percent; a group without classes is None.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub overall: f64,
    pub many: Option<f64>,
    pub medium: Option<f64>,
    pub few: Option<f64>,
    pub per_class: Vec<f64>,
    pub train_counts: Vec<usize>,
    pub test_counts: Vec<usize>,
    /// confusion[true][predicted]
    pub confusion: Vec<Vec<u32>>,
    pub split: ShotSplit,
}

/// Scores `logits` against `labels`.
pub fn score(logits: &[f32], labels: &[u32], train_counts: &[usize], rule: ShotRule) -> Accuracy {
    let c = train_counts.len();
    let mut confusion = vec![vec![0u32; c]; c];
    for (row, &l) in logits.chunks(c).zip(labels) {
        let mut best = 0;
        for (j, &v) in row.iter().enumerate() {
            // NaN never wins; ties go to the lower class.
            if v > row[best] || row[best].is_nan() && !v.is_nan() {
                best = j;
            }
        }
        confusion[l as usize][best] += 1;
    }
    let test_counts: Vec<usize> = confusion
        .iter()
        .map(|r| r.iter().map(|&x| x as usize).sum())
        .collect();
    let per_class: Vec<f64> = (0..c)
        .map(|i| {
            if test_counts[i] == 0 {
                0.0
            } else {
                100.0 * confusion[i][i] as f64 / test_counts[i] as f64
            }
        })
        .collect();
    let correct: usize = (0..c).map(|i| confusion[i][i] as usize).sum();
    let overall = 100.0 * correct as f64 / labels.len().max(1) as f64;
    let shots = rule.groups(train_counts);
    let group = |s: Shot| {
        let v: Vec<f64> = (0..c)
            .filter(|&i| shots[i] == s && test_counts[i] > 0)
            .map(|i| per_class[i])
            .collect();
        if v.is_empty() {
            None
        } else {
            Some(v.iter().sum::<f64>() / v.len() as f64)
        }
    };
    let count = |s: Shot| shots.iter().filter(|&&x| x == s).count();
    Accuracy {
        overall,
        many: group(Shot::Many),
        medium: group(Shot::Medium),
        few: group(Shot::Few),
        per_class,
        train_counts: train_counts.to_vec(),
        test_counts,
        confusion,
        split: ShotSplit {
            many_above: rule.many_above,
            few_below: rule.few_below,
            many_classes: count(Shot::Many),
            medium_classes: count(Shot::Medium),
            few_classes: count(Shot::Few),
        },
    }
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into())
}

/// The table printed after the probe and at the end.
pub fn table(title: &str, a: &Accuracy) -> String {
    let s = &a.split;
    format!(
        "{title}\n  {:>8} {:>8} {:>8} {:>8}\n  {:>8} {:>8} {:>8} {:>8}\n  (many: > {} training images, \
         {} classes; medium: {} classes; few: < {}, {} classes)\n",
        "overall",
        "many",
        "medium",
        "few",
        format!("{:.2}", a.overall),
        cell(a.many),
        cell(a.medium),
        cell(a.few),
        s.many_above,
        s.many_classes,
        s.medium_classes,
        s.few_below,
        s.few_classes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_confusion() {
        // 3 classes, train counts 600 / 300 / 10 → many / medium / few under the CIFAR-10 rule.
        let logits = [
            1.0f32, 0.0, 0.0, // true 0 → 0
            0.0, 1.0, 0.0, // true 0 → 1
            0.0, 1.0, 0.0, // true 1 → 1
            0.0, 0.0, 1.0, // true 2 → 2
        ];
        let a = score(&logits, &[0, 0, 1, 2], &[600, 300, 10], ShotRule::CIFAR10);
        assert_eq!(
            a.confusion,
            vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 0, 1]]
        );
        assert_eq!(a.overall, 75.0);
        assert_eq!(a.many, Some(50.0));
        assert_eq!(a.medium, Some(100.0));
        assert_eq!(a.few, Some(100.0));
        assert_eq!(a.split.many_classes, 1);
        let t = table("x", &a);
        assert!(t.contains("75.00") && t.contains("50.00"), "{t}");
    }
}
