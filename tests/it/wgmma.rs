//! The Hopper warpgroup-MMA probe (kernels/wgmma.cu): its bf16 GEMM against the exact product of the same
//! bf16 operands at shapes covering both tile widths, partial row and column tiles and a K that leaves a
//! partial k-tile; the bench's refusal on machines without a Hopper GPU.
use super::common::{bin, cuda_or_skip};
use ipdpp::bench::rel_err;
use ipdpp::device::cpu::elementwise::cast_bf16_f32;
use ipdpp::device::cuda::wgmma::{available, gemm_wgmma_bf16};
use ipdpp::rng::uniform_f32;

/// The probe GEMM at `shapes` (m, n, k), K-major operands (A [m][k], B [n][k]) or MN-major (`mn`: A [k][m],
/// B [k][n]), against the exact product of the same bf16 operands; failure lines, with leads printed for the
/// next reader (the corners, the error against the transpose, unwritten outputs).
fn probe_cases(
    d: &ipdpp::device::cuda::CudaDevice,
    mn: bool,
    shapes: &[(usize, usize, usize)],
) -> Vec<String> {
    probe_layout(d, if mn { "mn" } else { "k" }, shapes)
}

/// probe_cases by layout: "k" (K-major, no swizzle), "sw128" (K-major, 128-byte swizzle), "mn".
fn probe_layout(
    d: &ipdpp::device::cuda::CudaDevice,
    layout: &str,
    shapes: &[(usize, usize, usize)],
) -> Vec<String> {
    use ipdpp::device::cuda::wgmma::{gemm_wgmma_bf16_mn, gemm_wgmma_bf16_sw128};
    let f = |v: u16| f32::from_bits((v as u32) << 16) as f64;
    let mn = layout == "mn";
    let name = match layout {
        "mn" => "gemm_wgmma_bf16_mn",
        "sw128" => "gemm_wgmma_bf16_sw128",
        _ => "gemm_wgmma_bf16",
    };
    let mut fails = Vec::new();
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        let seed = if mn { 170 } else { 70 } + i as u64;
        let (mut a, mut b) = (vec![0u16; m * k], vec![0u16; n * k]);
        cast_bf16_f32(&mut a, &uniform_f32(m * k, -1.0, 1.0, seed));
        cast_bf16_f32(&mut b, &uniform_f32(n * k, -1.0, 1.0, seed + 10));
        // Element (row r, k index j) of each operand in its storage order.
        let at = |r: usize, j: usize| if mn { a[j * m + r] } else { a[r * k + j] };
        let bt = |c: usize, j: usize| if mn { b[j * n + c] } else { b[c * k + j] };
        let want: Vec<f32> = (0..m * n)
            .map(|idx| {
                let (r, c) = (idx / n, idx % n);
                (0..k).map(|j| f(at(r, j)) * f(bt(c, j))).sum::<f64>() as f32
            })
            .collect();
        let (da, db) = (d.upload(&a).unwrap(), d.upload(&b).unwrap());
        let mut c = d.upload(&vec![f32::NAN; m * n]).unwrap();
        match layout {
            "mn" => gemm_wgmma_bf16_mn(d, &mut c, &da, &db, m, n, k).unwrap(),
            "sw128" => gemm_wgmma_bf16_sw128(d, &mut c, &da, &db, m, n, k).unwrap(),
            _ => gemm_wgmma_bf16(d, &mut c, &da, &db, m, n, k).unwrap(),
        }
        let got = d.download(&c).unwrap();
        let e = rel_err(&got, &want);
        println!("{name} {m}x{n}x{k}: rel err {e:.2e}");
        // fp32 accumulation of exact products: ~1e-7·√K; a wrong descriptor, layout or fragment gives O(1).
        if e.is_nan() || e >= 1e-4 {
            fails.push(format!("{name} {m}x{n}x{k}: rel err {e:e}"));
            for r in 0..4 {
                println!("  got  row {r}: {:?}", &got[r * n..r * n + 6.min(n)]);
                println!("  want row {r}: {:?}", &want[r * n..r * n + 6.min(n)]);
            }
            if m == n {
                let t: Vec<f32> = (0..m * n).map(|x| want[(x % n) * n + x / n]).collect();
                println!("  rel err against the transpose: {:.2e}", rel_err(&got, &t));
            }
            let nan = got.iter().filter(|v| v.is_nan()).count();
            println!("  {nan} of {} outputs never written (NaN)", got.len());
        }
    }
    fails
}

/// v as bf16 bits (round to nearest even).
fn bf16_bits(v: &[f32]) -> Vec<u16> {
    let mut b = vec![0u16; v.len()];
    cast_bf16_f32(&mut b, v);
    b
}

/// bf16 bits as the f32 values they hold.
fn widened(b: &[u16]) -> Vec<f32> {
    b.iter()
        .map(|&v| f32::from_bits((v as u32) << 16))
        .collect()
}

/// The Hopper device of this machine, or None (printed) where there is none.
fn hopper(test: &str) -> Option<ipdpp::device::Device> {
    let dev = cuda_or_skip(test)?;
    let d = dev.cuda().unwrap();
    if !available(d) {
        println!(
            "{test}: skipped: sm_{}{} is not Hopper (sm_90)",
            d.cc.0, d.cc.1
        );
        return None;
    }
    Some(dev)
}

/// K-major operands: one k-step; one tile; n128 tiles over two column blocks; partial rows, columns and
/// k-tile (136 = 2·64 + 8); the n64 tile with a partial column block; the smallest K.
const K_MAJOR_SHAPES: [(usize, usize, usize); 6] = [
    (64, 64, 16),
    (64, 64, 64),
    (128, 256, 512),
    (100, 200, 136),
    (1000, 48, 1024),
    (64, 8, 8),
];

#[test]
fn cuda_wgmma_bf16_gemm_matches_exact_product() {
    let Some(dev) = hopper("cuda_wgmma_bf16_gemm_matches_exact_product") else {
        return;
    };
    let fails = probe_cases(dev.cuda().unwrap(), false, &K_MAJOR_SHAPES);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

/// The K-major probe with its shared tiles in the 128-byte swizzle layout (row r's 16-byte chunk j at
/// j ^ (r % 8), descriptors with swizzle mode 1, SBO 1024, k-steps 32 bytes apart): the layout a faster
/// conv v7 would use. A wrong reading of the swizzle gives O(1) errors at every shape but the degenerate.
#[test]
fn cuda_wgmma_bf16_gemm_sw128_matches_exact_product() {
    let Some(dev) = hopper("cuda_wgmma_bf16_gemm_sw128_matches_exact_product") else {
        return;
    };
    let fails = probe_layout(dev.cuda().unwrap(), "sw128", &K_MAJOR_SHAPES);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

/// A second device opened in the same process loads its own modules, whose kernel handles start at the
/// 48 KB shared-memory default: the 72 KB probe must launch on both (a process-wide "already raised" record
/// once skipped the second; found by running this suite through tools/cusim's simulated driver).
#[test]
fn cuda_second_device_raises_the_shared_memory_limit_again() {
    let Some(first) = hopper("cuda_second_device_raises_the_shared_memory_limit_again") else {
        return;
    };
    let second = ipdpp::device::cuda::CudaDevice::open(0).unwrap();
    for d in [first.cuda().unwrap(), &*second] {
        let fails = probe_cases(d, false, &[(64, 256, 64)]);
        assert!(fails.is_empty(), "{}", fails.join("\n"));
    }
}

/// The MN-major path alone (operands stored [K][M] and [K][N], loaded into the MN-major canonical layout, the
/// MMA with imm-trans = 1): what conv v7's grad-weight and BNS v5's second product rely on. If this fails
/// while the K-major test passes, the MN-major reading of LBO/SBO is the first suspect.
#[test]
fn cuda_wgmma_bf16_gemm_mn_major_matches_exact_product() {
    let Some(dev) = hopper("cuda_wgmma_bf16_gemm_mn_major_matches_exact_product") else {
        return;
    };
    let shapes = [(64, 64, 16), (128, 256, 136), (96, 200, 64), (64, 8, 8)];
    let fails = probe_cases(dev.cuda().unwrap(), true, &shapes);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

/// BNS v5's wgmma path alone: S = Z·Tᵀ (smem operands, K-major), then bf16(S)·T with S as register A
/// fragments and T re-read MN-major (LBO 2048, SBO 128) — against the CPU with S rounded to bf16 the same
/// way. If the BNS v5 tests fail while this and the probe GEMMs pass, the fault is in the loss logic.
#[test]
fn cuda_bns_v5_wgmma_chain_matches_cpu() {
    use ipdpp::loss::bns_cuda::bns_v5_chain_probe;
    let Some(dev) = hopper("cuda_bns_v5_wgmma_chain_matches_cpu") else {
        return;
    };
    let d = dev.cuda().unwrap();
    let f = |v: u16| f32::from_bits((v as u32) << 16);
    let mut fails = Vec::new();
    // n rows of 128 dims; the own rows are the first min(n, 128), the tile 64 rows from c0 (zero past n).
    for (n, c0) in [(128usize, 0usize), (200, 64), (100, 64)] {
        let mut zb = vec![0u16; n * 128];
        cast_bf16_f32(&mut zb, &uniform_f32(n * 128, -0.2, 0.2, 300 + n as u64));
        let rows = n.min(128);
        let t = |j: usize, k: usize| {
            if c0 + j < n {
                f(zb[(c0 + j) * 128 + k])
            } else {
                0.0
            }
        };
        let mut want = vec![0.0f32; rows * 128];
        for r in 0..rows {
            // S row in f64, rounded to f32 then bf16 as the kernel's accumulators are.
            let srow: Vec<f32> = (0..64)
                .map(|j| {
                    let s = (0..128)
                        .map(|k| f(zb[r * 128 + k]) as f64 * t(j, k) as f64)
                        .sum::<f64>();
                    half::bf16::from_f32(s as f32).to_f32()
                })
                .collect();
            for k in 0..128 {
                want[r * 128 + k] = (0..64)
                    .map(|j| srow[j] as f64 * t(j, k) as f64)
                    .sum::<f64>() as f32;
            }
        }
        let zd = d.upload(&zb).unwrap();
        let mut g = d.upload(&vec![f32::NAN; rows * 128]).unwrap();
        bns_v5_chain_probe(d, &mut g, &zd, n, c0).unwrap();
        let got = d.download(&g).unwrap();
        let e = rel_err(&got, &want);
        println!("bns_v5_chain_probe n={n} c0={c0}: rel err {e:.2e}");
        // bf16 rounding of S on both sides; an accumulation-order tie may round one element differently.
        if e.is_nan() || e >= 1e-2 {
            fails.push(format!("bns_v5_chain_probe n={n} c0={c0}: rel err {e:e}"));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn wgmma_bench_without_a_hopper_gpu_is_a_usage_error() {
    if cuda_or_skip("wgmma_bench_without_a_hopper_gpu_is_a_usage_error").is_some() {
        return; // covered by the GPU test and the bundle there
    }
    let o = std::process::Command::new(bin())
        .args(["--device", "cpu", "bench", "wgmma", "--m", "64"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs --device cuda on an sm_90 GPU"), "{err}");
}

/// The GEMM v7's grad-input computes (stride 1): gx [m = (n, iy, ix)][c] = Σ over k = (ky, kx, o) of
/// gy [n, iy + pad - ky, ix + pad - kx, o] (zero outside) times wT [c][k] with wT = conv_weight_t(w) —
/// written out on the CPU in f64 and compared with the im2col reference grad-input, so the operand
/// formulation (gather, tap order, transposed layout) is checked where no GPU is.
#[test]
fn v7_grad_input_formulation_matches_the_cpu_reference() {
    use ipdpp::device::cpu::conv::{conv_bwd_input_f32, conv_weight_t, ConvSpec};
    for (i, s) in [
        ConvSpec::new(2, 6, 5, 8, 32, 3, 1, 1),
        ConvSpec::new(1, 4, 4, 16, 64, 1, 1, 0),
        ConvSpec::new(2, 5, 5, 3, 32, 3, 1, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let w = uniform_f32(s.w_len(), -1.0, 1.0, 90 + i as u64);
        let gy = uniform_f32(s.y_len(), -1.0, 1.0, 95 + i as u64);
        let mut want = vec![0.0f32; s.x_len()];
        conv_bwd_input_f32(&mut want, &gy, &w, &s);
        let mut wt = vec![0.0f32; s.w_len()];
        conv_weight_t(&mut wt, &w, &s);
        let (taps, k) = (s.kh * s.kw, s.kh * s.kw * s.o);
        let (oh, ow) = (s.oh() as i64, s.ow() as i64);
        let mut got = vec![0.0f32; s.x_len()];
        for n in 0..s.n {
            for iy in 0..s.h {
                for ix in 0..s.w {
                    let m = (n * s.h + iy) * s.w + ix;
                    for c in 0..s.c {
                        let mut acc = 0.0f64;
                        for tap in 0..taps {
                            let (ky, kx) = (tap / s.kw, tap % s.kw);
                            let oy = (iy + s.pad) as i64 - ky as i64;
                            let ox = (ix + s.pad) as i64 - kx as i64;
                            if oy < 0 || ox < 0 || oy >= oh || ox >= ow {
                                continue;
                            }
                            let p = (n as i64 * oh + oy) * ow + ox;
                            for o in 0..s.o {
                                let a = gy[p as usize * s.o + o] as f64;
                                acc += a * wt[c * k + tap * s.o + o] as f64;
                            }
                        }
                        got[m * s.c + c] = acc as f32;
                    }
                }
            }
        }
        let e = rel_err(&got, &want);
        assert!(e < 1e-5, "{s:?}: rel err {e:e}");
    }
}

#[test]
fn cuda_conv_weight_t_bf16_matches_cpu() {
    use ipdpp::device::cpu::conv::{conv_weight_t, ConvSpec};
    use ipdpp::device::cuda::conv_wgmma::conv_weight_t_bf16;
    let Some(dev) = hopper("cuda_conv_weight_t_bf16_matches_cpu") else {
        return;
    };
    let d = dev.cuda().unwrap();
    for s in [
        ConvSpec::new(1, 8, 8, 64, 128, 3, 1, 1),
        ConvSpec::new(1, 8, 8, 3, 40, 3, 1, 1),
    ] {
        let mut w = vec![0u16; s.w_len()];
        cast_bf16_f32(&mut w, &uniform_f32(s.w_len(), -1.0, 1.0, 5));
        let mut want = vec![0u16; s.w_len()];
        conv_weight_t(&mut want, &w, &s);
        let wd = d.upload(&w).unwrap();
        let mut wt = d.zeros::<u16>(s.w_len()).unwrap();
        conv_weight_t_bf16(d, &mut wt, &wd, &s).unwrap();
        assert_eq!(d.download(&wt).unwrap(), want, "{s:?}");
    }
}

#[test]
fn v7_pipelines_keep_64_deep_k_tiles_to_whole_64_channel_taps() {
    use ipdpp::device::cpu::conv::ConvSpec;
    use ipdpp::device::cuda::conv_tc::ConvPrecision::{Bf16, Fp32, Tf32};
    use ipdpp::device::cuda::conv_wgmma::{pipes, takes, Pipe};
    let s = |c, o, stride| ConvSpec::new(2, 8, 8, c, o, 3, stride, 1);
    // A 64-deep k-tile of the forward spans 64 input channels of one tap, of grad-input 64 output channels
    // (on tiles of 128 or 256 rows alike).
    let shallow = [Pipe::K32S5, Pipe::K32S5M256];
    // Stride-1 3x3 forwards and grad-inputs of whole k-tiles also take the halo pipelines (2026-11-28).
    let all_halo: Vec<Pipe> = Pipe::ALL
        .into_iter()
        .chain([Pipe::Halo, Pipe::HaloM256])
        .collect();
    assert_eq!(pipes("fwd", &s(32, 64, 1), Bf16), shallow);
    assert_eq!(pipes("fwd", &s(64, 32, 1), Bf16), all_halo);
    assert_eq!(pipes("bwd_input", &s(64, 96, 1), Bf16), shallow);
    assert_eq!(pipes("bwd_input", &s(32, 128, 1), Bf16), all_halo);
    assert_eq!(pipes("bwd_input", &s(32, 128, 2), Bf16), Pipe::ALL);
    assert_eq!(
        pipes("fwd", &ConvSpec::new(2, 8, 8, 64, 64, 1, 1, 0), Bf16),
        Pipe::ALL
    );
    // Grad-weight k-tiles are pixels: both depths at any channel count v7 takes, on tiles of 128 or 256
    // rows (the latter since 2026-11-28).
    assert_eq!(pipes("bwd_weight", &s(8, 16, 2), Bf16), Pipe::ALL);
    // tf32: rows of the same bytes, so half the channels: 32-deep (k32s4) and 16-deep (k16s5) k-tiles.
    assert_eq!(pipes("fwd", &s(16, 64, 1), Tf32), shallow);
    assert_eq!(pipes("fwd", &s(32, 64, 1), Tf32), all_halo);
    assert_eq!(pipes("bwd_input", &s(64, 48, 1), Tf32), shallow);
    assert!(takes("fwd", &s(16, 64, 1), Tf32) && !takes("fwd", &s(16, 64, 1), Bf16));
    assert!(!takes("fwd", &s(8, 64, 1), Tf32));
    // The tf32 grad-weight: float4 chunks of 4 channels (C and O % 4), its register-staged pipelines (128
    // rows on two register sets, 256 on one); no exact fp32 at all.
    assert!(takes("bwd_weight", &s(32, 64, 1), Bf16) && takes("bwd_weight", &s(32, 64, 1), Tf32));
    assert!(takes("bwd_weight", &s(4, 12, 1), Tf32) && !takes("bwd_weight", &s(4, 12, 1), Bf16));
    assert!(!takes("bwd_weight", &s(6, 64, 1), Tf32) && !takes("bwd_weight", &s(8, 66, 1), Tf32));
    assert_eq!(
        pipes("bwd_weight", &s(64, 128, 1), Tf32),
        [Pipe::Rs2, Pipe::Rs1M256]
    );
    assert_eq!("rs2".parse::<Pipe>().unwrap(), Pipe::Rs2);
    assert_eq!("rs1_m256".parse::<Pipe>().unwrap(), Pipe::Rs1M256);
    assert!(!Pipe::ALL.contains(&Pipe::Rs2) && !Pipe::ALL.contains(&Pipe::Rs1M256));
    assert!(!takes("fwd", &s(64, 64, 1), Fp32));
    for p in Pipe::ALL {
        assert_eq!(p.tag().parse::<Pipe>().unwrap(), p);
        assert_eq!(p.tag_for(Tf32).parse::<Pipe>().unwrap(), p);
        assert_eq!(p.tag_for(Bf16), p.tag());
    }
    assert_eq!(Pipe::K64S4.tag_for(Tf32), "k32s4");
    assert_eq!(pipes("fwd", &s(64, 128, 1), Bf16), all_halo);
    assert_eq!(pipes("fwd", &s(32, 96, 2), Bf16), shallow);
    assert_eq!(pipes("bwd_input", &s(128, 64, 1), Tf32), all_halo);
    assert_eq!("halo".parse::<Pipe>().unwrap(), Pipe::Halo);
    assert_eq!("halo_m256".parse::<Pipe>().unwrap(), Pipe::HaloM256);
    // (6 x 6 images: no halo grad-weight; on 8 x 8 it takes 64 channels, below.)
    assert_eq!(
        pipes(
            "bwd_weight",
            &ConvSpec::new(2, 6, 6, 64, 128, 3, 1, 1),
            Bf16
        ),
        Pipe::ALL
    );
    // The halo grad-weight (2026-11-28): bf16, 3x3 stride 1, C and O % 64, rows of 16 or 32 pixels or
    // images of 8x8 or 4x4 (`wide` has 4 rows, so W = 8 is no 8x8 image; W = 4 is 4x4).
    let wide = |w, c, o, stride| ConvSpec::new(2, 4, w, c, o, 3, stride, 1);
    let mut gw_halo: Vec<Pipe> = Pipe::ALL.to_vec();
    gw_halo.push(Pipe::Halo);
    assert_eq!(pipes("bwd_weight", &wide(4, 64, 64, 1), Bf16), gw_halo);
    // ... and at stride 2 from rows of 32 pixels (ResNet-18's layer2.0.conv1).
    assert_eq!(pipes("bwd_weight", &wide(32, 64, 128, 2), Bf16), gw_halo);
    assert_eq!(
        pipes(
            "bwd_weight",
            &ConvSpec::new(2, 8, 8, 128, 64, 3, 1, 1),
            Bf16
        ),
        gw_halo
    );
    assert_eq!(pipes("bwd_weight", &wide(16, 64, 128, 1), Bf16), gw_halo);
    assert_eq!(pipes("bwd_weight", &wide(32, 128, 64, 1), Bf16), gw_halo);
    for (w, c, o, stride) in [
        (48, 64, 64, 1),
        (16, 32, 64, 1),
        (16, 64, 96, 1),
        (16, 64, 64, 2),
        (8, 64, 64, 1),
    ] {
        assert_eq!(pipes("bwd_weight", &wide(w, c, o, stride), Bf16), Pipe::ALL);
    }
    assert_eq!(
        pipes("bwd_weight", &wide(16, 64, 64, 1), Tf32),
        [Pipe::Rs2, Pipe::Rs1M256]
    );
    assert_eq!(Pipe::K32S5M256.tag_for(Tf32), "k16s5_m256");
    assert_eq!("k32s4_m256".parse::<Pipe>().unwrap(), Pipe::K64S4M256);
    assert!("k48s5".parse::<Pipe>().is_err());
}

/// Every grad-weight pipeline of v7 (bf16: 64- and 32-deep k-tiles on 128 or 256 rows, the latter written
/// without a GPU on 2026-11-28; tf32: `_rs2`, 128-row tiles on two register sets, and `_rs1_m256`, 256-row
/// tiles on one, written the same day): the same k-steps per element, their pixel-split partial sums added
/// with atomics in no fixed order, so equal to the first pipeline within 1e-5, and to the CPU's exact fp32
/// gradient on the same operands (bf16: the rounded values) within 1e-5 (bf16) or tf32's truncation (2e-3);
/// at n64 and n128 tiles, K of 576 (a partial 256-row tile) and 1152; at W = 16 the bf16 halo grad-weight
/// (2026-11-28, written without a GPU) too. Skips without a Hopper GPU.
#[test]
fn cuda_conv_v7_grad_weight_pipelines_agree() {
    use ipdpp::device::cpu::conv::{conv_bwd_weight_f32, ConvSpec};
    use ipdpp::device::cuda::conv_tc::ConvPrecision::{Bf16, Tf32};
    use ipdpp::device::cuda::conv_wgmma::{conv_bwd_weight_v7_pipe, pipes};
    let Some(dev) = hopper("cuda_conv_v7_grad_weight_pipelines_agree") else {
        return;
    };
    let d = dev.cuda().unwrap();
    for (i, &(n, hw, c, o)) in [
        (4, 8, 64, 64),
        (2, 8, 128, 128),
        (3, 6, 64, 128),
        (2, 16, 64, 128),
    ]
    .iter()
    .enumerate()
    {
        let s = ConvSpec::new(n, hw, hw, c, o, 3, 1, 1);
        let sd = 300 + 10 * i as u64;
        let (xh, gyh) = (
            uniform_f32(s.x_len(), -1.0, 1.0, sd),
            uniform_f32(s.y_len(), -1.0, 1.0, sd + 1),
        );
        for p in [Tf32, Bf16] {
            // bf16: the operands rounded, the CPU reference on the rounded values.
            let (xb, gyb) = (bf16_bits(&xh), bf16_bits(&gyh));
            let (xr, gyr) = if p == Bf16 {
                (widened(&xb), widened(&gyb))
            } else {
                (xh.clone(), gyh.clone())
            };
            let mut want = vec![0.0f32; s.w_len()];
            conv_bwd_weight_f32(&mut want, &gyr, &xr, &s);
            let tol = if p == Bf16 { 1e-5 } else { 2e-3 };
            let mut got: Vec<Vec<f32>> = Vec::new();
            for pipe in pipes("bwd_weight", &s, p) {
                let mut gw = d.upload(&vec![f32::NAN; s.w_len()]).unwrap();
                if p == Bf16 {
                    let (x, gy) = (d.upload(&xb).unwrap(), d.upload(&gyb).unwrap());
                    conv_bwd_weight_v7_pipe(d, pipe, &mut gw, &gy, &x, &s).unwrap();
                } else {
                    let (x, gy) = (d.upload(&xh).unwrap(), d.upload(&gyh).unwrap());
                    conv_bwd_weight_v7_pipe(d, pipe, &mut gw, &gy, &x, &s).unwrap();
                }
                let g = d.download(&gw).unwrap();
                let e = rel_err(&g, &want);
                let e0 = got.first().map_or(0.0, |g0| rel_err(&g, g0));
                println!(
                    "{s:?} {p} {}: rel err {e:.2e} against the CPU, {e0:.2e} against the first",
                    pipe.tag_for(p)
                );
                assert!(e < tol, "{s:?} {p} {}: rel err {e}", pipe.tag_for(p));
                assert!(
                    e0 < 1e-5,
                    "{s:?} {p} {}: {e0} from the first",
                    pipe.tag_for(p)
                );
                got.push(g);
            }
            assert!(got.len() >= 2, "{s:?} {p}: one pipeline only");
        }
    }
}

/// The bf16 halo grad-weight (written without a GPU, 2026-11-28) over every kind of range a block may take
/// (one output row, ranges starting and ending inside an image, whole images, everything in one block; on
/// 8x8 and 4x4 images steps of one and four images, the last short) against the CPU's exact fp32 gradient
/// on the same bf16 values within 1e-5, at W = 32, 16, 8 and 4 with 64 and 128 channels on either side
/// (several 64 × 64 tiles) and at stride 2 from W = 32; and its launcher's own split.
#[test]
fn cuda_conv_v7_halo_grad_weight_over_any_row_range() {
    use ipdpp::device::cpu::conv::{conv_bwd_weight_f32, ConvSpec};
    use ipdpp::device::cuda::conv_wgmma::{
        conv_bwd_weight_v7_halo_split, conv_bwd_weight_v7_pipe, Pipe,
    };
    let Some(dev) = hopper("cuda_conv_v7_halo_grad_weight_over_any_row_range") else {
        return;
    };
    if !ipdpp::device::cuda::conv_wgmma::gw_halo_takes(&ConvSpec::new(1, 16, 16, 64, 64, 3, 1, 1)) {
        println!("skipped: the halo grad-weight is off (IPDPP_V7_GW_HALO=0 or IPDPP_V7_HALO=0)");
        return;
    }
    let d = dev.cuda().unwrap();
    let mut fails = Vec::new();
    for (i, &(n, h, w, c, o, stride)) in [
        (3, 5, 16, 128, 64, 1),
        (2, 3, 32, 64, 128, 1),
        (5, 8, 8, 64, 128, 1),
        // Four images a step: the second step holds two.
        (6, 4, 4, 128, 64, 1),
        // Stride 2 from rows of 32 pixels: output rows of 16 at every second x row.
        (2, 6, 32, 64, 128, 2),
    ]
    .iter()
    .enumerate()
    {
        let s = ConvSpec::new(n, h, w, c, o, 3, stride, 1);
        let xb = bf16_bits(&uniform_f32(s.x_len(), -1.0, 1.0, 700 + i as u64));
        let gyb = bf16_bits(&uniform_f32(s.y_len(), -1.0, 1.0, 710 + i as u64));
        let mut want = vec![0.0f32; s.w_len()];
        conv_bwd_weight_f32(&mut want, &widened(&gyb), &widened(&xb), &s);
        let (x, gy) = (d.upload(&xb).unwrap(), d.upload(&gyb).unwrap());
        // Steps: output rows, or on 8x8 (4x4) images one (four) images.
        let (oh, steps) = (s.oh(), s.n * s.oh());
        let steps = match w {
            8 => n,
            4 => n.div_ceil(4),
            _ => steps,
        };
        let mut pers: Vec<Option<usize>> = [1, 2, oh - 1, oh, oh + 1, steps]
            .into_iter()
            .filter(|&r| r <= steps)
            .map(Some)
            .collect();
        pers.dedup();
        pers.push(None);
        for per in pers {
            let mut gw = d.upload(&vec![f32::NAN; s.w_len()]).unwrap();
            match per {
                Some(r) => conv_bwd_weight_v7_halo_split(d, &mut gw, &gy, &x, &s, r).unwrap(),
                None => conv_bwd_weight_v7_pipe(d, Pipe::Halo, &mut gw, &gy, &x, &s).unwrap(),
            }
            let e = rel_err(&d.download(&gw).unwrap(), &want);
            println!("{s:?} steps per block {per:?}: rel err {e:.2e}");
            if e.is_nan() || e >= 1e-5 {
                fails.push(format!("{s:?} steps per block {per:?}: rel err {e:.2e}"));
            }
        }
    }
    assert!(fails.is_empty(), "{fails:#?}");
}

#[test]
fn cuda_conv_v7_pipelines_give_the_same_bits_and_the_pick_is_kept() {
    use ipdpp::device::cpu::conv::ConvSpec;
    use ipdpp::device::cuda::conv_wgmma::{conv_fwd_v7, conv_fwd_v7_pipe, pipe_used, Pipe};
    use ipdpp::device::cuda::tune;
    let Some(dev) = hopper("cuda_conv_v7_pipelines_give_the_same_bits_and_the_pick_is_kept") else {
        return;
    };
    let d = dev.cuda().unwrap();
    let s = ConvSpec::new(2, 8, 8, 64, 64, 3, 1, 1);
    let mut xb = vec![0u16; s.x_len()];
    let mut wb = vec![0u16; s.w_len()];
    cast_bf16_f32(&mut xb, &uniform_f32(s.x_len(), -1.0, 1.0, 91));
    cast_bf16_f32(&mut wb, &uniform_f32(s.w_len(), -1.0, 1.0, 92));
    let (x, w) = (d.upload(&xb).unwrap(), d.upload(&wb).unwrap());
    let run = |pipe: Option<Pipe>| {
        let mut y = d.upload(&vec![f32::NAN; s.y_len()]).unwrap();
        match pipe {
            Some(p) => conv_fwd_v7_pipe(d, p, &mut y, &x, &w, &s).unwrap(),
            None => conv_fwd_v7(d, &mut y, &x, &w, &s).unwrap(),
        }
        d.download(&y).unwrap()
    };
    let (k64, k32) = (run(Some(Pipe::K64S4)), run(Some(Pipe::K32S5)));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(
        k64.iter().all(|v| v.is_finite()),
        "k64s4 left outputs unwritten"
    );
    assert_eq!(bits(&k64), bits(&k32), "the two v7 pipelines differ");
    assert_eq!(bits(&run(None)), bits(&k32), "the picked pipeline differs");
    let bf16 = ipdpp::device::cuda::conv_tc::ConvPrecision::Bf16;
    let picked = pipe_used(d, "fwd", false, &s, bf16).expect("a pick after the first launch");
    let n = tune::choices(d).unwrap().len();
    run(None);
    assert_eq!(
        tune::choices(d).unwrap().len(),
        n,
        "the shape was tuned twice"
    );
    assert_eq!(pipe_used(d, "fwd", false, &s, bf16), Some(picked));
    // At 128 output columns, the tiles of 256 rows too (the same k-steps per output: the same bits), in
    // bf16 and tf32.
    let s2 = ConvSpec::new(3, 8, 8, 64, 128, 3, 1, 1);
    let x32 = d.upload(&uniform_f32(s2.x_len(), -1.0, 1.0, 93)).unwrap();
    let w32 = d.upload(&uniform_f32(s2.w_len(), -1.0, 1.0, 94)).unwrap();
    let (mut xb2, mut wb2) = (vec![0u16; s2.x_len()], vec![0u16; s2.w_len()]);
    cast_bf16_f32(&mut xb2, &d.download(&x32).unwrap());
    cast_bf16_f32(&mut wb2, &d.download(&w32).unwrap());
    let (xb2, wb2) = (d.upload(&xb2).unwrap(), d.upload(&wb2).unwrap());
    for tf32 in [false, true] {
        let mut outs = Vec::new();
        for p in Pipe::ALL {
            let mut y = d.upload(&vec![f32::NAN; s2.y_len()]).unwrap();
            if tf32 {
                conv_fwd_v7_pipe(d, p, &mut y, &x32, &w32, &s2).unwrap();
            } else {
                conv_fwd_v7_pipe(d, p, &mut y, &xb2, &wb2, &s2).unwrap();
            }
            outs.push(bits(&d.download(&y).unwrap()));
        }
        for (p, o) in Pipe::ALL.iter().zip(&outs) {
            assert_eq!(o, &outs[1], "tf32 {tf32}: {p:?} differs from k32s5");
        }
        assert!(
            outs[3].iter().all(|&b| f32::from_bits(b).is_finite()),
            "m256 left outputs unwritten"
        );
    }
}

/// The halo pipelines (v7's stride-1 3x3 forward and grad-input with the A window resident, written
/// without a GPU on 2026-11-28) against k64s4, bit for bit: the same k-steps in the same order. Forward and
/// grad-input (stored, added, bf16), bf16 and tf32, at shapes with padded rows inside and across blocks
/// (images smaller than a block, W + 2 not dividing 128, a last partial block) and 64 / 128 columns; the
/// forward with statistics through two views against the k64s4 partials' totals.
#[test]
fn cuda_conv_v7_halo_gives_the_other_pipelines_bits() {
    use ipdpp::device::cpu::conv::ConvSpec;
    use ipdpp::device::cuda::conv_tc6::BnPartials;
    use ipdpp::device::cuda::conv_wgmma::{
        conv_bwd_input_v7_pipe, conv_fwd_v7_pipe, conv_fwd_v7_stats_pipe, conv_weight_t_bf16,
        conv_weight_t_f32, Pipe,
    };
    let Some(dev) = hopper("cuda_conv_v7_halo_gives_the_other_pipelines_bits") else {
        return;
    };
    let d = dev.cuda().unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut fails = Vec::new();
    for (i, &(n, h, w, c, o)) in [
        (3, 8, 8, 64, 128),
        (2, 6, 10, 64, 64),
        (4, 4, 4, 128, 64),
        (2, 16, 16, 64, 64),
        // Views of 384 rows that split an image: the statistics fall back to k64s4's epilogue.
        (3, 16, 16, 64, 64),
        // Six tiles a view: two chunks of the statistics' combine, the second short.
        (4, 16, 16, 64, 64),
    ]
    .iter()
    .enumerate()
    {
        let s = ConvSpec::new(n, h, w, c, o, 3, 1, 1);
        let x32 = uniform_f32(s.x_len(), -1.0, 1.0, 300 + i as u64);
        let w32 = uniform_f32(s.w_len(), -1.0, 1.0, 310 + i as u64);
        let gy32 = uniform_f32(s.y_len(), -1.0, 1.0, 320 + i as u64);
        let gx0 = uniform_f32(s.x_len(), -1.0, 1.0, 330 + i as u64);
        let b16 = |v: &[f32]| {
            let mut b = vec![0u16; v.len()];
            cast_bf16_f32(&mut b, v);
            d.upload(&b).unwrap()
        };
        for tf32 in [false, true] {
            let tag = format!("{s:?} tf32 {tf32}");
            let fwd = |p: Pipe| -> Vec<f32> {
                let mut y = d.upload(&vec![f32::NAN; s.y_len()]).unwrap();
                if tf32 {
                    let (x, w) = (d.upload(&x32).unwrap(), d.upload(&w32).unwrap());
                    conv_fwd_v7_pipe(d, p, &mut y, &x, &w, &s).unwrap();
                } else {
                    conv_fwd_v7_pipe(d, p, &mut y, &b16(&x32), &b16(&w32), &s).unwrap();
                }
                d.download(&y).unwrap()
            };
            // gx (fp32; add: onto gx0), or bf16 bits widened (out16).
            let gx = |p: Pipe, add: bool, out16: bool| -> Vec<f32> {
                if tf32 {
                    let (gy, w) = (d.upload(&gy32).unwrap(), d.upload(&w32).unwrap());
                    let mut wt = d.zeros::<f32>(s.w_len()).unwrap();
                    conv_weight_t_f32(d, &mut wt, &w, &s).unwrap();
                    let mut g = d.upload(&gx0).unwrap();
                    conv_bwd_input_v7_pipe(d, p, &mut g, &gy, &wt, &s, add).unwrap();
                    return d.download(&g).unwrap();
                }
                let (gy, w) = (b16(&gy32), b16(&w32));
                let mut wt = d.zeros::<u16>(s.w_len()).unwrap();
                conv_weight_t_bf16(d, &mut wt, &w, &s).unwrap();
                if out16 {
                    let mut g = d.upload(&vec![0xFFFFu16; s.x_len()]).unwrap();
                    conv_bwd_input_v7_pipe(d, p, &mut g, &gy, &wt, &s, false).unwrap();
                    return d
                        .download(&g)
                        .unwrap()
                        .iter()
                        .map(|&b| f32::from_bits((b as u32) << 16))
                        .collect();
                }
                let mut g = d.upload(&gx0).unwrap();
                conv_bwd_input_v7_pipe(d, p, &mut g, &gy, &wt, &s, add).unwrap();
                d.download(&g).unwrap()
            };
            let want = fwd(Pipe::K64S4);
            if !want.iter().all(|v| v.is_finite()) {
                fails.push(format!("{tag}: k64s4 left outputs unwritten"));
            }
            let mut cases = vec![(false, false)];
            cases.push((true, false));
            if !tf32 {
                cases.push((false, true));
            }
            for p in [Pipe::Halo, Pipe::HaloM256] {
                if bits(&fwd(p)) != bits(&want) {
                    fails.push(format!("{tag}: forward {p:?} differs from k64s4"));
                }
                for &(add, out16) in &cases {
                    if bits(&gx(p, add, out16)) != bits(&gx(Pipe::K64S4, add, out16)) {
                        fails.push(format!(
                            "{tag}: grad-input {p:?} (add {add}, bf16 {out16}) differs from k64s4"
                        ));
                    }
                }
            }
            // Statistics over two views: y bit for bit, and each view's total (sum, sum of squares about
            // the view mean) from the partials as k64s4's within 1e-5.
            let groups = 2;
            if (n * h * w) % groups != 0 || (n * h * w / groups) % 128 != 0 {
                continue;
            }
            let stats = |p: Pipe| -> (Vec<f32>, Vec<f32>) {
                let mut y = d.upload(&vec![f32::NAN; s.y_len()]).unwrap();
                let mut parts = BnPartials::default();
                let fresh = if tf32 {
                    let (x, w) = (d.upload(&x32).unwrap(), d.upload(&w32).unwrap());
                    conv_fwd_v7_stats_pipe(d, p, &mut y, &x, &w, &s, groups, &mut parts).unwrap()
                } else {
                    let (x, w) = (b16(&x32), b16(&w32));
                    conv_fwd_v7_stats_pipe(d, p, &mut y, &x, &w, &s, groups, &mut parts).unwrap()
                };
                assert!(fresh, "{tag} {p:?}: partials not written");
                let mut tot = Vec::new();
                for g in 0..groups {
                    let b = parts.group(g, groups).expect("fresh partials of a view");
                    let (sa, ma) = (d.download(b.sum).unwrap(), d.download(b.m2).unwrap());
                    let sm = &sa[b.first * o..(b.first + b.count) * o];
                    let m2 = &ma[b.first * o..(b.first + b.count) * o];
                    let rows = b.block_rows as f64;
                    for ch in 0..o {
                        let sums: Vec<f64> = (0..b.count).map(|k| sm[k * o + ch] as f64).collect();
                        let total: f64 = sums.iter().sum();
                        let mean = total / (rows * sums.len() as f64);
                        let q: f64 = (0..sums.len())
                            .map(|k| m2[k * o + ch] as f64 + rows * (sums[k] / rows - mean).powi(2))
                            .sum();
                        tot.push(total as f32);
                        tot.push(q as f32);
                    }
                }
                (d.download(&y).unwrap(), tot)
            };
            let (y0, t0) = stats(Pipe::K64S4);
            for p in [Pipe::Halo, Pipe::HaloM256] {
                let (y1, t1) = stats(p);
                if bits(&y1) != bits(&y0) {
                    fails.push(format!("{tag}: {p:?} y of the statistics forward differs"));
                }
                let e = ipdpp::bench::rel_err(&t1, &t0);
                println!("{tag} {p:?}: view totals rel err {e:.2e}");
                if e.is_nan() || e > 1e-5 {
                    fails.push(format!("{tag}: {p:?} view totals rel err {e:.2e} > 1e-5"));
                }
            }
        }
    }
    assert!(
        fails.is_empty(),
        "{}",
        fails.join(
            "
"
        )
    );
}
