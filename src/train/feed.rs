//! Batches for the training loops. On the CPU a prefetching loader augments the next batches on a
//! background thread; on CUDA the data set is uploaded once (u8) and every batch is augmented on the GPU
//! (kernels/augment.cu), so images never cross the bus during training: only the batch's indices do.
use crate::data::augment::{Augment, OUT_FLOATS};
use crate::data::augment_cuda::{augment_batch_cuda, GpuDataset};
use crate::data::loader::{batch_items, Loader};
use crate::data::Dataset;
use crate::device::cuda::CudaDevice;
use crate::device::{Buffer, Device};
use crate::error::Result;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Feeder {
    pub ds: Arc<Dataset>,
    gpu: Option<(Arc<CudaDevice>, GpuDataset)>,
}

/// One batch on the device: `views` blocks of `indices.len()` NHWC images (view 0 first).
pub struct Fed {
    pub indices: Vec<usize>,
    pub labels: Vec<u32>,
    pub images: Buffer,
}

impl Feeder {
    pub fn new(dev: &Device, ds: Dataset) -> Result<Self> {
        let gpu = match dev {
            Device::Cuda(d) => Some((Arc::clone(d), GpuDataset::upload(d, &ds)?)),
            Device::Cpu => None,
        };
        Ok(Feeder {
            ds: Arc::new(ds),
            gpu,
        })
    }

    pub fn len(&self) -> usize {
        self.ds.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ds.is_empty()
    }

    /// The augmented batches of one epoch, in order.
    pub fn epoch(
        &self,
        batches: Vec<Vec<usize>>,
        aug: Augment,
        views: usize,
        seed: u64,
        epoch: u32,
    ) -> Result<FeedIter<'_>> {
        Ok(match &self.gpu {
            None => FeedIter::Cpu(Loader::new(
                Arc::clone(&self.ds),
                batches,
                aug,
                views,
                seed,
                epoch,
                2,
            )?),
            Some((dev, data)) => FeedIter::Cuda {
                dev,
                data,
                ds: &self.ds,
                batches: batches.into_iter(),
                aug,
                views,
                seed,
                epoch,
                seen: HashMap::new(),
            },
        })
    }
}

pub enum FeedIter<'a> {
    Cpu(Loader),
    Cuda {
        dev: &'a Arc<CudaDevice>,
        data: &'a GpuDataset,
        ds: &'a Dataset,
        batches: std::vec::IntoIter<Vec<usize>>,
        aug: Augment,
        views: usize,
        seed: u64,
        epoch: u32,
        seen: HashMap<usize, u32>,
    },
}

impl Iterator for FeedIter<'_> {
    type Item = Result<Fed>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            FeedIter::Cpu(l) => l.next().map(|r| {
                r.map(|b| Fed {
                    labels: b.labels,
                    indices: b.indices,
                    images: Buffer::Cpu(b.images),
                })
            }),
            FeedIter::Cuda {
                dev,
                data,
                ds,
                batches,
                aug,
                views,
                seed,
                epoch,
                seen,
            } => {
                let b = batches.next()?;
                let items: Vec<_> = batch_items(&b, *views, seen)
                    .into_iter()
                    .flatten()
                    .collect();
                let r = (|| {
                    let mut out = dev.zeros::<f32>(items.len() * OUT_FLOATS)?;
                    augment_batch_cuda(dev, data, &items, aug, *seed, *epoch, &mut out)?;
                    Ok(Fed {
                        labels: b.iter().map(|&i| ds.labels[i]).collect(),
                        indices: b,
                        images: Buffer::Cuda(out),
                    })
                })();
                Some(r)
            }
        }
    }
}

/// Batches of `batch` consecutive indices of `idx` (evaluation order; the last one may be short).
pub fn in_order(idx: &[usize], batch: usize) -> Vec<Vec<usize>> {
    idx.chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
}
