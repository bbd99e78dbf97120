//! Work splits sized by waves: a kernel whose blocks all take about as long finishes after
//! ⌈blocks / resident⌉ waves, so a split that leaves a last wave of a few blocks wastes most of the GPU
//! for one block's time. Used where a launch splits a reduction over grid.z or grid.y (the BNS column
//! splits, the grad-weight pixel splits).
use super::CudaDevice;
use cudarc::driver::CudaFunction;

/// `IPDPP_SPLIT_WAVES=0` brings back the splits of before (about 4 blocks per SM, waves ignored), for A/B
/// runs on a GPU; read once.
pub fn by_waves() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_SPLIT_WAVES").map_or(true, |v| v.trim() != "0"))
}

/// The blocks of `f` (`threads` threads, `smem` bytes of dynamic shared memory) the GPU holds at once: SMs
/// × the driver's occupancy (one per SM where the driver cannot say).
pub fn resident_blocks(dev: &CudaDevice, f: &CudaFunction, threads: u32, smem: usize) -> usize {
    let per_sm = f
        .occupancy_max_active_blocks_per_multiprocessor(threads, smem, None)
        .unwrap_or(1)
        .max(1) as usize;
    dev.sms.max(1) as usize * per_sm
}

/// How many splits, and units per split, of `units` units of work (column tiles, pixel k-tiles) for each of
/// `outputs` output blocks finish first when `resident` blocks run at once and a block costs `overhead`
/// units besides its share (its prologue and the atomics that add its partial result): the least
/// ⌈outputs · splits / resident⌉ · (units per split + overhead), fewer blocks on a tie. For a given
/// number of waves the largest split count that keeps it is best, so only those are tried.
pub fn split_plan(
    outputs: usize,
    units: usize,
    resident: usize,
    overhead: usize,
) -> (usize, usize) {
    let (ob, units, resident) = (outputs.max(1), units.max(1), resident.max(1));
    let cost = |s: usize| {
        let per = units.div_ceil(s);
        let splits = units.div_ceil(per);
        (
            (ob * splits).div_ceil(resident) * (per + overhead),
            splits,
            per,
        )
    };
    let most_waves = (ob * units).div_ceil(resident).min(4096);
    let mut best = cost(1);
    for s in (1..=most_waves)
        .map(|k| (k * resident / ob).clamp(1, units))
        .chain([units])
    {
        let c = cost(s);
        if c.0 < best.0 || (c.0 == best.0 && c.1 < best.1) {
            best = c;
        }
    }
    (best.1, best.2)
}

/// [`split_plan`] for outputs of uneven work: output i's `units[i]` units cut into items of at most `per`
/// units (⌈units[i] / per⌉ items each): the `per` with the least ⌈items / resident⌉ · (per + overhead),
/// fewer items on a tie. Returns (items, per). (BNS v7: the rows of a triangle.)
pub fn uneven_split_plan(units: &[usize], resident: usize, overhead: usize) -> (usize, usize) {
    let resident = resident.max(1);
    let most = units.iter().copied().max().unwrap_or(1).max(1);
    let items = |per: usize| units.iter().map(|u| u.max(&1).div_ceil(per)).sum::<usize>();
    let mut best = (usize::MAX, 0, 0);
    // Each candidate costs one pass over the outputs; beyond 512 units an item, only the whole row.
    for per in (1..=most.min(512)).chain([most]) {
        let k = items(per);
        let cost = k.div_ceil(resident) * (per + overhead);
        if cost < best.0 || (cost == best.0 && k < best.1) {
            best = (cost, k, per);
        }
    }
    (best.1, best.2)
}
