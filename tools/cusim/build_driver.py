#!/usr/bin/env python3
"""Builds the fake CUDA driver (fake_driver.cpp -> libcuda.so.1) and one simulator library per kernel file
(libk_<file>.so) into target/cusim/driver, so that the engine's CUDA path runs on the CPU:

    python3 tools/cusim/build_driver.py [--only wgmma,conv_wgmma]      # kernel files by name (default: all)
    LD_LIBRARY_PATH=target/cusim/driver cargo test --release --test it cuda_      # the GPU tests, simulated

Rebuilds only what changed (a source hash per output). Prints the directory.
"""
import concurrent.futures
import fcntl
import glob
import hashlib
import os
import subprocess
import sys

import cusim

OUT = os.path.join(cusim.CACHE, "driver")


def stamp_ok(out, key):
    return os.path.exists(out) and os.path.exists(out + ".key") and open(out + ".key").read() == key


def build_kernel(path):
    out = os.path.join(OUT, f"libk_{os.path.splitext(os.path.basename(path))[0]}.so")
    src = cusim._inline_includes(path, set())
    key = hashlib.sha256((src + open(os.path.join(cusim.HERE, "cusim.h")).read() + open(cusim.__file__).read()).encode()).hexdigest()
    if stamp_ok(out, key):
        return f"up to date {os.path.basename(out)}"
    # One builder per library across processes (tests run in parallel and share the directory): the
    # second waits for the first and finds the library up to date, instead of compiling it again.
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp_ok(out, key):
            return f"up to date {os.path.basename(out)}"
        cusim.build_library(path, out)
        open(out + ".key", "w").write(key)
    return f"built      {os.path.basename(out)}"


def build_driver():
    src = os.path.join(cusim.HERE, "fake_driver.cpp")
    out = os.path.join(OUT, "libcuda.so.1")
    key = hashlib.sha256(open(src).read().encode()).hexdigest()
    with open(out + ".lock", "w") as lock:  # as build_kernel: one builder across processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp_ok(out, key):
            tmp = f"{out}.{os.getpid()}.tmp"
            subprocess.run(["g++", "-std=c++17", "-O1", "-g", "-fPIC", "-shared", "-fvisibility=hidden", src, "-o", tmp,
                            "-ldl"], check=True)
            os.replace(tmp, out)
            open(out + ".key", "w").write(key)
        link = os.path.join(OUT, "libcuda.so")
        if not os.path.lexists(link):
            os.symlink("libcuda.so.1", link)
    return "driver     libcuda.so.1"


def main():
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    os.makedirs(OUT, exist_ok=True)
    files = sorted(glob.glob(os.path.join(cusim.ROOT, "kernels", "*.cu")))
    if only:
        files = [f for f in files if os.path.splitext(os.path.basename(f))[0] in only]
    print(build_driver(), flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        for line in ex.map(build_kernel, files):
            print(line, flush=True)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
