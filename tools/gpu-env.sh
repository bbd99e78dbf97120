#!/usr/bin/env bash
# Sourced by .gpu/run.sh and .gpu/pipeline.sh on the GPU machine: libraries and carried data.

# CIFAR-10-LT JPEGs (packed by gpu-bundle.sh).
[ -f .gpu/cifar10lt-jpeg.tar.gz ] && [ ! -d /tmp/cifar10lt-jpeg ] && tar -xzf .gpu/cifar10lt-jpeg.tar.gz -C /tmp
# PTX compiled by gpu-bundle.sh (cache hits when the NVRTC versions agree).
if [ -f .gpu/ptx-cache.tar.xz ]; then
  mkdir -p "${IPDPP_CACHE_DIR:-/tmp/ipdpp-ptx-cache}" && tar -xJf .gpu/ptx-cache.tar.xz -C "${IPDPP_CACHE_DIR:-/tmp/ipdpp-ptx-cache}"
fi
# The image has no OpenBLAS/LAPACKE (carried, see gpu-bundle.sh).
if [ -f .gpu/libs.tar.xz ]; then
  mkdir -p /tmp/ipdpp-lib && tar -xJf .gpu/libs.tar.xz -C /tmp/ipdpp-lib
fi
# cuBLAS may sit in the CUDA tree or in PyTorch's wheels.
CUBLAS_DIR=$(dirname "$(ls /usr/local/cuda/lib64/libcublas.so* /usr/local/cuda/targets/*/lib/libcublas.so* \
  $(python3 -c 'import nvidia,os;print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia/*/lib/libcublas.so* \
  2>/dev/null | sed -n 1p)" 2>/dev/null)
[ "$CUBLAS_DIR" = . ] && CUBLAS_DIR=
export LD_LIBRARY_PATH=/tmp/ipdpp-lib:${CUBLAS_DIR:-/usr/local/cuda/lib64}:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
# cuDNN (`bench conv --versions cudnn`, the library line) likewise; last, so it shadows nothing.
CUDNN_DIR=$(dirname "$(ls /usr/local/cuda/lib64/libcudnn.so.9 /usr/lib/x86_64-linux-gnu/libcudnn.so.9 \
  $(python3 -c 'import nvidia,os;print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)/nvidia/cudnn/lib/libcudnn.so.9 \
  2>/dev/null | sed -n 1p)" 2>/dev/null)
[ "$CUDNN_DIR" = . ] && CUDNN_DIR=
[ -n "$CUDNN_DIR" ] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$CUDNN_DIR
# The driver's cache of machine code compiled from PTX (kernels --load fills it): room for every file.
export CUDA_CACHE_MAXSIZE=${CUDA_CACHE_MAXSIZE:-4294967296}
