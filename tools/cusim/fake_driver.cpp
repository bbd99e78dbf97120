// A stand-in for libcuda.so.1 that runs every kernel launch through cusim (tools/cusim/cusim.h) on the CPU,
// so that the engine's CUDA path (cudarc, the Rust launchers, NVRTC compilation, the kernels) runs end to end
// on a machine without a GPU. It reports one "cusim H100 (sm_90, CPU simulation)" device. Device memory is
// host memory; streams are synchronous; events carry host timestamps. Kernels come from the per-file
// libraries that tools/cusim/build_driver.py builds next to this library (libk_<file>.so).
//
// Only the driver calls the engine makes are implemented; any other symbol is missing, which cudarc reports
// by name. A kernel fault (out-of-bounds shared access, deadlock, __trap) ends the process with cusim's
// message, as a GPU fault ends a CUDA context.
#include <dirent.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
enum { OK = 0, ERR_INVALID_VALUE = 1, ERR_OUT_OF_MEMORY = 2, ERR_NOT_FOUND = 500, ERR_INVALID_HANDLE = 400 };

namespace {

struct Lib {
    void* handle;
    int (*launch)(const char*, const unsigned*, const unsigned*, unsigned, void**, int);
    std::set<std::string> names;
};
struct Function {
    std::string name;
    Lib* lib;
    int max_dyn_smem = 48 * 1024;
};
struct Module {
    std::set<std::string> entries;
    std::map<std::string, Function*> functions;  // one handle per entry, as the driver gives out
};
struct Event {
    double t = 0;
};

std::recursive_mutex mu;
std::vector<Lib*> libs;
std::map<unsigned char*, size_t> allocs;
size_t used = 0;
const size_t TOTAL = size_t(16) << 30;
int ctx_token = 1;
int policy = 2;
// Counted for the report at exit under policy flag 1024: what a GPU run would wait on or pay for per step.
unsigned long long launches = 0, allocs_n = 0, htod = 0, dtoh = 0, syncs = 0, ctx_syncs = 0, stream_syncs = 0, event_syncs = 0, async_allocs = 0;
struct LaunchReport {
    ~LaunchReport() {
        if (policy & 1024)
            std::fprintf(stderr,
                         "cusim driver: %llu launches (not run: policy flag 1024), %llu allocations, %llu host-to-device "
                         "and %llu device-to-host copies, %llu synchronisations (context %llu, stream %llu, event %llu), %llu of the "
                         "allocations stream-ordered\n",
                         launches, allocs_n, htod, dtoh, syncs, ctx_syncs, stream_syncs, event_syncs, async_allocs);
    }
} launch_report;

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool global_ok(const void* p, size_t bytes) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    auto it = allocs.upper_bound(const_cast<unsigned char*>(c));
    if (it == allocs.begin()) return false;
    --it;
    return c >= it->first && c + bytes <= it->first + it->second;
}

void load_libs() {
    if (!libs.empty()) return;
    Dl_info info;
    dladdr(reinterpret_cast<void*>(&load_libs), &info);
    std::string dir = info.dli_fname;
    dir = dir.substr(0, dir.rfind('/'));
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.rfind("libk_", 0) != 0 || n.size() < 3 || n.substr(n.size() - 3) != ".so") continue;
        void* h = dlopen((dir + "/" + n).c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            std::fprintf(stderr, "cusim driver: cannot load %s: %s\n", n.c_str(), dlerror());
            continue;
        }
        Lib* l = new Lib{h, reinterpret_cast<decltype(Lib::launch)>(dlsym(h, "cusim_launch")), {}};
        auto names = reinterpret_cast<const char* (*)()>(dlsym(h, "cusim_names"));
        auto set_check = reinterpret_cast<void (*)(bool (*)(const void*, size_t))>(dlsym(h, "cusim_set_global_check"));
        if (!l->launch || !names || !set_check) continue;
        set_check(global_ok);
        std::string all = names();
        size_t at = 0;
        while (at < all.size()) {
            size_t end = all.find('\n', at);
            if (end == std::string::npos) end = all.size();
            if (end > at) l->names.insert(all.substr(at, end - at));
            at = end + 1;
        }
        libs.push_back(l);
    }
    closedir(d);
    if (const char* p = std::getenv("CUSIM_POLICY")) policy = std::atoi(p);
}

}  // namespace

#define API extern "C" __attribute__((visibility("default"))) CUresult

API cuInit(unsigned) {
    std::lock_guard<std::recursive_mutex> l(mu);
    load_libs();
    return OK;
}
API cuDriverGetVersion(int* v) { *v = 13000; return OK; }
API cuDeviceGetCount(int* n) { *n = 1; return OK; }
API cuDeviceGet(CUdevice* d, int ordinal) { if (ordinal != 0) return ERR_INVALID_VALUE; *d = 0; return OK; }
API cuDeviceGetName(char* name, int len, CUdevice) {
    std::snprintf(name, len, "cusim H100 (sm_90, CPU simulation)");
    return OK;
}
API cuDeviceTotalMem_v2(size_t* b, CUdevice) { *b = TOTAL; return OK; }
API cuDeviceGetAttribute(int* v, int attr, CUdevice) {
    switch (attr) {
        case 75: *v = 9; break;                 // compute capability 9.0 (a Hopper: sm_90a kernels run)
        case 76: *v = 0; break;
        case 16: *v = 132; break;               // SMs, as an H100 SXM
        case 38: *v = 50 * 1024 * 1024; break;  // L2
        case 97: *v = 227 * 1024; break;        // shared memory per block, opt-in
        case 8: *v = 48 * 1024; break;
        case 81: *v = 228 * 1024; break;
        case 10: *v = 32; break;
        case 1: *v = 1024; break;
        case 13: *v = 1980000; break;
        case 36: *v = 2619000; break;
        case 37: *v = 5120; break;
        case 41: *v = 1; break;                 // unified addressing
        case 115: *v = 1; break;                // memory pools: stream-ordered allocation, as on H100/H200
        default: *v = 0;                        // everything else: not supported
    }
    return OK;
}
API cuDeviceGetUuid(void* u, CUdevice) { std::memset(u, 0x5a, 16); return OK; }
API cuDeviceGetUuid_v2(void* u, CUdevice) { std::memset(u, 0x5a, 16); return OK; }
API cuDevicePrimaryCtxRetain(void** ctx, CUdevice) { *ctx = &ctx_token; return OK; }
API cuDevicePrimaryCtxRelease_v2(CUdevice) { return OK; }
API cuDevicePrimaryCtxRelease(CUdevice) { return OK; }
API cuCtxSetCurrent(void*) { return OK; }
API cuCtxGetCurrent(void** ctx) { *ctx = &ctx_token; return OK; }
API cuCtxPushCurrent_v2(void*) { return OK; }
API cuCtxPopCurrent_v2(void** ctx) { if (ctx) *ctx = &ctx_token; return OK; }
API cuCtxGetDevice(CUdevice* d) { *d = 0; return OK; }
API cuCtxSynchronize() { ++syncs; ++ctx_syncs; return OK; }
API cuCtxSetFlags(unsigned) { return OK; }
API cuCtxGetFlags(unsigned* f) { *f = 0; return OK; }

API cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> l(mu);
    if (used + bytes > TOTAL) return ERR_OUT_OF_MEMORY;
    ++allocs_n;
    unsigned char* m = static_cast<unsigned char*>(std::aligned_alloc(256, (bytes + 256) / 256 * 256));
    if (!m) return ERR_OUT_OF_MEMORY;
    std::memset(m, 0xA5, bytes);  // fresh device memory holds garbage
    allocs[m] = bytes;
    used += bytes;
    *p = reinterpret_cast<CUdeviceptr>(m);
    return OK;
}
API cuMemFree_v2(CUdeviceptr p) {
    std::lock_guard<std::recursive_mutex> l(mu);
    auto it = allocs.find(reinterpret_cast<unsigned char*>(p));
    if (it == allocs.end()) return ERR_INVALID_VALUE;
    used -= it->second;
    std::free(it->first);
    allocs.erase(it);
    return OK;
}
API cuMemAllocAsync(CUdeviceptr* p, size_t bytes, void*) { ++async_allocs; return cuMemAlloc_v2(p, bytes); }
API cuMemFreeAsync(CUdeviceptr p, void*) { return cuMemFree_v2(p); }
API cuMemGetInfo_v2(size_t* free_b, size_t* total) { *free_b = TOTAL - used; *total = TOTAL; return OK; }

static CUresult check_range(CUdeviceptr p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> l(mu);
    return global_ok(reinterpret_cast<void*>(p), bytes) ? OK : ERR_INVALID_VALUE;
}
API cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void*) {
    ++htod;
    if (check_range(dst, n)) return ERR_INVALID_VALUE;
    std::memcpy(reinterpret_cast<void*>(dst), src, n);
    return OK;
}
API cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void*) {
    ++dtoh;
    if (check_range(src, n)) return ERR_INVALID_VALUE;
    std::memcpy(dst, reinterpret_cast<void*>(src), n);
    return OK;
}
API cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void*) {
    if (check_range(dst, n) || check_range(src, n)) return ERR_INVALID_VALUE;
    if (policy & 1024) return OK;  // device-side work does not run (see cuLaunchKernel)
    std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), n);
    return OK;
}
API cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) { return cuMemcpyHtoDAsync_v2(dst, src, n, nullptr); }
API cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoHAsync_v2(dst, src, n, nullptr); }
API cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoDAsync_v2(dst, src, n, nullptr); }
API cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, void*) {
    if (check_range(p, n)) return ERR_INVALID_VALUE;
    if (policy & 1024) return OK;  // device-side work does not run (see cuLaunchKernel)
    std::memset(reinterpret_cast<void*>(p), v, n);
    return OK;
}
API cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { return cuMemsetD8Async(p, v, n, nullptr); }
API cuMemsetD32Async(CUdeviceptr p, unsigned v, size_t n, void*) {
    if (check_range(p, n * 4)) return ERR_INVALID_VALUE;
    if (policy & 1024) return OK;  // device-side work does not run (see cuLaunchKernel)
    unsigned* q = reinterpret_cast<unsigned*>(p);
    for (size_t i = 0; i < n; ++i) q[i] = v;
    return OK;
}

API cuStreamCreate(void** s, unsigned) { *s = new int(0); return OK; }
API cuStreamCreateWithPriority(void** s, unsigned, int) { *s = new int(0); return OK; }
API cuStreamDestroy_v2(void* s) { delete static_cast<int*>(s); return OK; }
API cuStreamSynchronize(void*) { ++syncs; ++stream_syncs; return OK; }
API cuStreamQuery(void*) { return OK; }
API cuStreamWaitEvent(void*, void*, unsigned) { return OK; }
API cuStreamIsCapturing(void*, int* status) { *status = 0; return OK; }
API cuCtxGetStreamPriorityRange(int* lo, int* hi) { if (lo) *lo = 0; if (hi) *hi = 0; return OK; }

API cuEventCreate(void** e, unsigned) { *e = new Event(); return OK; }
API cuEventDestroy_v2(void* e) { delete static_cast<Event*>(e); return OK; }
API cuEventRecord(void* e, void*) { static_cast<Event*>(e)->t = now_ms(); return OK; }
API cuEventSynchronize(void*) { ++syncs; ++event_syncs; return OK; }
API cuEventQuery(void*) { return OK; }
API cuEventElapsedTime(float* ms, void* a, void* b) {
    *ms = static_cast<float>(static_cast<Event*>(b)->t - static_cast<Event*>(a)->t);
    return OK;
}
API cuEventElapsedTime_v2(float* ms, void* a, void* b) { return cuEventElapsedTime(ms, a, b); }

API cuModuleLoadData(void** m, const void* image) {
    // The PTX NVRTC produced: its entry points are what the module can give out.
    std::lock_guard<std::recursive_mutex> l(mu);
    load_libs();
    Module* mod = new Module();
    const std::string ptx = static_cast<const char*>(image);
    for (size_t at = ptx.find(".entry "); at != std::string::npos; at = ptx.find(".entry ", at + 1)) {
        size_t b = at + 7, e = b;
        while (e < ptx.size() && (std::isalnum(static_cast<unsigned char>(ptx[e])) || ptx[e] == '_')) ++e;
        mod->entries.insert(ptx.substr(b, e - b));
    }
    *m = mod;
    return OK;
}
API cuModuleUnload(void* m) { delete static_cast<Module*>(m); return OK; }
API cuModuleGetFunction(void** f, void* m, const char* name) {
    std::lock_guard<std::recursive_mutex> l(mu);
    Module* mod = static_cast<Module*>(m);
    if (!mod->entries.count(name)) return ERR_NOT_FOUND;
    if (Function* known = mod->functions[name]) {
        *f = known;
        return OK;
    }
    for (Lib* lib : libs)
        if (lib->names.count(name)) {
            *f = mod->functions[name] = new Function{name, lib};
            return OK;
        }
    std::fprintf(stderr, "cusim driver: kernel %s is in the PTX but in no simulator library (rebuild: tools/cusim/build_driver.py)\n", name);
    return ERR_NOT_FOUND;
}
API cuFuncSetAttribute(void* f, int attr, int v) {
    if (attr == 8) {  // max dynamic shared memory
        if (v > 227 * 1024) return ERR_INVALID_VALUE;
        static_cast<Function*>(f)->max_dyn_smem = v;
    }
    return OK;
}
API cuFuncGetAttribute(int* v, int attr, void* f) {
    *v = attr == 8 ? static_cast<Function*>(f)->max_dyn_smem : attr == 0 ? 1024 : 0;
    return OK;
}
API cuFuncSetCacheConfig(void*, int) { return OK; }
// No registers are modelled: the blocks per SM that the threads and the dynamic shared memory allow (an
// H100/H200 SM: 2048 threads, 228 KB, 1 KB reserved per block, at most 32 blocks).
API cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* n, void*, int block, size_t smem, unsigned) {
    const int by_threads = 2048 / (block > 0 ? block : 1);
    const int by_smem = (int)((228 * 1024) / (smem + 1024));
    const int v = by_threads < by_smem ? by_threads : by_smem;
    *n = v < 1 ? 1 : v > 32 ? 32 : v;
    return OK;
}
API cuOccupancyMaxActiveBlocksPerMultiprocessor(int* n, void* f, int block, size_t smem) {
    return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(n, f, block, smem, 0);
}

API cuLaunchKernel(void* fp, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned smem, void*,
                   void** params, void** extra) {
    std::lock_guard<std::recursive_mutex> l(mu);
    Function* f = static_cast<Function*>(fp);
    if (extra) return ERR_INVALID_VALUE;
    if (static_cast<int>(smem) > f->max_dyn_smem) {
        std::fprintf(stderr, "cusim driver: %s launched with %u bytes of dynamic shared memory, its limit is %d\n", f->name.c_str(),
                     smem, f->max_dyn_smem);
        return ERR_INVALID_VALUE;
    }
    if (gy > 65535 || gz > 65535 || bx * by * bz > 1024 || !gx || !gy || !gz) return ERR_INVALID_VALUE;
    // Policy flag 1024 (driver only): launches are checked and counted but do not run, so that a benchmark
    // through this driver measures the host side alone (what the engine spends per launch).
    ++launches;
    // CUSIM_LAUNCH_LOG=FILE appends each launched entry point's name, a line each (which variant ran).
    static FILE* log = [] {
        const char* p = std::getenv("CUSIM_LAUNCH_LOG");
        return p && *p ? std::fopen(p, "a") : nullptr;
    }();
    if (log) {
        std::fprintf(log, "%s\n", f->name.c_str());
        std::fflush(log);
    }
    if (policy & 1024) return OK;
    const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
    return f->lib->launch(f->name.c_str(), grid, block, smem, params, policy) == 0 ? OK : ERR_NOT_FOUND;
}

API cuGetErrorString(CUresult e, const char** s) {
    *s = e == OK ? "no error" : e == ERR_OUT_OF_MEMORY ? "out of memory" : e == ERR_NOT_FOUND ? "named symbol not found"
                                                                                             : "invalid argument (cusim)";
    return OK;
}
API cuGetErrorName(CUresult e, const char** s) {
    *s = e == OK ? "CUDA_SUCCESS" : e == ERR_OUT_OF_MEMORY ? "CUDA_ERROR_OUT_OF_MEMORY"
                                  : e == ERR_NOT_FOUND     ? "CUDA_ERROR_NOT_FOUND"
                                                           : "CUDA_ERROR_INVALID_VALUE";
    return OK;
}
// NVRTC dlopens the driver too and asks for private export tables: none here (NVRTC then compiles without).
API cuGetExportTable(const void** table, const void*) {
    *table = nullptr;
    return ERR_NOT_FOUND;
}
