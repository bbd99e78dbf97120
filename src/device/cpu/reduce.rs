//! CPU references for kernels/reduce.cu (f64 accumulation: the reference should be the accurate side).
use rayon::prelude::*;

pub fn row_sum_f32(out: &mut [f32], x: &[f32], rows: usize, cols: usize) {
    out[..rows].par_iter_mut().enumerate().for_each(|(r, o)| {
        *o = x[r * cols..(r + 1) * cols]
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>() as f32;
    });
}

pub fn row_mean_f32(out: &mut [f32], x: &[f32], rows: usize, cols: usize) {
    out[..rows].par_iter_mut().enumerate().for_each(|(r, o)| {
        let s: f64 = x[r * cols..(r + 1) * cols].iter().map(|&v| v as f64).sum();
        *o = if cols > 0 {
            (s / cols as f64) as f32
        } else {
            0.0
        };
    });
}
