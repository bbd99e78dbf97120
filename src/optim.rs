//! AdamW hyper-parameters for one update (decoupled weight decay, torch.optim.AdamW semantics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// 1-based step count after this update (bias correction uses it).
    pub step: u64,
}

impl Default for AdamW {
    fn default() -> Self {
        // The official code's optimiser: betas (0.9, 0.95), weight decay 0.05.
        AdamW {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.05,
            step: 1,
        }
    }
}

impl AdamW {
    /// (1 − β1^t, sqrt(1 − β2^t)) computed in f64, as PyTorch does on the host.
    pub fn bias_corrections(&self) -> (f32, f32) {
        let t = self.step.max(1) as i32;
        let bc1 = 1.0 - (self.beta1 as f64).powi(t);
        let bc2 = 1.0 - (self.beta2 as f64).powi(t);
        (bc1 as f32, bc2.sqrt() as f32)
    }
}

/// Linear warm-up then half-cosine decay, evaluated per iteration at a fractional epoch (the official
/// code's `adjust_learning_rate`): lr(e) = base · e / warmup for e < warmup, else
/// min + (base − min) · ½ (1 + cos(π (e − warmup) / (epochs − warmup))).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CosineSchedule {
    pub base_lr: f64,
    pub warmup_epochs: f64,
    pub epochs: f64,
    pub min_lr: f64,
}

impl CosineSchedule {
    /// Learning rate at iteration `step` of `steps_per_epoch` iterations per epoch, in `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize, step: usize, steps_per_epoch: usize) -> f64 {
        let e = epoch as f64 + step as f64 / steps_per_epoch.max(1) as f64;
        self.lr(e)
    }

    /// Learning rate at fractional epoch `e`.
    pub fn lr(&self, e: f64) -> f64 {
        if e < self.warmup_epochs {
            self.base_lr * e / self.warmup_epochs
        } else {
            let span = (self.epochs - self.warmup_epochs).max(f64::MIN_POSITIVE);
            let t = ((e - self.warmup_epochs) / span).clamp(0.0, 1.0);
            self.min_lr
                + (self.base_lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CosineSchedule;

    #[test]
    fn warmup_then_half_cosine() {
        let s = CosineSchedule {
            base_lr: 1.0,
            warmup_epochs: 2.0,
            epochs: 10.0,
            min_lr: 0.0,
        };
        assert_eq!(s.lr(0.0), 0.0);
        assert!((s.lr(1.0) - 0.5).abs() < 1e-12);
        assert!((s.lr(2.0) - 1.0).abs() < 1e-12);
        assert!((s.lr(6.0) - 0.5).abs() < 1e-12);
        assert!(s.lr(10.0).abs() < 1e-12);
        assert!((s.lr_at(1, 5, 10) - 0.75).abs() < 1e-12);
        // Monotone after the warm-up.
        let v: Vec<f64> = (20..=100).map(|i| s.lr(i as f64 / 10.0)).collect();
        assert!(v.windows(2).all(|w| w[1] <= w[0]));
    }
}
