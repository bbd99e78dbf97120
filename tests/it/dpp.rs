//! k-DPP sampler and IP-DPP selection (KDPP.md tests 1–7, METHOD.md kernels, `ipdpp sample` bad input).
use ipdpp::dpp::esp::{self, LogEspTable};
use ipdpp::dpp::kdpp::{self, KDpp};
use ipdpp::dpp::linalg;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;

type Rng = rand::rngs::StdRng;

fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

// ---------------------------------------------------------------- statistics helpers

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma Q(a, x).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        // series for P
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - ln_gamma(a)).exp()
    } else {
        // continued fraction (modified Lentz)
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (-x + a * x.ln() - ln_gamma(a)).exp() * h
    }
}

/// Pearson χ² on counts; cells with expected count below 5 are pooled. Returns (χ², dof, p-value).
fn chi2_counts(observed: &[f64], expected: &[f64]) -> (f64, usize, f64) {
    let (mut po, mut pe) = (0.0, 0.0);
    let mut cells: Vec<(f64, f64)> = Vec::new();
    for (&o, &e) in observed.iter().zip(expected) {
        if e < 5.0 {
            po += o;
            pe += e;
        } else {
            cells.push((o, e));
        }
    }
    if pe >= 5.0 {
        cells.push((po, pe));
    } else if let Some(last) = cells.last_mut() {
        last.0 += po;
        last.1 += pe;
    }
    let chi2: f64 = cells.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    let dof = cells.len() - 1;
    (chi2, dof, gamma_q(dof as f64 / 2.0, chi2 / 2.0))
}

#[test]
fn dpp_chi2_helper_rejects_a_wrong_distribution() {
    // The helper must have power: a fair die against a loaded one.
    let mut r = rng(1);
    let mut counts = [0.0; 6];
    for _ in 0..6000 {
        let u: f64 = r.random();
        let face = if u < 0.2 { 0 } else { 1 + r.random_range(0..5) };
        counts[face] += 1.0;
    }
    let (_, _, p_wrong) = chi2_counts(&counts, &[1000.0; 6]);
    assert!(p_wrong < 1e-6, "p = {p_wrong}");
    let exp = [1200.0, 960.0, 960.0, 960.0, 960.0, 960.0];
    let (_, dof, p_right) = chi2_counts(&counts, &exp);
    assert_eq!(dof, 5);
    assert!(p_right > 1e-3, "p = {p_right}");
    // Q(a, x) against known values: χ²(1) at 3.841 → 0.05; χ²(10) at 18.307 → 0.05.
    assert!((gamma_q(0.5, 3.841_458_8 / 2.0) - 0.05).abs() < 1e-6);
    assert!((gamma_q(5.0, 18.307_038 / 2.0) - 0.05).abs() < 1e-6);
}

// ---------------------------------------------------------------- linear-algebra helpers

/// A random n×n orthogonal matrix (column-major) by Gram–Schmidt of Gaussian-ish columns.
fn random_orthonormal(n: usize, m: usize, r: &mut Rng) -> Vec<f64> {
    let mut v: Vec<f64> = Vec::with_capacity(n * m);
    for j in 0..m {
        let mut c: Vec<f64> = (0..n).map(|_| r.random::<f64>() - 0.5).collect();
        for _ in 0..2 {
            for p in 0..j {
                let b = &v[p * n..(p + 1) * n];
                let a: f64 = c.iter().zip(b).map(|(x, y)| x * y).sum();
                c.iter_mut().zip(b).for_each(|(x, y)| *x -= a * y);
            }
        }
        let nn = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.extend(c.iter().map(|x| x / nn));
    }
    v
}

/// L = V diag(λ) Vᵀ (row-major n×n; V column-major n×m).
fn compose(v: &[f64], lambda: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for (j, &lam) in lambda.iter().enumerate() {
        let c = &v[j * n..(j + 1) * n];
        for a in 0..n {
            for b in 0..n {
                l[a * n + b] += lam * c[a] * c[b];
            }
        }
    }
    l
}

fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    fn rec(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            rec(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    rec(0, n, k, &mut cur, &mut out);
    out
}

fn det(mut a: Vec<f64>, k: usize) -> f64 {
    let mut d = 1.0;
    for c in 0..k {
        let p = (c..k)
            .max_by(|&x, &y| a[x * k + c].abs().total_cmp(&a[y * k + c].abs()))
            .unwrap();
        if a[p * k + c] == 0.0 {
            return 0.0;
        }
        if p != c {
            for j in 0..k {
                a.swap(c * k + j, p * k + j);
            }
            d = -d;
        }
        d *= a[c * k + c];
        for r in c + 1..k {
            let f = a[r * k + c] / a[c * k + c];
            for j in c..k {
                a[r * k + j] -= f * a[c * k + j];
            }
        }
    }
    d
}

/// Exact P(Y = S) for every k-subset S from a spectrum: Σ_J Π λ_J det(V_{S,J})² / e_k.
fn exact_subset_probs(v: &[f64], lambda: &[f64], n: usize, k: usize) -> Vec<(Vec<usize>, f64)> {
    let pos: Vec<usize> = (0..lambda.len()).filter(|&j| lambda[j] > 0.0).collect();
    let js = subsets(pos.len(), k);
    let ss = subsets(n, k);
    let mut probs: Vec<f64> = vec![0.0; ss.len()];
    let mut z = 0.0;
    for jset in &js {
        let w: f64 = jset.iter().map(|&j| lambda[pos[j]]).product();
        z += w;
        for (si, s) in ss.iter().enumerate() {
            let mut m = Vec::with_capacity(k * k);
            for &i in s {
                for &j in jset {
                    m.push(v[pos[j] * n + i]);
                }
            }
            let dd = det(m, k);
            probs[si] += w * dd * dd;
        }
    }
    ss.into_iter().zip(probs).map(|(s, p)| (s, p / z)).collect()
}

/// Draws `draws` subsets and χ²-tests their counts against the exact probabilities.
fn check_distribution(
    sampler: &kdpp::KDppSampler,
    exact: &[(Vec<usize>, f64)],
    draws: usize,
    seed: u64,
    what: &str,
) {
    let mut r = rng(seed);
    let mut counts: HashMap<Vec<usize>, f64> = HashMap::new();
    for _ in 0..draws {
        let y = sampler.draw(&mut r).unwrap();
        assert_eq!(y.len(), sampler.k, "{what}: wrong size");
        assert!(
            y.windows(2).all(|w| w[0] < w[1]),
            "{what}: not distinct/sorted: {y:?}"
        );
        *counts.entry(y).or_default() += 1.0;
    }
    let mut obs = Vec::new();
    let mut exp = Vec::new();
    for (s, p) in exact {
        let c = counts.remove(s).unwrap_or(0.0);
        if *p < 1e-12 {
            assert_eq!(
                c, 0.0,
                "{what}: drew the zero-probability set {s:?} {c} times"
            );
            continue;
        }
        obs.push(c);
        exp.push(p * draws as f64);
    }
    assert!(counts.is_empty(), "{what}: drew sets outside the list");
    let (chi2, dof, p) = chi2_counts(&obs, &exp);
    println!("{what}: chi2 = {chi2:.1}, dof = {dof}, p = {p:.3}");
    assert!(p > 1e-3, "{what}: χ² = {chi2:.1} on {dof} dof, p = {p:e}");
}

// ---------------------------------------------------------------- 1. ESPs

#[test]
fn dpp_esp_matches_brute_force() {
    let mut r = rng(11);
    for n in [1usize, 3, 6, 10] {
        let lambda: Vec<f64> = (0..n)
            .map(|i| {
                if i == 1 {
                    0.0
                } else {
                    10f64.powf(r.random_range(-3.0..3.0))
                }
            })
            .collect();
        let kmax = n;
        let t = LogEspTable::new(&lambda, kmax);
        for k in 0..=kmax {
            let brute: f64 = subsets(n, k)
                .iter()
                .map(|s| s.iter().map(|&i| lambda[i]).product::<f64>())
                .sum();
            let got = t.get(k, n).exp();
            let got2 = esp::log_ek(&lambda, k).exp();
            assert!(
                (got - brute).abs() <= 1e-12 * brute.max(1e-300),
                "n={n} k={k}: {got} vs {brute}"
            );
            assert!(
                (got2 - brute).abs() <= 1e-12 * brute.max(1e-300),
                "n={n} k={k}: {got2} vs {brute}"
            );
            // π_n by brute force
            if k >= 1 && brute > 0.0 {
                let pi = esp::eigen_inclusion(&lambda, k);
                for (m, &pm) in pi.iter().enumerate() {
                    let with: f64 = subsets(n, k)
                        .iter()
                        .filter(|s| s.contains(&m))
                        .map(|s| s.iter().map(|&i| lambda[i]).product::<f64>())
                        .sum();
                    assert!(
                        (pm - with / brute).abs() < 1e-12,
                        "π n={n} k={k} m={m}: {pm} vs {}",
                        with / brute
                    );
                }
            }
        }
    }
}

#[test]
fn dpp_esp_constant_spectrum_at_scale() {
    // All λ = x: e_k = C(N, k)·x^k. N = 5000, k = 500: log10 e_k is in the hundreds.
    let (n, k) = (5000usize, 500usize);
    let ln_binom: f64 = (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum();
    for x in [1e-8, 0.37, 1.0, 123.0, 1e4] {
        let lambda = vec![x; n];
        let want = ln_binom + k as f64 * f64::ln(x);
        let got = LogEspTable::new(&lambda, k).log_ek();
        let got2 = esp::log_ek(&lambda, k);
        for g in [got, got2] {
            assert!(
                (g - want).abs() <= 1e-9 + 1e-12 * want.abs(),
                "x = {x}: log e_k = {g}, want {want}"
            );
        }
        // π_n = k/N for a constant spectrum.
        let pi = esp::eigen_inclusion(&lambda[..1000], 100);
        assert!(
            pi.iter().all(|&p| (p - 0.1).abs() < 1e-10),
            "x = {x}: π = {}",
            pi[0]
        );
    }
}

// ---------------------------------------------------------------- 2. exact distribution

/// N = 7, k = 3, eigenvalues {0, −1e−17, 1e−3, 0.3, 2.5, 7, 1e6}; item 6 is outside the range of L and
/// items 0 and 1 have identical rows on the positive eigenvectors, so every set holding item 6 or both
/// 0 and 1 has probability zero.
#[test]
fn dpp_exact_distribution_n7_k3() {
    let n = 7;
    let mut r = rng(2024);
    // Null space: e_6 and (e_0 − e_1)/√2; the other 5 columns span its complement.
    let mut v = vec![0.0; n * n];
    v[6] = 1.0; // column 0 = e_6
    v[n] = std::f64::consts::FRAC_1_SQRT_2; // column 1
    v[n + 1] = -std::f64::consts::FRAC_1_SQRT_2;
    for j in 2..n {
        let mut c: Vec<f64> = (0..n).map(|_| r.random::<f64>() - 0.5).collect();
        for _ in 0..2 {
            for p in 0..j {
                let b = v[p * n..(p + 1) * n].to_vec();
                let a: f64 = c.iter().zip(&b).map(|(x, y)| x * y).sum();
                c.iter_mut().zip(&b).for_each(|(x, y)| *x -= a * y);
            }
        }
        let nn = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        for i in 0..n {
            v[j * n + i] = c[i] / nn;
        }
    }
    let lambda = [0.0, -1e-17, 1e-3, 0.3, 2.5, 7.0, 1e6];
    let l = compose(&v, &lambda, n);
    let dpp = KDpp::from_kernel(l, n).unwrap();
    assert_eq!(dpp.rank(), 5);
    let clamped: Vec<f64> = lambda.iter().map(|&x| x.max(0.0)).collect();
    let exact = exact_subset_probs(&v, &clamped, n, 3);
    let total: f64 = exact.iter().map(|x| x.1).sum();
    assert!(
        (total - 1.0).abs() < 1e-10,
        "exact probabilities sum to {total}"
    );
    let zeros = exact.iter().filter(|x| x.1 < 1e-12).count();
    assert!(zeros >= 15, "only {zeros} zero-probability sets");
    let s = dpp.sampler(3).unwrap();
    check_distribution(&s, &exact, 40_000, 7, "N=7 k=3");
}

/// N = 10, k = 6 (210 subsets), L = B·Bᵀ of rank 8 with two near-duplicate pairs of rows: large enough
/// that phase 2 works in blocks with rejection, and a sampler that skips the within-block update
/// over-draws the near-duplicates. Exact probabilities det(L_S)/Σ det(L_S') by enumeration (Cauchy–Binet).
#[test]
fn dpp_exact_distribution_n10_k6_blocked_phase2() {
    let (n, d) = (10, 8);
    let mut r = rng(99);
    let mut b: Vec<f64> = (0..n * d).map(|_| r.random::<f64>() - 0.5).collect();
    for (src, dst) in [(0, 1), (2, 3)] {
        for c in 0..d {
            b[dst * d + c] = b[src * d + c] + 0.15 * (r.random::<f64>() - 0.5);
        }
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            l[i * n + j] = (0..d).map(|c| b[i * d + c] * b[j * d + c]).sum();
        }
    }
    let dpp = KDpp::from_kernel(l.clone(), n).unwrap();
    assert_eq!(dpp.rank(), 8);
    let k = 6;
    let dets: Vec<(Vec<usize>, f64)> = subsets(n, k)
        .into_iter()
        .map(|s| {
            let m: Vec<f64> = s
                .iter()
                .flat_map(|&i| s.iter().map(move |&j| (i, j)))
                .map(|(i, j)| l[i * n + j])
                .collect();
            let dd = det(m, k).max(0.0);
            (s, dd)
        })
        .collect();
    let z: f64 = dets.iter().map(|x| x.1).sum();
    let log_ek = esp::log_ek(&dpp.lambda, k);
    assert!(
        (log_ek - z.ln()).abs() < 1e-9,
        "e_k {} vs Σ det {}",
        log_ek.exp(),
        z
    );
    let exact: Vec<(Vec<usize>, f64)> = dets.into_iter().map(|(s, x)| (s, x / z)).collect();
    let s = dpp.sampler(k).unwrap();
    check_distribution(&s, &exact, 60_000, 8, "N=10 k=6");
}

// ---------------------------------------------------------------- 3. phase 1 at scale

/// N = 3000, k = 500, λ = 10^U(−8, 4): selection frequency of every eigenvector with
/// D·min(π, 1 − π) ≥ 10 against π_n, as z-scores over D = 3000 phase-1 draws.
#[test]
fn dpp_phase1_frequencies_at_scale() {
    let (n, k, draws) = (3000usize, 500usize, 3000usize);
    let mut r = rng(31);
    let mut lambda: Vec<f64> = (0..n)
        .map(|_| 10f64.powf(r.random_range(-8.0..4.0)))
        .collect();
    lambda.sort_by(f64::total_cmp);
    let pi = esp::eigen_inclusion(&lambda, k);
    let sum: f64 = pi.iter().sum();
    assert!((sum - k as f64).abs() <= 1e-10 * k as f64, "Σ π = {sum}");
    let dpp = KDpp {
        n,
        lambda: lambda.clone(),
        vectors: Vec::new(), // phase 1 only
        max_lambda: lambda[n - 1],
        min_lambda: 0.0,
    };
    let s = dpp.sampler(k).unwrap();
    let mut counts = vec![0usize; n];
    for _ in 0..draws {
        let j = s.phase1(&mut r);
        assert_eq!(j.len(), k);
        for &c in &j {
            counts[c] += 1;
        }
    }
    let dd = draws as f64;
    let mut z2 = Vec::new();
    for (c, &p) in counts.iter().zip(&pi) {
        if dd * p.min(1.0 - p) >= 10.0 {
            let z = (*c as f64 - dd * p) / (dd * p * (1.0 - p)).sqrt();
            assert!(z.abs() < 5.0, "z = {z} for π = {p}");
            z2.push(z * z);
        }
    }
    let mean = z2.iter().sum::<f64>() / z2.len() as f64;
    println!(
        "phase 1: {} eigenvectors tested, mean z² = {mean:.3}",
        z2.len()
    );
    assert!(z2.len() >= 500, "only {} eigenvectors tested", z2.len());
    assert!((0.8..=1.25).contains(&mean), "mean z² = {mean}");
}

// ---------------------------------------------------------------- 4. phase 2

/// For a projection kernel P(i ∈ Y) = ‖W_i‖² exactly; both phase-2 implementations; |Y| = k, distinct.
#[test]
fn dpp_phase2_projection_marginals() {
    let (n, k, draws) = (40usize, 12usize, 20_000usize);
    let mut r = rng(5);
    let v = random_orthonormal(n, k, &mut r);
    let cols: Vec<usize> = (0..k).collect();
    let want: Vec<f64> = (0..n)
        .map(|i| cols.iter().map(|&c| v[c * n + i].powi(2)).sum())
        .collect();
    assert!((want.iter().sum::<f64>() - k as f64).abs() < 1e-10);
    for (name, reference) in [("blocked", false), ("reference", true)] {
        let mut counts = vec![0usize; n];
        for _ in 0..draws {
            let y = if reference {
                kdpp::phase2_reference(&v, n, &cols, &mut r).unwrap()
            } else {
                kdpp::phase2(&v, n, &cols, &mut r).unwrap()
            };
            assert_eq!(y.len(), k);
            let mut s = y.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), k, "{name}: repeated items {y:?}");
            for i in y {
                counts[i] += 1;
            }
        }
        let dd = draws as f64;
        for i in 0..n {
            let p = want[i];
            if dd * p.min(1.0 - p) < 10.0 {
                continue;
            }
            let z = (counts[i] as f64 - dd * p) / (dd * p * (1.0 - p)).sqrt();
            assert!(z.abs() < 5.0, "{name}: item {i}: z = {z} (p = {p})");
        }
    }
}

/// Item marginals of the whole sampler, P(i ∈ Y) = Σ_n π_n V_in², at a size where phase 2 runs many
/// blocks (N = 300, k = 60).
#[test]
fn dpp_item_marginals_full_sampler() {
    let (n, d, k, draws) = (300usize, 80usize, 60usize, 3000usize);
    let mut r = rng(77);
    let b: Vec<f64> = (0..n * d)
        .map(|i| (r.random::<f64>() - 0.5) * if i / d < 30 { 3.0 } else { 1.0 })
        .collect();
    let dpp = KDpp::dual(&b, n, d).unwrap();
    assert_eq!(dpp.rank(), d);
    let want = esp::item_inclusion(&dpp.lambda, &dpp.vectors, n, k);
    assert!((want.iter().sum::<f64>() - k as f64).abs() < 1e-8);
    let s = dpp.sampler(k).unwrap();
    let mut counts = vec![0usize; n];
    for _ in 0..draws {
        for i in s.draw(&mut r).unwrap() {
            counts[i] += 1;
        }
    }
    let dd = draws as f64;
    let mut z2 = Vec::new();
    for i in 0..n {
        let p = want[i];
        if dd * p.min(1.0 - p) >= 10.0 {
            let z = (counts[i] as f64 - dd * p) / (dd * p * (1.0 - p)).sqrt();
            assert!(z.abs() < 5.0, "item {i}: z = {z} (p = {p})");
            z2.push(z * z);
        }
    }
    let mean = z2.iter().sum::<f64>() / z2.len() as f64;
    println!("item marginals: {} items, mean z² = {mean:.3}", z2.len());
    assert!((0.7..=1.3).contains(&mean), "mean z² = {mean}");
}

/// Primal and dual decompositions of L = B·Bᵀ give the same spectrum and item marginals.
#[test]
fn dpp_dual_matches_primal() {
    let (n, d, k) = (60usize, 7usize, 4usize);
    let mut r = rng(8);
    let b: Vec<f64> = (0..n * d).map(|_| r.random::<f64>() - 0.3).collect();
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            l[i * n + j] = (0..d).map(|c| b[i * d + c] * b[j * d + c]).sum();
        }
    }
    let p = KDpp::from_kernel(l, n).unwrap();
    let q = KDpp::dual(&b, n, d).unwrap();
    assert_eq!(p.rank(), d);
    assert_eq!(q.rank(), d);
    for (a, b) in p.lambda.iter().zip(&q.lambda) {
        assert!((a - b).abs() < 1e-10 * p.max_lambda, "{a} vs {b}");
    }
    let mp = esp::item_inclusion(&p.lambda, &p.vectors, n, k);
    let mq = esp::item_inclusion(&q.lambda, &q.vectors, n, k);
    for (a, b) in mp.iter().zip(&mq) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

/// Correct where DPPy overflows: N = 2000, k = 500, unscaled Wishart kernel (dual form, D = 600).
#[test]
fn dpp_wishart_n2000_k500_no_overflow() {
    let (n, d, k) = (2000usize, 600usize, 500usize);
    let mut r = rng(3);
    let b: Vec<f64> = (0..n * d).map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
    let dpp = KDpp::dual(&b, n, d).unwrap();
    let s = dpp.sampler(k).unwrap();
    let log10 = s.table.log_ek() / std::f64::consts::LN_10;
    println!("Wishart N={n} k={k}: log10 e_k = {log10:.1}");
    assert!(log10.is_finite() && log10 > 308.0, "log10 e_k = {log10}");
    let pi = esp::eigen_inclusion(&dpp.lambda, k);
    let sum: f64 = pi.iter().sum();
    assert!((sum - k as f64).abs() < 1e-10 * k as f64, "Σ π = {sum}");
    // Larger eigenvalues are more likely to be chosen (π is monotone in λ).
    assert!(pi.windows(2).all(|w| w[0] <= w[1] + 1e-12));
    let t = std::time::Instant::now();
    let y = s.draw(&mut r).unwrap();
    println!("one draw: {:.3} s", t.elapsed().as_secs_f64());
    assert_eq!(y.len(), k);
    assert!(y.windows(2).all(|w| w[0] < w[1]));
}

// ---------------------------------------------------------------- linalg

#[test]
fn dpp_syevd_residual_and_errors() {
    let n = 50;
    let mut r = rng(4);
    let v = random_orthonormal(n, n, &mut r);
    let lambda: Vec<f64> = (0..n).map(|i| (i as f64 - 10.0) * 0.37).collect();
    let a = compose(&v, &lambda, n);
    let e = linalg::syevd_f64(a.clone(), n).unwrap();
    assert!(
        linalg::residual(&a, &e) < 1e-13,
        "residual {}",
        linalg::residual(&a, &e)
    );
    assert!(e.values.windows(2).all(|w| w[0] <= w[1]), "not ascending");
    for (x, y) in e.values.iter().zip(&lambda) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
    let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    let e32 = linalg::syevd_f32(a32, n).unwrap();
    for (x, y) in e32.values.iter().zip(&lambda) {
        assert!((*x as f64 - y).abs() < 1e-4, "f32 {x} vs {y}");
    }
    // Errors: NaN, Inf, non-square, asymmetric beyond SYM_RTOL.
    let mut bad = a.clone();
    bad[3 * n + 4] = f64::NAN;
    let m = linalg::syevd_f64(bad, n).unwrap_err().to_string();
    assert!(m.contains("NaN") && m.contains("(3, 4)"), "{m}");
    let mut bad = a.clone();
    bad[7] = f64::INFINITY;
    assert!(linalg::syevd_f64(bad, n).is_err());
    assert!(linalg::syevd_f64(a[..n * n - 1].to_vec(), n).is_err());
    let mut bad = a.clone();
    bad[n + 2] += 1e-3;
    let m = linalg::syevd_f64(bad, n).unwrap_err().to_string();
    assert!(m.contains("not symmetric"), "{m}");
    let mut ok = a.clone();
    ok[n + 2] += 1e-12; // within tolerance
    assert!(linalg::syevd_f64(ok, n).is_ok());
}

// ---------------------------------------------------------------- 5. edge cases

#[test]
fn dpp_edge_cases() {
    let n = 12;
    let mut r = rng(21);
    let v = random_orthonormal(n, n, &mut r);
    let lambda: Vec<f64> = (0..n)
        .map(|i| if i < 5 { 0.0 } else { 1.0 + i as f64 })
        .collect();
    let l = compose(&v, &lambda, n);
    let dpp = KDpp::from_kernel(l.clone(), n).unwrap();
    assert_eq!(dpp.rank(), 7);
    // k > rank: error naming k and r.
    let m = dpp.sampler(8).err().unwrap().to_string();
    assert!(m.contains("k = 8") && m.contains("r = 7"), "{m}");
    // k > N
    let m = dpp.sampler(13).err().unwrap().to_string();
    assert!(m.contains("k = 13") && m.contains("N = 12"), "{m}");
    // k = 0: empty set.
    assert!(dpp.sampler(0).unwrap().draw(&mut r).unwrap().is_empty());
    // k = rank: always k distinct items, never an item outside the range of L.
    let s = dpp.sampler(7).unwrap();
    for _ in 0..50 {
        let y = s.draw(&mut r).unwrap();
        assert_eq!(y.len(), 7);
        assert!(y.windows(2).all(|w| w[0] < w[1]));
        assert!(kdpp::subset_probability(&l, n, &y, esp::log_ek(&dpp.lambda, 7)) > 1e-12);
    }
    // NaN input.
    let mut bad = l.clone();
    bad[5] = f64::NAN;
    assert!(KDpp::from_kernel(bad, n).is_err());
    // Non-PSD beyond tolerance (negative entries alone are fine).
    let mut neg = lambda.clone();
    neg[0] = -1e-3;
    let m = KDpp::from_kernel(compose(&v, &neg, n), n)
        .unwrap_err()
        .to_string();
    assert!(m.contains("not positive semidefinite"), "{m}");
    let cos = compose(&v, &lambda, n);
    assert!(
        cos.iter().any(|&x| x < 0.0),
        "want a kernel with negative entries"
    );
    // Tiny negative eigenvalues from rounding are clamped.
    let mut tiny = lambda.clone();
    tiny[0] = -1e-14;
    assert_eq!(
        KDpp::from_kernel(compose(&v, &tiny, n), n).unwrap().rank(),
        7
    );
    // N = 1.
    let one = KDpp::from_kernel(vec![2.5], 1).unwrap();
    assert_eq!(one.sampler(1).unwrap().draw(&mut r).unwrap(), vec![0]);
    assert!(one.sampler(2).is_err());
    // The zero kernel has rank 0.
    let z = KDpp::from_kernel(vec![0.0; 9], 3).unwrap();
    assert_eq!(z.rank(), 0);
    assert!(z.sampler(1).is_err());
    assert!(z.sampler(0).is_ok());
    // Uniform and greedy-paper.
    let u = kdpp::uniform(10, 4, &mut r).unwrap();
    assert_eq!(u.len(), 4);
    assert!(kdpp::uniform(3, 4, &mut r).is_err());
    let g = kdpp::greedy_paper(&dpp, 5, &mut r).unwrap();
    assert!(g.len() <= 5 && g.windows(2).all(|w| w[0] < w[1]));
}

// ---------------------------------------------------------------- 6. scale invariance

/// Draws from c·L follow the exact distribution of L, for c far from 1 (log-domain ESPs).
#[test]
fn dpp_scale_invariance() {
    let (n, k) = (8usize, 3usize);
    let mut r = rng(61);
    let v = random_orthonormal(n, n, &mut r);
    let lambda: Vec<f64> = (0..n)
        .map(|_| 10f64.powf(r.random_range(-1.0..1.0)))
        .collect();
    let exact = exact_subset_probs(&v, &lambda, n, k);
    for (i, c) in [1e-150f64, 1e-6, 1e8, 1e150].into_iter().enumerate() {
        let scaled: Vec<f64> = lambda.iter().map(|x| x * c).collect();
        let dpp = KDpp::from_kernel(compose(&v, &scaled, n), n).unwrap();
        let s = dpp.sampler(k).unwrap();
        check_distribution(&s, &exact, 20_000, 100 + i as u64, &format!("c = {c:e}"));
    }
}

// ---------------------------------------------------------------- 7. IP kernels

#[test]
fn dpp_ip_kernel_properties() {
    use ipdpp::dpp::kernels;
    let n = 300;
    let mut r = rng(71);
    // Softmax-like probabilities, including exact 0 and 1 (clamped).
    let mut raw: Vec<f64> = (0..n).map(|_| r.random::<f64>().powf(0.3)).collect();
    raw[0] = 1.0;
    raw[1] = 1.0;
    raw[2] = 0.0;
    let p = kernels::clamp_probs(&raw, "test").unwrap();
    for code in [false, true] {
        let s = kernels::ip_kernel(&p, code);
        for i in 0..n {
            let row: f64 = s[i * n..(i + 1) * n].iter().sum();
            assert!((row - 1.0).abs() < 1e-12, "row {i} sums to {row}");
            for j in 0..i {
                assert_eq!(s[i * n + j], s[j * n + i]);
            }
        }
        let e = linalg::syevd_f64(s.clone(), n).unwrap();
        assert!(
            e.values[0] > 0.0,
            "IP kernel singular: min λ = {}",
            e.values[0]
        );
        assert!(
            e.values[n - 1] <= 1.0 + 1e-12,
            "max λ = {}",
            e.values[n - 1]
        );
        assert!(
            (e.values[n - 1] - 1.0).abs() < 1e-12,
            "rows sum to 1 → λ = 1 is an eigenvalue"
        );
        // Diagonal-plus-rank-one form matches.
        let (dg, z, rho) = kernels::ip_parts(&p, code);
        for i in (0..n).step_by(37) {
            for j in (0..n).step_by(41) {
                let want = if i == j { dg[i] } else { 0.0 } + rho * z[i] * z[j];
                assert!((s[i * n + j] - want).abs() < 1e-14);
            }
        }
    }
    // Lower p → higher inclusion probability under the ip kernel's k-DPP.
    let s = kernels::ip_kernel(&p, false);
    let dpp = KDpp::from_kernel(s, n).unwrap();
    let incl = esp::item_inclusion(&dpp.lambda, &dpp.vectors, n, 50);
    assert!((incl.iter().sum::<f64>() - 50.0).abs() < 1e-8);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let low: f64 = order[..n / 3].iter().map(|&i| incl[i]).sum::<f64>() / (n / 3) as f64;
    let high: f64 = order[2 * n / 3..].iter().map(|&i| incl[i]).sum::<f64>() / (n / 3) as f64;
    println!("mean inclusion: low p {low:.4}, high p {high:.4}");
    assert!(low > 1.05 * high, "low-p items {low} vs high-p {high}");
    // Inclusion is monotone in p up to noise-free exactness: check rank correlation is strongly negative.
    let mut rank_p = vec![0.0; n];
    for (r_, &i) in order.iter().enumerate() {
        rank_p[i] = r_ as f64;
    }
    let mut o2: Vec<usize> = (0..n).collect();
    o2.sort_by(|&a, &b| incl[a].total_cmp(&incl[b]));
    let mut rank_i = vec![0.0; n];
    for (r_, &i) in o2.iter().enumerate() {
        rank_i[i] = r_ as f64;
    }
    let m = (n as f64 - 1.0) / 2.0;
    let cov: f64 = (0..n).map(|i| (rank_p[i] - m) * (rank_i[i] - m)).sum();
    let var: f64 = (0..n).map(|i| (rank_p[i] - m).powi(2)).sum();
    let rho = cov / var;
    assert!(rho < -0.9, "Spearman ρ(p, inclusion) = {rho}");
    // p outside [0, 1] is an error naming the value.
    let m = kernels::clamp_probs(&[0.5, 1.5], "probs.npy")
        .unwrap_err()
        .to_string();
    assert!(m.contains("1.5") && m.contains("probs.npy"), "{m}");
    assert!(kernels::clamp_probs(&[f64::NAN], "x").is_err());
}

// ---------------------------------------------------------------- DPP kernel matrix (Gram)

#[test]
fn dpp_gram_cpu_reference() {
    use ipdpp::dpp::kernels::{gram_cpu, GramMode};
    let (n, d) = (37usize, 19usize);
    let f = ipdpp::rng::uniform_f32(n * d, -1.0, 1.0, 5);
    let c = gram_cpu(&f, n, d, GramMode::Cosine).unwrap();
    let s = gram_cpu(&f, n, d, GramMode::SqDist).unwrap();
    for i in 0..n {
        for j in 0..n {
            let fi = &f[i * d..(i + 1) * d];
            let fj = &f[j * d..(j + 1) * d];
            let dot: f64 = fi.iter().zip(fj).map(|(&a, &b)| a as f64 * b as f64).sum();
            let ni: f64 = fi.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
            let nj: f64 = fj.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
            let dist: f64 = fi
                .iter()
                .zip(fj)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum();
            assert!((c[i * n + j] - dot / (ni * nj)).abs() < 1e-12);
            assert!((s[i * n + j] - dist).abs() < 1e-10);
        }
    }
    assert!(gram_cpu(&f[..5], n, d, GramMode::Cosine).is_err());
}

#[test]
fn dpp_gram_cuda_vs_cpu() {
    use ipdpp::dpp::kernels::{dpp_gram_f32, gram_cpu, GramMode, GramVersion};
    let Some(dev) = super::common::cuda_or_skip("dpp_gram_cuda_vs_cpu") else {
        return;
    };
    let cd = dev.cuda().unwrap();
    // v2's triangle of 128 × 128 tiles: one partial tile (17, 64), diagonal and mirrored tiles with and
    // without float4 stores (n % 4: 301 and 260 vs 1000), a partial k slab (d = 5, 130).
    for (n, d, v) in [
        (1usize, 3usize),
        (17, 5),
        (64, 512),
        (260, 130),
        (301, 64),
        (1000, 128),
    ]
    .into_iter()
    .flat_map(|(n, d)| [(n, d, GramVersion::V1), (n, d, GramVersion::V2)])
    {
        let f = ipdpp::rng::uniform_f32(n * d, -1.0, 1.0, (n * 31 + d) as u64);
        let sq: Vec<f32> = (0..n)
            .map(|i| f[i * d..(i + 1) * d].iter().map(|x| x * x).sum())
            .collect();
        let fd = cd.upload(&f).unwrap();
        let sd = cd.upload(&sq).unwrap();
        for mode in [GramMode::Cosine, GramMode::SqDist] {
            let mut out = cd.upload(&vec![f32::NAN; n * n]).unwrap();
            dpp_gram_f32(cd, v, &mut out, &fd, &sd, n, d, mode).unwrap();
            let got = cd.download(&out).unwrap();
            let want: Vec<f32> = gram_cpu(&f, n, d, mode)
                .unwrap()
                .iter()
                .map(|&x| x as f32)
                .collect();
            let e = ipdpp::bench::rel_err(&got, &want);
            assert!(e < 1e-5, "{v} n={n} d={d} {mode:?}: rel err {e}");
            for i in 0..n {
                for j in 0..i {
                    assert_eq!(
                        got[i * n + j],
                        got[j * n + i],
                        "{v} n={n} d={d} {mode:?}: not symmetric at ({i}, {j})"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------- per-class selection

fn toy_classes(seed: u64) -> (Vec<i64>, Vec<f64>, Vec<f32>, usize) {
    // Classes 0..3 with 400, 150, 60, 12 samples; p skewed per sample; 16-D features.
    let sizes = [400usize, 150, 60, 12];
    let d = 16;
    let mut r = rng(seed);
    let mut labels = Vec::new();
    let mut p = Vec::new();
    for (c, &s) in sizes.iter().enumerate() {
        for _ in 0..s {
            labels.push(c as i64 * 7 - 3); // non-contiguous, negative labels are fine
            p.push(r.random::<f64>().powf(0.4));
        }
    }
    // Shuffle rows so classes interleave.
    let n = labels.len();
    for i in (1..n).rev() {
        let j = r.random_range(0..=i);
        labels.swap(i, j);
        p.swap(i, j);
    }
    let f: Vec<f32> = (0..n * d).map(|_| r.random_range(-1.0f32..1.0)).collect();
    (labels, p, f, d)
}

#[test]
fn dpp_select_per_class() {
    use ipdpp::device::Device;
    use ipdpp::dpp::kernels::KernelKind;
    use ipdpp::dpp::select::{select, IpSolver, SelectOptions, Selector};
    let (labels, p, f, d) = toy_classes(12);
    let n = labels.len();
    for kernel in [
        KernelKind::Ip,
        KernelKind::IpCode,
        KernelKind::QdCosine,
        KernelKind::QdRbf,
    ] {
        for selector in [Selector::Kdpp, Selector::GreedyPaper, Selector::Uniform] {
            let opts = SelectOptions {
                kernel,
                selector,
                k: if kernel == KernelKind::QdCosine {
                    Some(16)
                } else {
                    None
                },
                seed: 5,
                draws: 2,
                ip_solver: IpSolver::Auto,
            };
            let sel = select(&Device::Cpu, &labels, &p, Some((&f, d)), &opts).unwrap();
            assert_eq!(sel.draws.len(), 2);
            for c in &sel.classes {
                let want_k = opts.k.unwrap_or(120).min(c.n); // N_min = 12 → 10·N_min = 120
                assert_eq!(c.k, want_k, "{kernel:?} class {}", c.class);
                if selector != Selector::GreedyPaper {
                    assert_eq!(c.selected, c.k as f64);
                }
            }
            for y in &sel.draws {
                assert!(y.windows(2).all(|w| w[0] < w[1]), "not sorted/distinct");
                assert!(y.iter().all(|&i| i < n));
                let total: usize = sel.classes.iter().map(|c| c.k).sum();
                if selector != Selector::GreedyPaper {
                    assert_eq!(y.len(), total);
                }
                // Per class counts.
                for c in &sel.classes {
                    let got = y.iter().filter(|&&i| labels[i] == c.class).count();
                    if selector != Selector::GreedyPaper {
                        assert_eq!(got, c.k);
                    }
                }
            }
            // Same seed → same selection, also with the classes on one thread instead of in parallel.
            let again = select(&Device::Cpu, &labels, &p, Some((&f, d)), &opts).unwrap();
            assert_eq!(sel.draws, again.draws);
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| select(&Device::Cpu, &labels, &p, Some((&f, d)), &opts).unwrap());
            assert_eq!(
                sel.draws, one.draws,
                "{kernel:?} {selector:?}: thread count changed it"
            );
            let report = |s: &ipdpp::dpp::select::Selection| {
                s.classes
                    .iter()
                    .map(|c| {
                        (
                            c.class,
                            c.n,
                            c.k,
                            c.selected,
                            c.mean_p_kept,
                            c.mean_p_dropped,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(report(&sel), report(&one));
            let json = serde_json::to_string(&sel.classes).unwrap();
            assert!(json.contains("mean_p_kept"));
        }
    }
    // The ip kernel keeps lower-p (informative) samples: the head class's kept mean p is below the
    // dropped mean p, while uniform shows no such gap on average.
    let opts = SelectOptions {
        kernel: KernelKind::Ip,
        selector: Selector::Kdpp,
        k: None,
        seed: 9,
        draws: 20,
        ip_solver: IpSolver::Auto,
    };
    let sel = select(&Device::Cpu, &labels, &p, None, &opts).unwrap();
    let head = sel.classes.iter().find(|c| c.n == 400).unwrap();
    println!(
        "head class: kept p {:.4}, dropped p {:.4}",
        head.mean_p_kept,
        head.mean_p_dropped.unwrap()
    );
    assert!(head.mean_p_kept < head.mean_p_dropped.unwrap() - 0.01);
}

#[test]
fn dpp_select_bad_input() {
    use ipdpp::device::Device;
    use ipdpp::dpp::kernels::KernelKind;
    use ipdpp::dpp::select::{select, IpSolver, SelectOptions, Selector};
    let (labels, p, f, d) = toy_classes(13);
    let opts = |kernel, k| SelectOptions {
        kernel,
        selector: Selector::Kdpp,
        k,
        seed: 1,
        draws: 1,
        ip_solver: IpSolver::Auto,
    };
    // Length mismatch.
    let m = select(
        &Device::Cpu,
        &labels,
        &p[1..],
        None,
        &opts(KernelKind::Ip, None),
    )
    .unwrap_err()
    .to_string();
    assert!(m.contains("labels") && m.contains("probabilities"), "{m}");
    // p outside [0, 1].
    let mut bad = p.clone();
    bad[17] = -0.25;
    let m = select(
        &Device::Cpu,
        &labels,
        &bad,
        None,
        &opts(KernelKind::Ip, None),
    )
    .unwrap_err()
    .to_string();
    assert!(m.contains("-0.25") && m.contains("17"), "{m}");
    // qd-* without features.
    assert!(select(
        &Device::Cpu,
        &labels,
        &p,
        None,
        &opts(KernelKind::QdRbf, None)
    )
    .is_err());
    // qd-cosine with k > D is refused up front, naming k and D.
    let m = select(
        &Device::Cpu,
        &labels,
        &p,
        Some((&f, d)),
        &opts(KernelKind::QdCosine, Some(50)),
    )
    .unwrap_err()
    .to_string();
    assert!(m.contains("k = 50") && m.contains("D = 16"), "{m}");
    // A float32 softmax of exactly 1.0 everywhere still gives a full-rank IP kernel.
    let ones = vec![1.0f64; labels.len()];
    let sel = select(
        &Device::Cpu,
        &labels,
        &ones,
        None,
        &opts(KernelKind::Ip, None),
    )
    .unwrap();
    for c in &sel.classes {
        if let Some(r) = c.rank {
            assert_eq!(r, c.n, "class {} rank {r} < N_c {}", c.class, c.n);
        }
    }
}

// ---------------------------------------------------------------- `ipdpp sample` (library entry point)

fn sample_args(out: &std::path::Path) -> ipdpp::dpp::cli::SampleArgs {
    ipdpp::dpp::cli::SampleArgs {
        kernel_file: None,
        labels: None,
        probs: None,
        features: None,
        kernel: ipdpp::dpp::kernels::KernelKind::Ip,
        k: None,
        draws: 1,
        seed: 0,
        selector: ipdpp::dpp::select::Selector::Kdpp,
        ip_solver: ipdpp::dpp::select::IpSolver::Auto,
        f32: false,
        out: out.to_path_buf(),
        report: None,
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ipdpp-dpp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn dpp_cli_sample_modes_and_bad_input() {
    use ipdpp::device::DeviceChoice;
    use ipdpp::dpp::cli::run_sample;
    use ipdpp::npy;
    let dir = tmpdir("cli");
    let out = dir.join("idx.npy");
    // Mode (a): a rank-6 kernel, k = 4, 5 draws, from npy and from CSV.
    let n = 10;
    let mut r = rng(17);
    let v = random_orthonormal(n, n, &mut r);
    let lambda: Vec<f64> = (0..n).map(|i| if i < 4 { 0.0 } else { i as f64 }).collect();
    let l = compose(&v, &lambda, n);
    let lp = dir.join("L.npy");
    npy::write_f64(&lp, &[n, n], &l).unwrap();
    let mut a = sample_args(&out);
    a.kernel_file = Some(lp.clone());
    a.k = Some(4);
    a.draws = 5;
    assert_eq!(run_sample(DeviceChoice::Cpu, a.clone()).unwrap(), 0);
    let got = npy::read(&out).unwrap();
    assert_eq!(got.shape, vec![5, 4]);
    let idx = got.to_i64().unwrap();
    for row in idx.chunks(4) {
        assert!(
            row.windows(2).all(|w| w[0] < w[1]) && row.iter().all(|&i| (0..n as i64).contains(&i))
        );
    }
    std::fs::remove_file(&out).unwrap();
    let csv = dir.join("L.csv");
    let text: String = (0..n)
        .map(|i| {
            let row: Vec<String> = (0..n).map(|j| format!("{:e}", l[i * n + j])).collect();
            row.join(",") + "\n"
        })
        .collect();
    std::fs::write(&csv, text).unwrap();
    let mut c = a.clone();
    c.kernel_file = Some(csv.clone());
    run_sample(DeviceChoice::Cpu, c).unwrap();
    assert_eq!(npy::read(&out).unwrap().shape, vec![5, 4]);
    std::fs::remove_file(&out).unwrap();

    let expect_err = |args: ipdpp::dpp::cli::SampleArgs, needles: &[&str]| {
        let m = run_sample(DeviceChoice::Cpu, args).unwrap_err().to_string();
        for s in needles {
            assert!(m.contains(s), "message {m:?} lacks {s:?}");
        }
        assert!(!out.exists(), "output written despite the error: {m}");
    };
    // k > rank.
    let mut b = a.clone();
    b.k = Some(7);
    expect_err(b, &["k = 7", "r = 6", "L.npy"]);
    // k > N.
    let mut b = a.clone();
    b.k = Some(11);
    expect_err(b, &["k = 11", "N = 10"]);
    // NaN in the kernel file.
    let mut bad = l.clone();
    bad[2 * n + 3] = f64::NAN;
    let nanp = dir.join("nan.npy");
    npy::write_f64(&nanp, &[n, n], &bad).unwrap();
    let mut b = a.clone();
    b.kernel_file = Some(nanp);
    expect_err(b, &["NaN", "nan.npy", "row 2", "column 3"]);
    // Not PSD.
    let mut neg = lambda.clone();
    neg[0] = -0.5;
    let np_ = dir.join("neg.npy");
    npy::write_f64(&np_, &[n, n], &compose(&v, &neg, n)).unwrap();
    let mut b = a.clone();
    b.kernel_file = Some(np_);
    expect_err(b, &["not positive semidefinite", "neg.npy"]);
    // Not square; unreadable npy; bad CSV value.
    let rect = dir.join("rect.npy");
    npy::write_f64(&rect, &[2, 3], &[1.0; 6]).unwrap();
    let mut b = a.clone();
    b.kernel_file = Some(rect);
    expect_err(b, &["square", "rect.npy"]);
    let junk = dir.join("junk.npy");
    std::fs::write(&junk, b"not an npy").unwrap();
    let mut b = a.clone();
    b.kernel_file = Some(junk);
    expect_err(b, &["junk.npy"]);
    let badcsv = dir.join("bad.csv");
    std::fs::write(&badcsv, "1,0\n0,abc\n").unwrap();
    let mut b = a.clone();
    b.kernel_file = Some(badcsv);
    expect_err(b, &["bad.csv", "line 2", "abc"]);

    // Mode (b).
    let (labels, p, _, _) = toy_classes(3);
    let yp = dir.join("y.npy");
    let pp = dir.join("p.npy");
    npy::write_i64(&yp, &[labels.len()], &labels).unwrap();
    let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
    npy::write_f32(&pp, &[p.len()], &p32).unwrap();
    let mut m = sample_args(&out);
    m.labels = Some(yp.clone());
    m.probs = Some(pp.clone());
    m.k = Some(20);
    m.draws = 3;
    m.report = Some(dir.join("report.json"));
    run_sample(DeviceChoice::Cpu, m.clone()).unwrap();
    let got = npy::read(&out).unwrap();
    assert_eq!(got.shape, vec![3, 20 * 3 + 12]);
    assert!(std::fs::read_to_string(dir.join("report.json"))
        .unwrap()
        .contains("mean_p_dropped"));
    std::fs::remove_file(&out).unwrap();
    // Length mismatch names both files.
    let short = dir.join("short.npy");
    npy::write_f32(&short, &[5], &p32[..5]).unwrap();
    let mut b = m.clone();
    b.probs = Some(short);
    expect_err(b, &["y.npy", "short.npy", "5"]);
    // p outside [0, 1] names the value and the file.
    let mut pb = p32.clone();
    pb[4] = 1.25;
    let pbp = dir.join("pbad.npy");
    npy::write_f32(&pbp, &[pb.len()], &pb).unwrap();
    let mut b = m.clone();
    b.probs = Some(pbp);
    expect_err(b, &["1.25", "pbad.npy", "index 4"]);
    // Neither mode.
    expect_err(sample_args(&out), &["--kernel-file"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dpp_cli_sample_args_parse() {
    use clap::{Args, FromArgMatches};
    let cmd = ipdpp::dpp::cli::SampleArgs::augment_args(clap::Command::new("sample"));
    cmd.clone().debug_assert();
    let m = cmd
        .clone()
        .try_get_matches_from([
            "sample",
            "--kernel-file",
            "L.npy",
            "--k",
            "5",
            "--draws",
            "3",
            "--selector",
            "greedy-paper",
            "--out",
            "idx.npy",
        ])
        .unwrap();
    let a = ipdpp::dpp::cli::SampleArgs::from_arg_matches(&m).unwrap();
    assert_eq!((a.k, a.draws), (Some(5), 3));
    assert_eq!(a.selector, ipdpp::dpp::select::Selector::GreedyPaper);
    let m = cmd
        .clone()
        .try_get_matches_from([
            "sample",
            "--labels",
            "y.npy",
            "--probs",
            "p.csv",
            "--kernel",
            "qd-cosine",
            "--features",
            "f.npy",
            "--out",
            "o.npy",
        ])
        .unwrap();
    let a = ipdpp::dpp::cli::SampleArgs::from_arg_matches(&m).unwrap();
    assert_eq!(a.kernel, ipdpp::dpp::kernels::KernelKind::QdCosine);
    assert_eq!(a.ip_solver, ipdpp::dpp::select::IpSolver::Auto);
    let m = cmd
        .clone()
        .try_get_matches_from([
            "sample",
            "--labels",
            "y.npy",
            "--probs",
            "p.csv",
            "--ip-solver",
            "syevd",
            "--out",
            "o.npy",
        ])
        .unwrap();
    let a = ipdpp::dpp::cli::SampleArgs::from_arg_matches(&m).unwrap();
    assert_eq!(a.ip_solver, ipdpp::dpp::select::IpSolver::Syevd);
    // --labels without --probs, and both modes at once, are rejected by the parser.
    assert!(cmd
        .clone()
        .try_get_matches_from(["sample", "--labels", "y.npy", "--out", "o.npy"])
        .is_err());
    assert!(cmd
        .try_get_matches_from([
            "sample",
            "--kernel-file",
            "L.npy",
            "--labels",
            "y.npy",
            "--probs",
            "p.npy",
            "--out",
            "o.npy",
        ])
        .is_err());
}

/// Timing only (not part of the default run): one IP-kernel selection of a 5000-image class, k = 500.
/// `cargo test --release --test it dpp_time_ip_select_5000 -- --ignored --nocapture`
#[test]
#[ignore]
fn dpp_time_ip_select_5000() {
    use ipdpp::device::Device;
    use ipdpp::dpp::kernels::KernelKind;
    use ipdpp::dpp::select::{select, IpSolver, SelectOptions, Selector};
    let n = 5000;
    let mut r = rng(4);
    let labels = vec![0i64; n];
    let p: Vec<f64> = (0..n).map(|_| r.random::<f64>().powf(0.3)).collect();
    let opts = SelectOptions {
        kernel: KernelKind::Ip,
        selector: Selector::Kdpp,
        k: Some(500),
        seed: 1,
        draws: 3,
        ip_solver: IpSolver::Auto,
    };
    let t = std::time::Instant::now();
    let sel = select(&Device::Cpu, &labels, &p, None, &opts).unwrap();
    println!("{}", serde_json::to_string_pretty(&sel.classes).unwrap());
    println!("total {:.2} s (3 draws)", t.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------- secular (diagonal-plus-rank-one) solver

/// Dense row-major diag(d) + ρ z zᵀ.
fn dpr1_dense(d: &[f64], z: &[f64], rho: f64) -> Vec<f64> {
    let n = d.len();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = rho * z[i] * z[j];
        }
        a[i * n + i] += d[i];
    }
    a
}

/// max |(VᵀV − I)_ij| through dgemm.
fn orth_err(e: &linalg::Eig<f64>) -> f64 {
    let n = e.n;
    let g = linalg::gemm_f64(true, false, n, n, n, &e.vectors, &e.vectors).unwrap();
    let mut m = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let want = if i == j { 1.0 } else { 0.0 };
            m = m.max((g[i * n + j] - want).abs());
        }
    }
    m
}

/// max_j ‖S v_j − λ_j v_j‖₂ (S applied as D v + ρ z (zᵀ v); computed here, independently of the library).
fn dpr1_res(d: &[f64], z: &[f64], rho: f64, e: &linalg::Eig<f64>) -> f64 {
    let n = e.n;
    let mut worst = 0.0f64;
    for j in 0..n {
        let v = e.vector(j);
        let zv: f64 = z.iter().zip(v).map(|(a, b)| a * b).sum();
        let r: f64 = (0..n)
            .map(|i| (d[i] * v[i] + rho * z[i] * zv - e.values[j] * v[i]).powi(2))
            .sum();
        worst = worst.max(r.sqrt());
    }
    worst
}

/// Secular solver vs dense syevd on diag(d) + ρ z zᵀ (or on `dense` when given: the same matrix built
/// another way). Asserts max |Δλ| / ‖S‖, ‖VᵀV − I‖_max and residual / ‖S‖ ≤ 1e−12; returns syevd's
/// decomposition.
fn secular_vs_syevd(
    d: &[f64],
    z: &[f64],
    rho: f64,
    dense: Option<Vec<f64>>,
    what: &str,
) -> linalg::Eig<f64> {
    use ipdpp::dpp::secular;
    let n = d.len();
    let t = std::time::Instant::now();
    let (e, info) = secular::dpr1_eig(d, z, rho).unwrap();
    let t_sec = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let s = linalg::syevd_f64(dense.unwrap_or_else(|| dpr1_dense(d, z, rho)), n).unwrap();
    let t_syevd = t.elapsed().as_secs_f64();
    let snorm = s
        .values
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(1e-300);
    assert!(
        e.values.windows(2).all(|w| w[0] <= w[1]),
        "{what}: not ascending"
    );
    let dl = e
        .values
        .iter()
        .zip(&s.values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f64, f64::max)
        / snorm;
    let t = std::time::Instant::now();
    let orth = orth_err(&e);
    let res = dpr1_res(d, z, rho, &e) / snorm;
    let t_check = t.elapsed().as_secs_f64();
    println!(
        "{what}: N = {n}, deflated {} (small z) + {} (rotation), secular {}, evaluations {} (max {}/root): \
         max|Δλ|/‖S‖ {dl:.2e}, ‖VᵀV−I‖ {orth:.2e}, ‖SV−VΛ‖/‖S‖ {res:.2e} (syevd {:.2e}); \
         secular {t_sec:.3} s, syevd {t_syevd:.3} s, checks {t_check:.3} s",
        info.deflated_small_z,
        info.deflated_rotation,
        info.secular,
        info.evaluations,
        info.max_evaluations,
        dpr1_res(d, z, rho, &s) / snorm,
    );
    assert!(
        dl <= 1e-12,
        "{what}: eigenvalues differ from syevd by {dl:e}"
    );
    assert!(orth <= 1e-12, "{what}: ‖VᵀV − I‖ = {orth:e}");
    assert!(res <= 1e-12, "{what}: residual {res:e}");
    s
}

#[test]
fn dpp_secular_small_and_edge_cases() {
    use ipdpp::dpp::secular;
    let mut r = rng(91);
    let n = 10;
    let d: Vec<f64> = (0..n).map(|_| r.random_range(-1.0..2.0)).collect();
    let z: Vec<f64> = (0..n).map(|_| r.random_range(-1.0..1.0)).collect();
    secular_vs_syevd(&d, &z, 0.7, None, "random N=10");
    secular_vs_syevd(&d, &z, -0.7, None, "negative rho N=10");
    secular_vs_syevd(&d, &z, 1e6, None, "large rho N=10");
    secular_vs_syevd(&d, &z, 1e-9, None, "tiny rho N=10");
    // Exact duplicates, a zero z component, a near-duplicate (1 ulp apart) and a tiny z.
    let mut d2 = d.clone();
    d2[1] = d2[0];
    d2[2] = d2[0];
    d2[3] = d2[4] + f64::EPSILON * d2[4].abs();
    let mut z2 = z.clone();
    z2[5] = 0.0;
    z2[6] = 1e-18;
    secular_vs_syevd(&d2, &z2, 0.7, None, "duplicates N=10");
    // Tight clusters (gaps from a few ulps to 1e−10, some barely above the deflation tolerance) with z
    // entries spanning 1e−8..1: roots within ulps of their poles.
    let mut dc = Vec::new();
    let mut zc = Vec::new();
    for (c, &base) in [0.1f64, 0.5, 0.9].iter().enumerate() {
        for (g, &gap) in [3e-15f64, 1e-13, 1e-10].iter().enumerate() {
            for j in 0..20 {
                dc.push(base + (g as f64) * 1e-3 + j as f64 * gap);
                let mag = [1.0, 1e-4, 1e-8][(j + c + g) % 3];
                zc.push(mag * r.random_range(0.5..1.0) * if j % 2 == 0 { 1.0 } else { -1.0 });
            }
        }
    }
    secular_vs_syevd(&dc, &zc, 0.3, None, "clusters N=180");
    secular_vs_syevd(&dc, &zc, 1e-6, None, "clusters small rho N=180");
    // All d equal: one secular root, N − 1 rotations.
    secular_vs_syevd(&[0.3; 10], &z, 0.5, None, "all equal N=10");
    // z = 0 and ρ = 0: the diagonal.
    secular_vs_syevd(&d, &[0.0; 10], 1.0, None, "z = 0");
    secular_vs_syevd(&d, &z, 0.0, None, "rho = 0");
    // N = 1.
    let (e, _) = secular::dpr1_eig(&[2.0], &[3.0], 0.5).unwrap();
    assert!((e.values[0] - 6.5).abs() < 1e-15 && (e.vectors[0].abs() - 1.0).abs() < 1e-15);
    // Errors.
    assert!(secular::dpr1_eig(&[], &[], 1.0).is_err());
    assert!(secular::dpr1_eig(&[1.0, 2.0], &[1.0], 1.0).is_err());
    let m = secular::dpr1_eig(&[1.0, f64::NAN], &[1.0, 1.0], 1.0)
        .unwrap_err()
        .to_string();
    assert!(m.contains("NaN"), "{m}");
    assert!(secular::dpr1_eig(&[1.0, 2.0], &[1.0, 1.0], f64::INFINITY).is_err());
    // The O(N²) check has power: a corrupted decomposition fails it.
    let (mut e, _) = secular::dpr1_eig(&d, &z, 0.7).unwrap();
    let (res, orth) = secular::check(&d, &z, 0.7, &e);
    assert!(res < 1e-14 && orth < 1e-14, "check {res:e} {orth:e}");
    e.vectors[3 * n + 2] += 1e-6;
    let (res, orth) = secular::check(&d, &z, 0.7, &e);
    assert!(
        res > secular::CHECK_TOL || orth > secular::CHECK_TOL,
        "{res:e} {orth:e}"
    );
    let (mut e, _) = secular::dpr1_eig(&d, &z, 0.7).unwrap();
    e.values[4] += 1e-6;
    assert!(secular::check(&d, &z, 0.7, &e).0 > secular::CHECK_TOL);
}

/// Clamped softmax-like probabilities with the hard cases of METHOD.md's clamp: many exact 1.0 (→ 1 − 1e−6,
/// exact duplicates), values a hair below 1 − 1e−6 (near-duplicates), exact duplicates in the middle,
/// exact 0 (→ 1e−12).
fn hard_probs(n: usize, seed: u64) -> Vec<f64> {
    let mut r = rng(seed);
    let raw: Vec<f64> = (0..n)
        .map(|i| match i % 20 {
            0..=5 => 1.0,
            6 | 7 => 1.0 - 1e-6 - r.random::<f64>() * 1e-12,
            8 => 0.5,
            9 => 0.0,
            _ => r.random::<f64>().powf(0.3),
        })
        .collect();
    ipdpp::dpp::kernels::clamp_probs(&raw, "test").unwrap()
}

/// The IP kernel (`code` = ip-code): secular vs syevd eigenpairs, and the exact k-DPP item inclusion
/// probabilities from both decompositions.
fn ip_secular_case(n: usize, code: bool, k: usize, seed: u64) {
    use ipdpp::dpp::{kernels, secular};
    let p = hard_probs(n, seed);
    let (dg, z, rho) = kernels::ip_parts(&p, code);
    let what = format!("{} N={n}", if code { "ip-code" } else { "ip" });
    // syevd of the dense kernel as select.rs builds it (Eq. 16 entries; equal to the parts to rounding).
    let s = secular_vs_syevd(&dg, &z, rho, Some(kernels::ip_kernel(&p, code)), &what);
    let dense = KDpp::from_eig(s, f64::EPSILON).unwrap();
    let (eig, _, (res, orth)) = secular::ip_eig(&p, code).unwrap();
    assert!(
        res < 1e-13 && orth < 1e-13,
        "{what}: check {res:e} {orth:e}"
    );
    assert!(
        (eig.values[n - 1] - 1.0).abs() < 1e-13,
        "λ_max = {}",
        eig.values[n - 1]
    );
    let sec = KDpp::from_eig(eig, f64::EPSILON).unwrap();
    assert_eq!(sec.rank(), dense.rank(), "{what}: rank");
    let a = esp::item_inclusion(&sec.lambda, &sec.vectors, n, k);
    let b = esp::item_inclusion(&dense.lambda, &dense.vectors, n, k);
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f64, f64::max);
    println!("{what}: k = {k}, max |ΔP(i ∈ Y)| = {diff:.2e}");
    assert!(
        diff < 1e-10,
        "{what}: inclusion probabilities differ by {diff:e}"
    );
    assert!((a.iter().sum::<f64>() - k as f64).abs() < 1e-8);
}

#[test]
fn dpp_secular_ip_kernels_n500() {
    ip_secular_case(500, false, 50, 92);
    ip_secular_case(500, true, 50, 93);
}

#[test]
fn dpp_secular_ip_kernel_n3000() {
    ip_secular_case(3000, false, 500, 94);
}

#[test]
fn dpp_secular_ip_code_kernel_n3000() {
    ip_secular_case(3000, true, 500, 95);
}

/// Selection through `select` with the secular solver draws from the same distribution: empirical item
/// frequencies against the exact inclusion probabilities of the syevd decomposition (z-scores).
#[test]
fn dpp_secular_selection_distribution() {
    use ipdpp::device::Device;
    use ipdpp::dpp::kernels::{self, KernelKind};
    use ipdpp::dpp::select::{select, IpSolver, SelectOptions, Selector};
    let (n, k, draws) = (300usize, 30usize, 6000usize);
    let p = hard_probs(n, 96);
    let labels = vec![3i64; n];
    let mut opts = SelectOptions::new(KernelKind::Ip, Selector::Kdpp, Some(k), 7, draws);
    let sel = select(&Device::Cpu, &labels, &p, None, &opts).unwrap();
    assert_eq!(sel.classes[0].solver.as_deref(), Some("secular"));
    let dense = KDpp::from_kernel(kernels::ip_kernel(&p, false), n).unwrap();
    let pi = esp::item_inclusion(&dense.lambda, &dense.vectors, n, k);
    let mut count = vec![0.0f64; n];
    for y in &sel.draws {
        assert_eq!(y.len(), k);
        for &i in y {
            count[i] += 1.0;
        }
    }
    let dn = draws as f64;
    let (mut worst, mut z2, mut m) = (0.0f64, 0.0, 0usize);
    for i in 0..n {
        let e = dn * pi[i];
        if e.min(dn - e) < 10.0 {
            continue;
        }
        let z = (count[i] - e) / (e * (1.0 - pi[i])).sqrt();
        worst = worst.max(z.abs());
        z2 += z * z;
        m += 1;
    }
    let mz2 = z2 / m as f64;
    println!("secular selection: {m} items, max |z| {worst:.2}, mean z² {mz2:.3}");
    assert!(m > 200);
    assert!(worst < 5.0, "max |z| = {worst}");
    assert!((0.8..1.25).contains(&mz2), "mean z² = {mz2}");
    // The syevd option still works and reports itself.
    opts.ip_solver = IpSolver::Syevd;
    opts.draws = 1;
    let sel = select(&Device::Cpu, &labels, &p, None, &opts).unwrap();
    assert_eq!(sel.classes[0].solver.as_deref(), Some("syevd"));
    assert_eq!(sel.draws[0].len(), k);
}
