// cusim: runs the project's CUDA kernel sources on the CPU, one fiber per CUDA thread, so that kernels can be
// executed (not just transcribed) on a machine without a GPU. `tools/cusim/cusim.py` rewrites a kernel file's
// inline PTX into calls to the functions below and compiles it with g++ against this header.
//
// The model, and what it checks:
// - Blocks run one after another; the threads of a block are fibers switched only at barriers and warp /
//   warpgroup collectives (cooperative, deterministic; the order can be reversed to expose ordering bugs).
// - __syncthreads, shuffles, ldmatrix, mma.sync and wgmma are collectives: every lane must arrive (a lane that
//   exited or waits elsewhere is a reported deadlock, as it would hang or be undefined on the GPU).
// - cp.async copies are queued per thread and land only at the cp.async.wait_group that covers their group;
//   wgmma.mma_async operations are queued per warpgroup and run at the wgmma.wait_group that covers them. A
//   kernel that reads shared memory or accumulators before the matching wait sees stale data, as a GPU may.
//   The eager timings (AsyncTiming) complete them at issue instead, which exposes write-after-read hazards:
//   a ring stage refilled while a pending wgmma or another warp still reads it.
// - Dynamic shared memory is filled with 0xFF (NaN as fp32 and bf16) for every block and ends at a guard page.
// - cp.async sources must lie inside a buffer of the launch; shared addresses of cp.async, ldmatrix and wgmma
//   must lie in shared memory and be aligned as the PTX ISA requires. A violation stops the run with a message.
// - Arithmetic: mma.sync and wgmma multiply the operands exactly (bf16 and tf32 products are exact in fp32) and
//   accumulate in fp32 in k order; tensor cores may round partial sums differently (tolerances, not bits).
// - Operand layouts follow the PTX ISA: mma.sync m16n8k16 (bf16) / m16n8k8 (tf32) fragments, ldmatrix x4
//   (.trans), wgmma m64nNk16 accumulator fragments, register-A fragments, and the no-swizzle canonical K-major
//   ((8,m),(T,2k)):((1T,SBO),(1,LBO)) and MN-major ((T,1,m),(8,k)):((1,T,SBO),(1T,LBO)) layouts.
#pragma once
#include <sys/mman.h>

#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) int2 { int x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
struct __nv_bfloat16 { unsigned short bits; };

// Fiber switch without ucontext's signal-mask system calls: saves the callee-saved registers on the current
// stack, stores its pointer in *save, and resumes the stack at `next` (x86-64 System V).
extern "C" void cusim_switch(void** save, void* next);
asm(R"(
    .text
    .globl cusim_switch
    .hidden cusim_switch
    .type cusim_switch, @function
cusim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cusim_switch, .-cusim_switch
)");

namespace sim {

[[noreturn]] inline void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "cusim: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
    va_end(ap);
    std::fflush(stderr);
    std::_Exit(3);
}

struct CpCopy {
    unsigned char* dst;
    const unsigned char* src;
    int bytes, src_bytes;
};

enum State { RUNNABLE, WAITING, DONE };

// Which fiber runs next. Round robin lets every thread catch up before any group moves on; the greedy
// policies always resume the lowest (highest) runnable thread, so one warp or warpgroup runs as far ahead of
// the others as barriers allow: that exposes a missing __syncthreads or wait.
enum Policy { ROUND_ROBIN = 0, ROUND_ROBIN_REVERSED = 1, GREEDY_LOW = 2, GREEDY_HIGH = 3 };
// Flags or-ed into the policy: when asynchronous work completes. By default (lazy) a cp.async lands at the
// wait_group that covers it and a wgmma runs at its wait_group, which exposes reads before the wait. Eager
// timing is just as legal on a GPU and exposes the other hazards: CP_EAGER lands a copy when it is issued (a
// refill of a stage that another warp or a pending wgmma still reads), WGMMA_EAGER runs a wgmma when it is
// issued (an MMA issued before its operands landed).
enum AsyncTiming { SCHEDULER_MASK = 15, CP_EAGER = 16, WGMMA_EAGER = 32 };

struct Barrier {
    int arrived = 0;
    std::vector<int> waiters;  // threads parked here
};

struct Thread {
    void* sp = nullptr;  // saved stack pointer while switched out
    dim3 tid;
    int lin = 0, lane = 0, warp = 0, wg = 0;
    State state = RUNNABLE;
    const char* wait_what = "";
    std::vector<CpCopy> open;
    std::vector<std::vector<CpCopy>> committed;
    // cp.async issued since the thread's last commit_group (cp_epoch of them): pairs the lanes of one
    // warp-wide copy instruction, also after some lanes skipped copies of an earlier group.
    int cp_seq = 0, cp_epoch = 0;
};

// One queued wgmma.mma_async of a warpgroup: the accumulator addresses of all 128 threads (valid until the
// wait that runs it: they are the threads' register arrays), descriptors, register-A fragments.
struct WgOp {
    int n = 0;
    bool a_regs = false, ta = false, tb = false, scale_d = true, tf32 = false;
    unsigned long long da = 0, db = 0;
    std::vector<float*> d;                 // 128 * n / 2
    std::vector<unsigned> a;               // 128 x 4 register-A words, read at issue
};

struct Buffer {
    const unsigned char* p;
    size_t bytes;
};

// Memory-access statistics of a launch (CUSIM_MEMSTATS=FILE appends one line per launch): shared-memory
// wavefronts of ldmatrix and of cp.async destinations against the conflict-free ideal, and the 32-byte global
// sectors cp.async sources touch against the fewest that could hold their bytes. A wavefront model, not a
// timing: each 8x16-byte matrix of an ldmatrix is one phase; a 16-byte (8-, 4-byte) cp.async is split into
// phases of 8 (16, 32) lanes; a phase takes as many wavefronts as the most distinct 4-byte words on one bank.
struct MemStats {
    unsigned long long ldsm = 0, ldsm_waves = 0, ldsm_ideal = 0;
    unsigned long long cp = 0, cp_waves = 0, cp_ideal = 0, cp_sectors = 0, cp_sectors_ideal = 0;
};
struct CpRecord {
    int warp, epoch, seq, lane;
    unsigned dst;
    uintptr_t src;
    int bytes, src_bytes;
};

struct Global {
    dim3 bid, bdim, gdim;
    std::vector<Thread> th;
    int cur = -1, live = 0;
    void* sched = nullptr;  // the scheduler's saved stack pointer
    Barrier block_bar;
    std::vector<Barrier> warp_bar, wg_bar;
    std::vector<unsigned long long> runnable;  // bit set of the threads that can run
    std::vector<int> warp_live, warp_size, wg_live, wg_size;
    std::vector<void*> slot;  // per-thread deposit for collectives
    std::vector<std::vector<WgOp>> wg_open;
    std::vector<std::vector<std::vector<WgOp>>> wg_committed;
    unsigned char* smem = nullptr;  // dynamic shared memory of the current block
    unsigned smem_bytes = 0;
    unsigned char* arena = nullptr;  // the shared window (SHARED_WINDOW bytes, then a guard page)
    unsigned static_top = 0;
    struct Static {
        int id;
        size_t bytes;
        unsigned offset;
    };
    std::vector<Static> statics;
    std::vector<Buffer> buffers;
    bool (*global_check)(const void*, size_t) = nullptr;  // the fake driver's allocation table, when set
    std::vector<char*> stacks;
    std::function<void()> body;
    int policy = 2;  // see Policy
    const char* kernel = "";
    const char* memstats_path = nullptr;  // CUSIM_MEMSTATS
    MemStats stats;
    std::vector<CpRecord> cp_log;  // this block's cp.async, while memstats_path is set
};
inline Global g;

inline Thread& self() { return g.th[g.cur]; }

// (wavefronts, ideal) of one shared-memory phase: [addr, addr + bytes) per active lane.
inline std::pair<unsigned, unsigned> phase_waves(const unsigned* addr, const unsigned* bytes, int n) {
    unsigned words[32 * 4];
    int nw = 0;
    for (int i = 0; i < n; ++i)
        for (unsigned w = addr[i] / 4; w <= (addr[i] + bytes[i] - 1) / 4 && nw < 128; ++w) words[nw++] = w;
    std::sort(words, words + nw);
    nw = static_cast<int>(std::unique(words, words + nw) - words);
    unsigned per_bank[32] = {}, most = 0;
    for (int i = 0; i < nw; ++i) most = std::max(most, ++per_bank[words[i] % 32]);
    return {most, static_cast<unsigned>((nw + 31) / 32)};
}

// Folds the block's cp.async log into g.stats: the lanes of one warp's n-th copy form one instruction.
inline void memstats_block() {
    auto& log = g.cp_log;
    std::sort(log.begin(), log.end(), [](const CpRecord& a, const CpRecord& b) {
        if (a.warp != b.warp) return a.warp < b.warp;
        if (a.epoch != b.epoch) return a.epoch < b.epoch;
        return a.seq != b.seq ? a.seq < b.seq : a.lane < b.lane;
    });
    for (size_t i = 0; i < log.size();) {
        size_t j = i;
        while (j < log.size() && log[j].warp == log[i].warp && log[j].epoch == log[i].epoch && log[j].seq == log[i].seq)
            ++j;
        ++g.stats.cp;
        const int per_phase = 128 / std::max(log[i].bytes, 4);
        for (size_t p = i; p < j;) {
            unsigned a[32], b[32];
            int n = 0;
            const int phase = log[p].lane / per_phase;
            for (; p < j && log[p].lane / per_phase == phase; ++p, ++n) a[n] = log[p].dst, b[n] = log[p].bytes;
            const auto w = phase_waves(a, b, n);
            g.stats.cp_waves += w.first;
            g.stats.cp_ideal += w.second;
        }
        std::vector<uintptr_t> sectors, words;
        for (size_t p = i; p < j; ++p)
            for (int o = 0; o < log[p].src_bytes; o += 4) {
                sectors.push_back((log[p].src + o) / 32);
                words.push_back((log[p].src + o) / 4);
            }
        std::sort(sectors.begin(), sectors.end());
        std::sort(words.begin(), words.end());
        g.stats.cp_sectors += std::unique(sectors.begin(), sectors.end()) - sectors.begin();
        g.stats.cp_sectors_ideal += (std::unique(words.begin(), words.end()) - words.begin() + 7) / 8;
        i = j;
    }
    log.clear();
}

inline void memstats_launch(const char* name) {
    FILE* f = std::fopen(g.memstats_path, "a");
    if (!f) return;
    const MemStats& s = g.stats;
    std::fprintf(f, "%s ldmatrix %llu %llu %llu cp.async %llu %llu %llu sectors %llu %llu\n", name, s.ldsm, s.ldsm_waves,
                 s.ldsm_ideal, s.cp, s.cp_waves, s.cp_ideal, s.cp_sectors, s.cp_sectors_ideal);
    std::fclose(f);
    g.stats = MemStats();
}

// Shared memory is one window of SHARED_WINDOW bytes (shared-space addresses are offsets into it, small as on
// the GPU: wgmma descriptors hold 18-bit addresses): static __shared__ arrays from its start, the launch's
// dynamic shared memory at its end, right before a guard page.
constexpr unsigned SHARED_WINDOW = 256 * 1024;

inline unsigned char* shared_ptr(unsigned addr, unsigned bytes, unsigned align, const char* what) {
    if (addr % align) fail("%s: %s: shared address 0x%x not %u-byte aligned", g.kernel, what, addr, align);
    unsigned char* p = g.arena + addr;
    const bool dyn = p >= g.smem && p + bytes <= g.smem + g.smem_bytes;
    const bool stat = addr + bytes <= g.static_top;
    if (!dyn && !stat)
        fail("%s: %s: shared address 0x%x (+%u bytes) outside shared memory (static 0x0..0x%x, dynamic 0x%x + %u bytes), thread %d of block (%u,%u,%u)",
             g.kernel, what, addr, bytes, g.static_top, static_cast<unsigned>(g.smem - g.arena), g.smem_bytes, self().lin, g.bid.x,
             g.bid.y, g.bid.z);
    return p;
}

// A static __shared__ declaration (id: its place in the source; one region per declaration and size).
inline void* shared_static(int id, size_t bytes, size_t align) {
    for (const auto& e : g.statics)
        if (e.id == id && e.bytes == bytes) return g.arena + e.offset;
    const unsigned off = static_cast<unsigned>((g.static_top + align - 1) / align * align);
    if (off + bytes > static_cast<size_t>(g.smem - g.arena))
        fail("%s: static shared memory (%zu bytes more at 0x%x) runs into the dynamic shared memory", g.kernel, bytes, off);
    g.static_top = off + static_cast<unsigned>(bytes);
    g.statics.push_back({id, bytes, off});
    std::memset(g.arena + off, 0xFF, bytes);
    return g.arena + off;
}

inline void check_global(const void* src, size_t bytes, const char* what) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    if (g.global_check) {
        if (g.global_check(src, bytes)) return;
    } else
        for (const Buffer& b : g.buffers)
        if (p >= b.p && p + bytes <= b.p + b.bytes) return;
    fail("%s: %s: global address %p (+%zu bytes) outside every buffer of the launch, thread %d of block (%u,%u,%u)", g.kernel, what,
         src, bytes, self().lin, g.bid.x, g.bid.y, g.bid.z);
}

inline void set_runnable(int i, bool on) {
    if (on) g.runnable[i / 64] |= 1ull << (i % 64);
    else g.runnable[i / 64] &= ~(1ull << (i % 64));
}
inline void release(Barrier& b) {
    b.arrived = 0;
    for (int w : b.waiters) {
        g.th[w].state = RUNNABLE;
        set_runnable(w, true);
    }
    b.waiters.clear();
}

// Parks the current fiber until the barrier releases (or releases it, if this is the last arrival).
inline void arrive(Barrier& b, int expected, const char* what) {
    Thread& t = self();
    if (++b.arrived >= expected) {
        release(b);
        return;
    }
    t.state = WAITING;
    t.wait_what = what;
    b.waiters.push_back(t.lin);
    set_runnable(t.lin, false);
    cusim_switch(&t.sp, g.sched);
}

inline void syncthreads() { arrive(g.block_bar, g.live, "__syncthreads"); }

inline void warp_sync(const char* what) {
    Thread& t = self();
    if (g.warp_live[t.warp] != g.warp_size[t.warp])
        fail("%s: %s with exited lanes in warp %d of block (%u,%u,%u)", g.kernel, what, t.warp, g.bid.x, g.bid.y, g.bid.z);
    arrive(g.warp_bar[t.warp], g.warp_size[t.warp], what);
}
inline void wg_sync(const char* what) {
    Thread& t = self();
    if (g.wg_size[t.wg] != 128 || g.wg_live[t.wg] != 128)
        fail("%s: %s needs a whole live warpgroup (warpgroup %d has %d of %d threads)", g.kernel, what, t.wg, g.wg_live[t.wg],
             g.wg_size[t.wg]);
    arrive(g.wg_bar[t.wg], 128, what);
}

// Deposits `mine`, waits for the warp, lets `use` read every lane's deposit, waits again (so no deposit is
// reused while a lane still reads it).
template <class T, class F>
inline void warp_exchange(T& mine, const char* what, F use) {
    Thread& t = self();
    g.slot[t.lin] = &mine;
    warp_sync(what);
    const int base = t.warp * 32;
    auto lane_val = [base](int lane) -> T& { return *static_cast<T*>(g.slot[base + lane]); };
    use(lane_val);
    warp_sync(what);
}

template <class T>
inline T shfl_xor(unsigned mask, T v, int o) {
    if (mask != 0xffffffffu) fail("%s: shuffle with partial mask 0x%x is not modelled", g.kernel, mask);
    T r{};
    const int lane = self().lane;
    warp_exchange(v, "__shfl_xor_sync", [&](auto at) { r = at(lane ^ o); });
    return r;
}
inline unsigned ballot(unsigned mask, bool p) {
    if (mask != 0xffffffffu) fail("%s: ballot with partial mask 0x%x is not modelled", g.kernel, mask);
    int mine = p ? 1 : 0;
    unsigned r = 0;
    warp_exchange(mine, "__ballot_sync", [&](auto at) {
        for (int l = 0; l < g.warp_size[self().warp]; ++l) r |= (at(l) ? 1u : 0u) << l;
    });
    return r;
}
template <class T>
inline T shfl(unsigned mask, T v, int src) {
    if (mask != 0xffffffffu) fail("%s: shuffle with partial mask 0x%x is not modelled", g.kernel, mask);
    T r{};
    warp_exchange(v, "__shfl_sync", [&](auto at) { r = at(src & 31); });
    return r;
}

inline float bf16_to_f32(unsigned short h) {
    const unsigned u = static_cast<unsigned>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline unsigned short f32_to_bf16(float f) {  // round to nearest even; NaN stays NaN
    unsigned u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<unsigned short>((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<unsigned short>(u >> 16);
}
inline unsigned f32_to_tf32(float f) {  // cvt.rna: round to nearest, ties away from zero, 10 mantissa bits
    unsigned u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) >= 0x7f800000u) return u;
    u += 0x1000u;
    return u & 0xffffe000u;
}
inline unsigned f32_to_tf32_rn(float f) {  // cvt.rn: round to nearest, ties to even, 10 mantissa bits
    unsigned u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) >= 0x7f800000u) return u;
    u += 0xfffu + ((u >> 13) & 1u);
    return u & 0xffffe000u;
}
inline float tf32_operand(unsigned u) {  // the tensor core reads the 19 upper bits
    u &= 0xffffe000u;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline unsigned pack_bf16x2(float hi, float lo) {
    return static_cast<unsigned>(f32_to_bf16(lo)) | (static_cast<unsigned>(f32_to_bf16(hi)) << 16);
}
inline float lo_bf16(unsigned w) { return bf16_to_f32(static_cast<unsigned short>(w & 0xffffu)); }
inline float hi_bf16(unsigned w) { return bf16_to_f32(static_cast<unsigned short>(w >> 16)); }

// mma.sync m16n8k16 bf16 (row.col): A 16x16 (a0 (g, 2q..), a1 (g+8, 2q..), a2 (g, 2q+8..), a3 (g+8, 2q+8..)),
// B 16x8 (b0 (k 2q.., n g), b1 (k 2q+8.., n g)), C/D c0 (g, 2q), c1 (g, 2q+1), c2 (g+8, 2q), c3 (g+8, 2q+1).
struct MmaIn {
    unsigned a[4], b0, b1;
};
inline void mma_bf16(float* c0, float* c1, float* c2, float* c3, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                     unsigned b1) {
    MmaIn in{{a0, a1, a2, a3}, b0, b1};
    float* c[4] = {c0, c1, c2, c3};
    const int lane = self().lane;
    warp_exchange(in, "mma.sync m16n8k16", [&](auto at) {
        float A[16][16], B[16][8];
        for (int l = 0; l < 32; ++l) {
            const MmaIn& v = at(l);
            const int gg = l / 4, q = l % 4;
            for (int h = 0; h < 2; ++h) {
                auto e = [h](unsigned w) { return h ? hi_bf16(w) : lo_bf16(w); };
                A[gg][2 * q + h] = e(v.a[0]);
                A[gg + 8][2 * q + h] = e(v.a[1]);
                A[gg][2 * q + 8 + h] = e(v.a[2]);
                A[gg + 8][2 * q + 8 + h] = e(v.a[3]);
                B[2 * q + h][gg] = e(v.b0);
                B[2 * q + 8 + h][gg] = e(v.b1);
            }
        }
        const int gg = lane / 4, q = lane % 4;
        for (int e = 0; e < 4; ++e) {
            const int r = gg + (e / 2) * 8, col = 2 * q + (e % 2);
            float s = *c[e];
            for (int k = 0; k < 16; ++k) s += A[r][k] * B[k][col];
            *c[e] = s;
        }
    });
}
// mma.sync m16n8k8 tf32: A 16x8 (a0 (g, q), a1 (g+8, q), a2 (g, q+4), a3 (g+8, q+4)), B 8x8 (b0 (k q, n g),
// b1 (k q+4, n g)), C as above.
inline void mma_tf32(float* c0, float* c1, float* c2, float* c3, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                     unsigned b1) {
    MmaIn in{{a0, a1, a2, a3}, b0, b1};
    float* c[4] = {c0, c1, c2, c3};
    const int lane = self().lane;
    warp_exchange(in, "mma.sync m16n8k8", [&](auto at) {
        float A[16][8], B[8][8];
        for (int l = 0; l < 32; ++l) {
            const MmaIn& v = at(l);
            const int gg = l / 4, q = l % 4;
            A[gg][q] = tf32_operand(v.a[0]);
            A[gg + 8][q] = tf32_operand(v.a[1]);
            A[gg][q + 4] = tf32_operand(v.a[2]);
            A[gg + 8][q + 4] = tf32_operand(v.a[3]);
            B[q][gg] = tf32_operand(v.b0);
            B[q + 4][gg] = tf32_operand(v.b1);
        }
        const int gg = lane / 4, q = lane % 4;
        for (int e = 0; e < 4; ++e) {
            const int r = gg + (e / 2) * 8, col = 2 * q + (e % 2);
            float s = *c[e];
            for (int k = 0; k < 8; ++k) s += A[r][k] * B[k][col];
            *c[e] = s;
        }
    });
}

// ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: matrix j's 8 row addresses come from lanes 8j..8j+7; lane l
// receives of matrix j the pair (row l/4, columns 2(l%4), +1), or with .trans (rows 2(l%4), +1 of column l/4).
inline void ldmatrix_x4(unsigned* r0, unsigned* r1, unsigned* r2, unsigned* r3, unsigned addr, bool trans) {
    unsigned* r[4] = {r0, r1, r2, r3};
    const int lane = self().lane;
    shared_ptr(addr, 16, 16, trans ? "ldmatrix.trans" : "ldmatrix");
    warp_exchange(addr, trans ? "ldmatrix.trans" : "ldmatrix", [&](auto at) {
        if (g.memstats_path && lane == 0) {
            ++g.stats.ldsm;
            for (int j = 0; j < 4; ++j) {
                unsigned a[8], b[8];
                for (int r = 0; r < 8; ++r) a[r] = at(8 * j + r), b[r] = 16;
                const auto w = phase_waves(a, b, 8);
                g.stats.ldsm_waves += w.first;
                g.stats.ldsm_ideal += w.second;
            }
        }
        for (int j = 0; j < 4; ++j) {
            auto elem = [&](int row, int col) {
                unsigned short h;
                std::memcpy(&h, shared_ptr(at(8 * j + row), 16, 16, "ldmatrix row") + 2 * col, 2);
                return static_cast<unsigned>(h);
            };
            const int a = lane / 4, b = 2 * (lane % 4);
            *r[j] = trans ? (elem(b, a) | (elem(b + 1, a) << 16)) : (elem(a, b) | (elem(a, b + 1) << 16));
        }
    });
}

inline void cp_async(unsigned dst, const void* src, int bytes, int src_bytes) {
    if (bytes != 4 && bytes != 8 && bytes != 16) fail("%s: cp.async of %d bytes", g.kernel, bytes);
    if (src_bytes < 0 || src_bytes > bytes) fail("%s: cp.async src-size %d > %d", g.kernel, src_bytes, bytes);
    unsigned char* d = shared_ptr(dst, bytes, bytes, "cp.async destination");
    if (reinterpret_cast<uintptr_t>(src) % bytes) fail("%s: cp.async source %p not %d-byte aligned", g.kernel, src, bytes);
    if (src_bytes > 0) check_global(src, src_bytes, "cp.async source");
    if (g.memstats_path) {
        Thread& t = self();
        g.cp_log.push_back({t.warp, t.cp_epoch, t.cp_seq++, t.lane, dst, reinterpret_cast<uintptr_t>(src), bytes, src_bytes});
    }
    if (g.policy & CP_EAGER) {
        std::memcpy(d, src, src_bytes);
        std::memset(d + src_bytes, 0, bytes - src_bytes);
        return;
    }
    self().open.push_back({d, static_cast<const unsigned char*>(src), bytes, src_bytes});
}
inline void cp_async_commit() {
    Thread& t = self();
    t.cp_seq = 0;
    ++t.cp_epoch;
    t.committed.push_back(std::move(t.open));
    t.open.clear();
}
inline void cp_async_wait(int newest_pending) {
    Thread& t = self();
    while (static_cast<int>(t.committed.size()) > newest_pending) {
        for (const CpCopy& c : t.committed.front()) {
            std::memcpy(c.dst, c.src, c.src_bytes);
            std::memset(c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
        }
        t.committed.erase(t.committed.begin());
    }
}

struct Desc {
    unsigned start, lbo, sbo;
    int swizzle;  // bits 62-63: 0 none, 1 128-byte, 2 64-byte, 3 32-byte
};
inline Desc decode(unsigned long long d, const char* what) {
    if (((d >> 49) & 7) != 0) fail("%s: %s: descriptor base offset %llu is not modelled", g.kernel, what, (d >> 49) & 7);
    return {static_cast<unsigned>(d & 0x3FFF) << 4, static_cast<unsigned>((d >> 16) & 0x3FFF) << 4,
            static_cast<unsigned>((d >> 32) & 0x3FFF) << 4, static_cast<int>(d >> 62)};
}
// Element (r, k) of a canonical operand tile (r < rows, k < 16 of the k-step). No swizzle: 8 x 16-byte core
// matrices, LBO between k-groups, SBO between row groups. K-major with a W-byte swizzle (W = 128, 64, 32):
// row r % 8 of an 8-row group W bytes after the one before, SBO between groups, the k-step's 32 bytes
// inside one row (LBO unused); then the hardware XORs address bits 4.. (the 16-byte chunk) with the bits
// from 7 up (the row within the 1024-, 512- or 256-byte pattern): CUTLASS's Swizzle<3|2|1, 4, 3>. The
// pattern is a function of the absolute shared address (base offset 0), so a tile must start on its repeat.
// MN-major swizzled layouts are not modelled (no kernel uses them). tf32 (K-major only): element k < 8 of a
// k-step is 4 bytes wide, the same 32 bytes of a row (no swizzle: core matrices of 8 rows x 4 elements), and
// the tensor core reads its upper 19 bits (the PTX ISA: wgmma .tf32 truncates the lower 13 bits).
inline float canonical_tf32(const Desc& ds, int r, int k, const char* what) {
    unsigned addr;
    if (ds.swizzle == 0) {
        addr = ds.start + (r / 8) * ds.sbo + (k / 4) * ds.lbo + (r % 8) * 16 + (k % 4) * 4;
    } else {
        const unsigned width = 256u >> ds.swizzle, bits = 4 - ds.swizzle;
        addr = ds.start + (r / 8) * ds.sbo + (r % 8) * width + k * 4;
        addr ^= ((addr >> 7) & ((1u << bits) - 1)) << 4;
    }
    unsigned u;
    std::memcpy(&u, shared_ptr(addr, 4, 4, what), 4);
    return tf32_operand(u);
}
inline float canonical(const Desc& ds, int r, int k, bool mn_major, const char* what) {
    unsigned addr;
    if (ds.swizzle == 0) {
        addr = ds.start + (mn_major ? (r / 8) * ds.sbo + (k / 8) * ds.lbo + (k % 8) * 16 + (r % 8) * 2
                                    : (r / 8) * ds.sbo + (k / 8) * ds.lbo + (r % 8) * 16 + (k % 8) * 2);
    } else {
        if (mn_major) fail("%s: %s: MN-major swizzled descriptors are not modelled", g.kernel, what);
        const unsigned width = 256u >> ds.swizzle, bits = 4 - ds.swizzle;
        addr = ds.start + (r / 8) * ds.sbo + (r % 8) * width + k * 2;
        addr ^= ((addr >> 7) & ((1u << bits) - 1)) << 4;
    }
    unsigned short h;
    std::memcpy(&h, shared_ptr(addr, 2, 2, what), 2);
    return bf16_to_f32(h);
}

inline void wgmma_run(const WgOp& op) {
    const int n = op.n, kd = op.tf32 ? 8 : 16;  // k-step depth
    std::vector<float> A(64 * 16, 0.0f), B(static_cast<size_t>(n) * 16, 0.0f);
    if (op.tf32) {
        if (op.a_regs || op.ta || op.tb) fail("%s: tf32 wgmma with register A or transposes is not modelled", g.kernel);
        const Desc da = decode(op.da, "wgmma A descriptor"), db = decode(op.db, "wgmma B descriptor");
        for (int r = 0; r < 64; ++r)
            for (int k = 0; k < kd; ++k) A[r * 16 + k] = canonical_tf32(da, r, k, "wgmma A operand");
        for (int c = 0; c < n; ++c)
            for (int k = 0; k < kd; ++k) B[c * 16 + k] = canonical_tf32(db, c, k, "wgmma B operand");
    } else if (op.a_regs) {
        for (int t = 0; t < 128; ++t) {
            const unsigned* a = &op.a[4 * t];
            const int w = t / 32, l = t % 32, gg = l / 4, q = l % 4;
            for (int h = 0; h < 2; ++h) {
                auto e = [h](unsigned x) { return h ? hi_bf16(x) : lo_bf16(x); };
                A[(16 * w + gg) * 16 + 2 * q + h] = e(a[0]);
                A[(16 * w + gg + 8) * 16 + 2 * q + h] = e(a[1]);
                A[(16 * w + gg) * 16 + 2 * q + 8 + h] = e(a[2]);
                A[(16 * w + gg + 8) * 16 + 2 * q + 8 + h] = e(a[3]);
            }
        }
    } else {
        const Desc da = decode(op.da, "wgmma A descriptor");
        for (int r = 0; r < 64; ++r)
            for (int k = 0; k < 16; ++k) A[r * 16 + k] = canonical(da, r, k, op.ta, "wgmma A operand");
    }
    if (!op.tf32) {
        const Desc db = decode(op.db, "wgmma B descriptor");
        for (int c = 0; c < n; ++c)
            for (int k = 0; k < 16; ++k) B[c * 16 + k] = canonical(db, c, k, op.tb, "wgmma B operand");
    }
    for (int t = 0; t < 128; ++t) {
        const int w = t / 32, l = t % 32, gg = l / 4, q = l % 4;
        for (int j = 0; j < n / 8; ++j)
            for (int h = 0; h < 2; ++h)
                for (int e = 0; e < 2; ++e) {
                    const int r = 16 * w + gg + 8 * h, c = 8 * j + 2 * q + e;
                    float* d = op.d[static_cast<size_t>(t) * (n / 2) + 4 * j + 2 * h + e];
                    float s = op.scale_d ? *d : 0.0f;
                    for (int k = 0; k < kd; ++k) s += A[r * 16 + k] * B[c * 16 + k];
                    *d = s;
                }
    }
}

struct WgIn {
    float* const* d;
    const unsigned* a;
    unsigned long long da, db;
};
inline void wgmma(int n, float* const* d, const unsigned* a_regs, unsigned long long da, unsigned long long db, bool scale_d, bool ta,
                  bool tb, bool tf32 = false) {
    Thread& t = self();
    WgIn in{d, a_regs, da, db};
    g.slot[t.lin] = &in;
    wg_sync("wgmma.mma_async");
    if (t.lin % 128 == 0) {
        WgOp op;
        op.n = n;
        op.a_regs = a_regs != nullptr;
        op.ta = ta;
        op.tb = tb;
        op.scale_d = scale_d;
        op.tf32 = tf32;
        op.da = da;
        op.db = db;
        op.d.resize(static_cast<size_t>(128) * (n / 2));
        if (op.a_regs) op.a.resize(512);
        for (int i = 0; i < 128; ++i) {
            const WgIn& v = *static_cast<WgIn*>(g.slot[t.lin + i]);
            if (v.da != da || v.db != db) fail("%s: wgmma descriptors differ across the warpgroup", g.kernel);
            for (int e = 0; e < n / 2; ++e) op.d[static_cast<size_t>(i) * (n / 2) + e] = v.d[e];
            if (op.a_regs)
                for (int e = 0; e < 4; ++e) op.a[4 * i + e] = v.a[e];
        }
        if (g.policy & WGMMA_EAGER)
            wgmma_run(op);
        else
            g.wg_open[t.wg].push_back(std::move(op));
    }
    wg_sync("wgmma.mma_async");
}
inline void wgmma_fence() { wg_sync("wgmma.fence"); }
inline void wgmma_commit() {
    Thread& t = self();
    wg_sync("wgmma.commit_group");
    if (t.lin % 128 == 0) {
        g.wg_committed[t.wg].push_back(std::move(g.wg_open[t.wg]));
        g.wg_open[t.wg].clear();
    }
    wg_sync("wgmma.commit_group");
}
inline void wgmma_wait(int newest_pending) {
    Thread& t = self();
    wg_sync("wgmma.wait_group");
    if (t.lin % 128 == 0) {
        auto& q = g.wg_committed[t.wg];
        while (static_cast<int>(q.size()) > newest_pending) {
            for (const WgOp& op : q.front()) wgmma_run(op);
            q.erase(q.begin());
        }
    }
    wg_sync("wgmma.wait_group");
}

[[noreturn]] inline void trap() {
    fail("%s: __trap() in thread %d of block (%u,%u,%u)", g.kernel, self().lin, g.bid.x, g.bid.y, g.bid.z);
}

inline void fiber_main() {
    g.body();
    Thread& t = self();
    if (!t.open.empty() || !t.committed.empty()) {
        cp_async_commit();
        cp_async_wait(0);
    }
    t.state = DONE;
    set_runnable(t.lin, false);
    --g.live;
    --g.warp_live[t.warp];
    --g.wg_live[t.wg];
    // An exited thread no longer holds up __syncthreads.
    if (g.block_bar.arrived > 0 && g.block_bar.arrived >= g.live) release(g.block_bar);
    if (g.warp_bar[t.warp].arrived > 0) fail("%s: a lane exited while its warp waits in a collective", g.kernel);
    cusim_switch(&t.sp, g.sched);
    fail("a finished fiber was resumed");
}

extern "C" inline void cusim_fiber_entry() { fiber_main(); }

// A fresh fiber's stack: cusim_switch pops six zero registers and "returns" into cusim_fiber_entry, which
// sees the stack alignment of a called function.
inline void* fiber_stack(char* base, size_t bytes) {
    uintptr_t top = (reinterpret_cast<uintptr_t>(base) + bytes) & ~static_cast<uintptr_t>(15);
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;                                             // the entry's (never used) return address
    *--sp = reinterpret_cast<void*>(&cusim_fiber_entry);
    for (int i = 0; i < 6; ++i) *--sp = nullptr;                 // r15 r14 r13 r12 rbx rbp
    return sp;
}

inline void ensure_arena() {
    if (g.arena) return;
    const size_t page = 4096;
    void* p = mmap(nullptr, SHARED_WINDOW + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("cannot map the shared-memory window");
    g.arena = static_cast<unsigned char*>(p);
    mprotect(g.arena + SHARED_WINDOW, page, PROT_NONE);  // guard page right after the window
}

// Runs one launch: every block in order, every thread a fiber.
inline void launch(const char* name, dim3 grid, dim3 block, unsigned smem, std::function<void()> body) {
    g.kernel = name;
    g.memstats_path = std::getenv("CUSIM_MEMSTATS");
    g.gdim = grid;
    g.bdim = block;
    g.body = std::move(body);
    const int nt = static_cast<int>(block.x * block.y * block.z);
    if (nt <= 0 || nt > 1024) fail("%s: block of %d threads", name, nt);
    ensure_arena();
    if (smem > 227 * 1024) fail("%s: %u bytes of dynamic shared memory (a Hopper block has at most 227 KiB)", name, smem);
    g.smem_bytes = smem;
    // Ends at the guard page (up to 127 bytes of slack), and starts 128-byte aligned but never on a 1024-byte
    // boundary (then 128 bytes lower): a kernel whose layout needs more (the 128-byte swizzle's repeat) must
    // align the pointer itself, as nothing promises more than the declared alignment on a GPU either.
    unsigned start = SHARED_WINDOW - ((smem + 127) / 128) * 128;
    if (start % 1024 == 0 && start >= 128) start -= 128;
    g.smem = g.arena + start;
    g.static_top = 0;
    g.statics.clear();
    const size_t stack_bytes = 256 * 1024;
    while (static_cast<int>(g.stacks.size()) < nt) g.stacks.push_back(static_cast<char*>(std::malloc(stack_bytes)));
    const int nwarps = (nt + 31) / 32, nwg = (nt + 127) / 128;
    g.th.assign(nt, Thread());
    g.slot.assign(nt, nullptr);
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                g.bid = dim3(bx, by, bz);
                std::memset(g.smem, 0xFF, smem);
                for (const auto& e : g.statics) std::memset(g.arena + e.offset, 0xFF, e.bytes);
                g.block_bar = Barrier();
                g.warp_bar.assign(nwarps, Barrier());
                g.wg_bar.assign(nwg, Barrier());
                g.warp_live.assign(nwarps, 0);
                g.warp_size.assign(nwarps, 0);
                g.wg_live.assign(nwg, 0);
                g.wg_size.assign(nwg, 0);
                g.wg_open.assign(nwg, {});
                g.wg_committed.assign(nwg, {});
                g.live = nt;
                for (int i = 0; i < nt; ++i) {
                    Thread& t = g.th[i];
                    t = Thread();
                    t.lin = i;
                    t.tid = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
                    t.lane = i % 32;
                    t.warp = i / 32;
                    t.wg = i / 128;
                    ++g.warp_live[t.warp];
                    ++g.warp_size[t.warp];
                    ++g.wg_live[t.wg];
                    ++g.wg_size[t.wg];
                    t.sp = fiber_stack(g.stacks[i], stack_bytes);
                }
                const int words = (nt + 63) / 64;
                g.runnable.assign(words, 0);
                for (int i = 0; i < nt; ++i) set_runnable(i, true);
                const int sched = g.policy & SCHEDULER_MASK;
                const bool high = sched == ROUND_ROBIN_REVERSED || sched == GREEDY_HIGH;
                int last = high ? nt : -1;
                while (g.live > 0) {
                    // The next runnable thread: the lowest / highest (greedy), or the next one after the last
                    // in the policy's direction, wrapping around (round robin).
                    int next = -1;
                    const bool greedy = sched >= GREEDY_LOW;
                    for (int pass = 0; pass < 2 && next < 0; ++pass) {
                        if (!high) {
                            const int from = greedy || pass ? 0 : last + 1;
                            for (int wd = from / 64; wd < words && next < 0; ++wd) {
                                unsigned long long m = g.runnable[wd];
                                if (wd == from / 64 && from % 64) m &= ~0ull << (from % 64);
                                if (m) next = wd * 64 + __builtin_ctzll(m);
                            }
                        } else {
                            const int from = greedy || pass ? nt - 1 : last - 1;
                            for (int wd = from / 64; wd >= 0 && from >= 0 && next < 0; --wd) {
                                unsigned long long m = g.runnable[wd];
                                if (wd == from / 64 && from % 64 != 63) m &= (2ull << (from % 64)) - 1;
                                if (m) next = wd * 64 + 63 - __builtin_clzll(m);
                            }
                        }
                        if (greedy) break;
                    }
                    if (next >= 0) {
                        g.cur = last = next;
                        cusim_switch(&g.sched, g.th[next].sp);
                        continue;
                    }
                    {
                        for (int i = 0; i < nt; ++i)
                            if (g.th[i].state == WAITING)
                                std::fprintf(stderr, "  thread %d waits in %s\n", i, g.th[i].wait_what);
                        fail("%s: deadlock in block (%u,%u,%u): no thread can proceed", name, bx, by, bz);
                    }
                }
                for (int w = 0; w < nwg; ++w)
                    if (!g.wg_open[w].empty() || !g.wg_committed[w].empty())
                        fail("%s: warpgroup %d exited with wgmma operations it never waited for", name, w);
                if (g.memstats_path) memstats_block();
            }
    if (g.memstats_path) memstats_launch(name);
}

template <class... A, size_t... I>
inline void call_with(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<std::remove_reference_t<A>*>(args[I])...);
}
template <class... A>
inline std::function<void()> bind_args(void (*f)(A...), void** args) {
    return [f, args] { call_with(f, args, std::index_sequence_for<A...>{}); };
}

}  // namespace sim

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) alignas(n)
#define threadIdx (::sim::self().tid)
#define blockIdx (::sim::g.bid)
#define blockDim (::sim::g.bdim)
#define gridDim (::sim::g.gdim)
#define __syncthreads() ::sim::syncthreads()
#define __shfl_xor_sync(m, v, o) ::sim::shfl_xor((m), (v), (o))
#define __shfl_sync(m, v, s) ::sim::shfl((m), (v), (s))
#define __ballot_sync(m, p) ::sim::ballot((m), (p))
#define __trap() ::sim::trap()

// CUDA's integer min/max promote mixed operands the usual arithmetic way.
template <class A, class B>
inline auto min(A a, B b) { using C = decltype(a + b); return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(a) : static_cast<C>(b); }
template <class A, class B>
inline auto max(A a, B b) { using C = decltype(a + b); return static_cast<C>(a) > static_cast<C>(b) ? static_cast<C>(a) : static_cast<C>(b); }
inline unsigned long long __cvta_generic_to_shared(const void* p) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    if (c < sim::g.arena || c >= sim::g.arena + sim::SHARED_WINDOW) sim::fail("%s: __cvta_generic_to_shared of a non-shared pointer %p", sim::g.kernel, p);
    return static_cast<unsigned long long>(c - sim::g.arena);
}
template <class T>
inline T __ldg(const T* p) { return *p; }
inline float atomicAdd(float* p, float v) { const float o = *p; *p = o + v; return o; }
inline double atomicAdd(double* p, double v) { const double o = *p; *p = o + v; return o; }
inline int atomicAdd(int* p, int v) { const int o = *p; *p = o + v; return o; }
inline unsigned atomicAdd(unsigned* p, unsigned v) { const unsigned o = *p; *p = o + v; return o; }
// sm_90's vector atomic on global memory: an address not 8-byte aligned faults on the GPU.
inline float2 atomicAdd(float2* p, float2 v) {
    if (reinterpret_cast<std::uintptr_t>(p) % 8) sim::fail("%s: float2 atomicAdd at %p, not 8-byte aligned", sim::g.kernel, (void*)p);
    const float2 o = *p;
    p->x = o.x + v.x;
    p->y = o.y + v.y;
    return o;
}
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32); }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {sim::f32_to_bf16(f)}; }
