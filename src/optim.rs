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
