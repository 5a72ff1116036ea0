// DISPATCHED(name, body, params, args): the public kernel `name` and its three builds of
// `body_8` (baseline, AVX2 + FMA) and `body_16` (AVX-512), chosen by `dclk_simd_level()`.

#if defined(__x86_64__)
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define HAS_WIDE 1
#else
#define AVX2_TARGET
#define AVX512_TARGET
#define HAS_WIDE 0
#endif

#define DISPATCHED(name, body, params, args)                              \
    static void name##_baseline params { body##_8 args; }                \
    AVX2_TARGET static void name##_avx2 params { body##_8 args; }        \
    AVX512_TARGET static void name##_avx512 params { body##_16 args; }   \
    void name params {                                                   \
        const dclk_simd_level_t level = dclk_simd_level();               \
        if (HAS_WIDE && level == DCLK_SIMD_AVX512)                       \
            name##_avx512 args;                                          \
        else if (HAS_WIDE && level == DCLK_SIMD_AVX2_FMA)                \
            name##_avx2 args;                                            \
        else                                                             \
            name##_baseline args;                                        \
    }

#define UNPAREN(...) __VA_ARGS__

/// One build of `body_<width>` for the tile size m: `name_<level>_f<m>`.
#define TILED_BUILD(linkage, name, width, m, body, params, args) \
    linkage static void name##_f##m params { body##_##width(m, UNPAREN args); }

/// DISPATCHED for the Winograd kernels: the public `name(int m, params)` with m = 2 or 4 picks,
/// by `dclk_simd_level()`, one of six builds of `body(m, args)`, each with m a constant.
#define TILED_DISPATCHED(name, body, params, args)                                 \
    TILED_BUILD(, name##_baseline, 8, 2, body, params, args)                       \
    TILED_BUILD(, name##_baseline, 8, 4, body, params, args)                       \
    TILED_BUILD(AVX2_TARGET, name##_avx2, 8, 2, body, params, args)                \
    TILED_BUILD(AVX2_TARGET, name##_avx2, 8, 4, body, params, args)                \
    TILED_BUILD(AVX512_TARGET, name##_avx512, 16, 2, body, params, args)           \
    TILED_BUILD(AVX512_TARGET, name##_avx512, 16, 4, body, params, args)           \
    void name(int m, UNPAREN params) {                                             \
        const dclk_simd_level_t level = dclk_simd_level();                         \
        if (HAS_WIDE && level == DCLK_SIMD_AVX512)                                 \
            m == 2 ? name##_avx512_f2 args : name##_avx512_f4 args;                \
        else if (HAS_WIDE && level == DCLK_SIMD_AVX2_FMA)                          \
            m == 2 ? name##_avx2_f2 args : name##_avx2_f4 args;                    \
        else                                                                       \
            m == 2 ? name##_baseline_f2 args : name##_baseline_f4 args;            \
    }
