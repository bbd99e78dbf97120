//! CPU reference fully connected layer: y = x·Wᵀ + b with W [out, in] (PyTorch's layout).
use super::gemm::gemm_par_f32;
use crate::device::ops::GemmSpec;

pub fn linear_fwd_f32(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    rows: usize,
    din: usize,
    dout: usize,
) {
    gemm_par_f32(
        y,
        x,
        w,
        &GemmSpec {
            tb: true,
            ..GemmSpec::new(rows, dout, din)
        },
    );
    if let Some(b) = b {
        for r in y[..rows * dout].chunks_exact_mut(dout) {
            for (v, bb) in r.iter_mut().zip(b) {
                *v += bb;
            }
        }
    }
}

/// gx = gy·W; gw = gyᵀ·x; gb = Σ_rows gy (gw, gb overwritten).
#[allow(clippy::too_many_arguments)]
pub fn linear_bwd_f32(
    gx: Option<&mut [f32]>,
    gw: &mut [f32],
    gb: Option<&mut [f32]>,
    gy: &[f32],
    x: &[f32],
    w: &[f32],
    rows: usize,
    din: usize,
    dout: usize,
) {
    if let Some(gx) = gx {
        gemm_par_f32(gx, gy, w, &GemmSpec::new(rows, din, dout));
    }
    gemm_par_f32(
        gw,
        gy,
        x,
        &GemmSpec {
            ta: true,
            ..GemmSpec::new(dout, din, rows)
        },
    );
    if let Some(gb) = gb {
        let mut acc = vec![0.0f64; dout];
        for r in gy[..rows * dout].chunks_exact(dout) {
            for (a, v) in acc.iter_mut().zip(r) {
                *a += *v as f64;
            }
        }
        for (g, a) in gb.iter_mut().zip(acc) {
            *g = a as f32;
        }
    }
}
