//! Elementary symmetric polynomials of eigenvalues, in the log domain (KDPP.md step 2), and the exact
//! first-order inclusion probabilities of a k-DPP from prefix and suffix tables.
//!
//! e_l(λ_1..λ_n) overflows f64 for realistic sizes (log10 e_500 ≈ 693 at N = 5000), so every table here
//! stores natural logarithms, with −∞ for zero.

/// log(exp(a) + exp(b)) without overflow; handles −∞.
#[inline]
pub fn logaddexp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// log Σ exp(x_i) over an iterator; −∞ for an empty or all −∞ input.
pub fn logsumexp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[inline]
fn ln0(x: f64) -> f64 {
    if x > 0.0 {
        x.ln()
    } else {
        f64::NEG_INFINITY
    }
}

/// T[l][n] = log e_l(λ_1..λ_n) for l = 0..=k, n = 0..=N (row-major, row l has N + 1 entries).
#[derive(Clone, Debug)]
pub struct LogEspTable {
    pub k: usize,
    pub n: usize,
    t: Vec<f64>,
}

impl LogEspTable {
    /// Builds the table in O(N k) time and memory. Eigenvalues must be ≥ 0 (zeros are allowed).
    pub fn new(lambda: &[f64], k: usize) -> Self {
        let n = lambda.len();
        let w = n + 1;
        let mut t = vec![f64::NEG_INFINITY; (k + 1) * w];
        t[..w].fill(0.0);
        let ll: Vec<f64> = lambda.iter().map(|&x| ln0(x)).collect();
        for l in 1..=k {
            let (prev, cur) = t.split_at_mut(l * w);
            let prev = &prev[(l - 1) * w..];
            let cur = &mut cur[..w];
            // e_l of fewer than l values is 0: start at column l.
            for m in l..=n {
                cur[m] = logaddexp(cur[m - 1], ll[m - 1] + prev[m - 1]);
            }
        }
        LogEspTable { k, n, t }
    }
    /// log e_l(λ_1..λ_m).
    #[inline]
    pub fn get(&self, l: usize, m: usize) -> f64 {
        self.t[l * (self.n + 1) + m]
    }
    /// log e_k(λ_1..λ_N), the normaliser of the k-DPP.
    pub fn log_ek(&self) -> f64 {
        self.get(self.k, self.n)
    }
}

/// log e_k(λ) in O(N k) time and O(k) memory.
pub fn log_ek(lambda: &[f64], k: usize) -> f64 {
    let mut e = vec![f64::NEG_INFINITY; k + 1];
    e[0] = 0.0;
    for &x in lambda {
        let lx = ln0(x);
        if lx == f64::NEG_INFINITY {
            continue;
        }
        for l in (1..=k).rev() {
            e[l] = logaddexp(e[l], lx + e[l - 1]);
        }
    }
    e[k]
}

/// π_n = P(eigenvector n is chosen in phase 1) = λ_n e_{k−1}(λ without n) / e_k(λ); Σ π_n = k.
/// e_{k−1}(λ without n) = Σ_j e_j(λ_<n) e_{k−1−j}(λ_>n) from prefix and suffix log tables (no subtraction).
/// Returns zeros when e_k(λ) = 0 (k larger than the number of positive eigenvalues) and for k = 0.
pub fn eigen_inclusion(lambda: &[f64], k: usize) -> Vec<f64> {
    let n = lambda.len();
    if k == 0 || n == 0 {
        return vec![0.0; n];
    }
    let prefix = LogEspTable::new(lambda, k);
    let log_ek = prefix.log_ek();
    if log_ek == f64::NEG_INFINITY {
        return vec![0.0; n];
    }
    let rev: Vec<f64> = lambda.iter().rev().copied().collect();
    // suffix.get(j, m) = log e_j of the last m eigenvalues.
    let suffix = LogEspTable::new(&rev, k - 1);
    let mut terms = vec![0.0; k];
    (0..n)
        .map(|i| {
            let li = ln0(lambda[i]);
            if li == f64::NEG_INFINITY {
                return 0.0;
            }
            // λ_<i are the first i values; λ_>i are the last n − 1 − i values.
            for (j, t) in terms.iter_mut().enumerate() {
                *t = prefix.get(j, i) + suffix.get(k - 1 - j, n - 1 - i);
            }
            (li + logsumexp(&terms) - log_ek).exp()
        })
        .collect()
}

/// P(item i ∈ Y) = Σ_n π_n V_in² for a kernel with eigenvalues `lambda` and column-major eigenvectors
/// `vectors` (N×m, one column per eigenvalue).
pub fn item_inclusion(lambda: &[f64], vectors: &[f64], n_items: usize, k: usize) -> Vec<f64> {
    let pi = eigen_inclusion(lambda, k);
    let mut out = vec![0.0; n_items];
    for (j, &p) in pi.iter().enumerate() {
        if p == 0.0 {
            continue;
        }
        let v = &vectors[j * n_items..(j + 1) * n_items];
        for (o, &x) in out.iter_mut().zip(v) {
            *o += p * x * x;
        }
    }
    out
}
