//! Launchers of kernels/augment.cu: the u8 data set resident on the GPU, augmented f32 NHWC batches
//! written there directly. The CPU reference of each kernel is in [`super::augment`]; both draw their
//! random parameters from the same Philox counters.
use super::augment::{Augment, Item, SimclrConfig, SimclrParams, OUT_FLOATS};
use super::Dataset;
use crate::device::cuda::{check_len, launch_err, CudaDevice};
use crate::error::{Error, Result};
use crate::rng::seed_key;
use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits};

/// Element type of an augmented batch: f32, or bf16 for the mixed-precision path (rounded to nearest
/// even, as `half::bf16::from_f32` does on the CPU).
pub trait AugOut: DeviceRepr {
    /// Suffix of the kernel instantiation (`simclr_apply_f32`, `simclr_apply_bf16`, ...).
    const SUFFIX: &'static str;
}
impl AugOut for f32 {
    const SUFFIX: &'static str = "f32";
}
impl AugOut for Bf16 {
    const SUFFIX: &'static str = "bf16";
}

/// A bf16 on the device (`__nv_bfloat16`): the raw bits, convertible to and from `half::bf16` on the
/// host (cudarc implements its device traits for `half` only behind a feature this build leaves off).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bf16(pub u16);

// SAFETY: a transparent 16-bit word, the layout of __nv_bfloat16; all-zero bits are +0.0.
unsafe impl DeviceRepr for Bf16 {}
unsafe impl ValidAsZeroBits for Bf16 {}

impl From<Bf16> for half::bf16 {
    fn from(v: Bf16) -> Self {
        half::bf16::from_bits(v.0)
    }
}

// SAFETY: SimclrParams is #[repr(C)], 12 plain 32-bit words, the layout of `struct SimclrParams` in
// augment.cu; all-zero bits are a valid value.
unsafe impl DeviceRepr for SimclrParams {}
unsafe impl ValidAsZeroBits for SimclrParams {}

/// The kernel's view of [`SimclrConfig`] (`struct SimclrCfg` in augment.cu): logs computed here.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SimclrCfgDev {
    pub scale_lo: f64,
    pub scale_hi: f64,
    pub log_ratio_lo: f64,
    pub log_ratio_hi: f64,
    pub ratio_lo: f64,
    pub ratio_hi: f64,
    pub factor_lo: f32,
    pub factor_hi: f32,
    pub hue_max: f32,
    pub p_flip: f32,
    pub p_jitter: f32,
    pub p_gray: f32,
    pub sigma_lo: f32,
    pub sigma_hi: f32,
}

// SAFETY: #[repr(C)], six f64 then eight f32 (80 bytes, 8-aligned), the layout of `struct SimclrCfg`.
unsafe impl DeviceRepr for SimclrCfgDev {}

impl From<&SimclrConfig> for SimclrCfgDev {
    fn from(c: &SimclrConfig) -> Self {
        let (flo, fhi) = c.factor_range();
        SimclrCfgDev {
            scale_lo: c.scale.0,
            scale_hi: c.scale.1,
            log_ratio_lo: c.ratio.0.ln(),
            log_ratio_hi: c.ratio.1.ln(),
            ratio_lo: c.ratio.0,
            ratio_hi: c.ratio.1,
            factor_lo: flo,
            factor_hi: fhi,
            hue_max: c.hue_max(),
            p_flip: c.p_flip,
            p_jitter: c.p_jitter,
            p_gray: c.p_gray,
            sigma_lo: c.sigma.0,
            sigma_hi: c.sigma.1,
        }
    }
}

/// A data set resident on the GPU as u8 (CIFAR layout) with its labels.
pub struct GpuDataset {
    pub images: CudaSlice<u8>,
    pub labels: CudaSlice<u32>,
    pub len: usize,
}

impl GpuDataset {
    pub fn upload(dev: &CudaDevice, ds: &Dataset) -> Result<Self> {
        if ds.is_empty() {
            return Err(Error::usage("cannot upload an empty data set to the GPU"));
        }
        Ok(GpuDataset {
            images: dev.upload(&ds.images)?,
            labels: dev.upload(&ds.labels)?,
            len: ds.len(),
        })
    }
}

/// Items as (index, view) u32 pairs, checked against the data set size (the kernels index with them).
pub fn upload_items(dev: &CudaDevice, data: &GpuDataset, items: &[Item]) -> Result<CudaSlice<u32>> {
    if items.is_empty() {
        return Err(Error::usage(
            "an augmentation batch needs at least one image",
        ));
    }
    if items.len() > u32::MAX as usize / 2 {
        return Err(Error::usage("augmentation batch too large"));
    }
    if let Some(bad) = items.iter().find(|it| it.index as usize >= data.len) {
        return Err(Error::usage(format!(
            "image index {} is out of range: the data set on the GPU has {} images",
            bad.index, data.len
        )));
    }
    let flat: Vec<u32> = items.iter().flat_map(|it| [it.index, it.view]).collect();
    dev.upload(&flat)
}

const BLOCK: u32 = 256;

fn grid(dev: &CudaDevice, threads: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (dev.grid_for(threads, BLOCK), 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Draws the SimCLR parameters of `n` items on the GPU.
pub fn simclr_params_cuda(
    dev: &CudaDevice,
    items: &CudaSlice<u32>,
    n: usize,
    cfg: &SimclrConfig,
    seed: u64,
    epoch: u32,
) -> Result<CudaSlice<SimclrParams>> {
    cfg.validate()?;
    check_len("simclr_params items", items.len(), 2 * n)?;
    let mut out = dev.zeros::<SimclrParams>(n)?;
    let f = dev.function("augment", "simclr_params")?;
    let c = SimclrCfgDev::from(cfg);
    let [k0, k1] = seed_key(seed);
    let n32 = n as u32;
    // SAFETY: simclr_params(SimclrParams* out, const u32* items, u32 n, SimclrCfg cfg, u32 k0, u32 k1,
    // u32 epoch): out holds n params, items 2n words; SimclrCfgDev has the kernel struct's layout.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut out)
            .arg(items)
            .arg(&n32)
            .arg(&c)
            .arg(&k0)
            .arg(&k1)
            .arg(&epoch)
            .launch(grid(dev, n))
    }
    .map_err(launch_err("simclr_params"))?;
    Ok(out)
}

/// Applies SimCLR parameters to `n` items, writing n × 32 × 32 × 3 floats (NHWC) into `out`.
pub fn simclr_apply_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    data: &GpuDataset,
    items: &CudaSlice<u32>,
    params: &CudaSlice<SimclrParams>,
    n: usize,
) -> Result<()> {
    simclr_apply(dev, out, data, items, params, n)
}

/// [`simclr_apply_f32`] for any output element type (f32 or bf16).
pub fn simclr_apply<T: AugOut>(
    dev: &CudaDevice,
    out: &mut CudaSlice<T>,
    data: &GpuDataset,
    items: &CudaSlice<u32>,
    params: &CudaSlice<SimclrParams>,
    n: usize,
) -> Result<()> {
    let name = format!("simclr_apply_{}", T::SUFFIX);
    check_len(&name, out.len(), n * OUT_FLOATS)?;
    check_len(&name, items.len(), 2 * n)?;
    check_len(&name, params.len(), n)?;
    let f = dev.function("augment", &name)?;
    let n32 = n as u32;
    let cfg = LaunchConfig {
        grid_dim: ((n as u32).min(dev.sms.max(1) as u32 * 8).max(1), 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: simclr_apply_f32(float* out, const u8* data, const u32* items, const SimclrParams* params,
    // u32 n): out holds n*3072 floats, items 2n words whose indices were checked against data's size
    // (upload_items), params n entries; the block size 256 is a multiple of 32 (block_sum_f32).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(&data.images)
            .arg(items)
            .arg(params)
            .arg(&n32)
            .launch(cfg)
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// Pad-4 crop + flip of `n` items into `out`.
pub fn padcrop_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    data: &GpuDataset,
    items: &CudaSlice<u32>,
    n: usize,
    seed: u64,
    epoch: u32,
) -> Result<()> {
    padcrop(dev, out, data, items, n, seed, epoch)
}

/// [`padcrop_f32`] for any output element type.
pub fn padcrop<T: AugOut>(
    dev: &CudaDevice,
    out: &mut CudaSlice<T>,
    data: &GpuDataset,
    items: &CudaSlice<u32>,
    n: usize,
    seed: u64,
    epoch: u32,
) -> Result<()> {
    let name = format!("padcrop_{}", T::SUFFIX);
    check_len(&name, out.len(), n * OUT_FLOATS)?;
    check_len(&name, items.len(), 2 * n)?;
    let f = dev.function("augment", &name)?;
    let [k0, k1] = seed_key(seed);
    let n32 = n as u32;
    // SAFETY: padcrop_f32(float* out, const u8* data, const u32* items, u32 n, u32 k0, u32 k1, u32 epoch):
    // out holds n*3072 floats, items 2n words with checked indices.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(&data.images)
            .arg(items)
            .arg(&n32)
            .arg(&k0)
            .arg(&k1)
            .arg(&epoch)
            .launch(grid(dev, n * 1024))
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// The clean view of `n` items into `out`.
pub fn clean_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    data: &GpuDataset,
    items: &CudaSlice<u32>,
    n: usize,
) -> Result<()> {
    clean(dev, out, data, items, n)
}

/// [`clean_f32`] for any output element type.
pub fn clean<T: AugOut>(
    dev: &CudaDevice,
    out: &mut CudaSlice<T>,
    data: &GpuDataset,
    items: &CudaSlice<u32>,
    n: usize,
) -> Result<()> {
    let name = format!("clean_{}", T::SUFFIX);
    check_len(&name, out.len(), n * OUT_FLOATS)?;
    check_len(&name, items.len(), 2 * n)?;
    let f = dev.function("augment", &name)?;
    let n32 = n as u32;
    // SAFETY: clean_f32(float* out, const u8* data, const u32* items, u32 n): out holds n*3072 floats,
    // items 2n words with checked indices.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(&data.images)
            .arg(items)
            .arg(&n32)
            .launch(grid(dev, n * 1024))
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// The GPU counterpart of [`super::augment::augment_batch`]: `out` gets items.len() NHWC images.
pub fn augment_batch_cuda<T: AugOut>(
    dev: &CudaDevice,
    data: &GpuDataset,
    items: &[Item],
    aug: &Augment,
    seed: u64,
    epoch: u32,
    out: &mut CudaSlice<T>,
) -> Result<()> {
    let d_items = upload_items(dev, data, items)?;
    let n = items.len();
    match aug {
        Augment::None => clean(dev, out, data, &d_items, n),
        Augment::PadCropFlip => padcrop(dev, out, data, &d_items, n, seed, epoch),
        Augment::Simclr(cfg) => {
            let params = simclr_params_cuda(dev, &d_items, n, cfg, seed, epoch)?;
            simclr_apply(dev, out, data, &d_items, &params, n)
        }
    }
}
