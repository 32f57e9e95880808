/* Convolution by patch gathering and matrix products, split over OpenMP threads (conv_ops.py).
 *
 * Appended to the C support code of ConvOp, after PyTensor's BLAS declarations. Images are
 * (n, h, w, c), row-major (channels last); kernels (kh, kw, c, f), so that a kernel seen as a
 * matrix is (kh * kw * c) x f, and the row of a gathered patch lists the c channels of each
 * kernel position in the same order. One output pixel per row: the outputs (n, oh, ow, f) are
 * a matrix of n * oh * ow rows.
 *
 * forward:      y = patches(x) K                        for each block of output pixels
 * input grad:   dx = scatter-add of (dy K')                 each image by one thread
 * kernel grad:  dK = sum over blocks of patches(x)' dy      a private sum per thread, added last
 *
 * The patches of a block of rows are gathered into a buffer of the thread's own, small enough
 * to stay in cache; input pixels under the padding count as zeros (gathered as zeros, skipped
 * when scattering). Every BLAS call is single-threaded (fastpath/blas.py sets OpenBLAS to one
 * thread): the OpenMP threads are the only ones. Row-major products are written as Fortran's
 * column-major ones of the transposes: C = A B (row-major) is C' = B' A' (column-major).
 */

#ifndef DT_CONV_THREADS
#define DT_CONV_THREADS 1 /* given by conv_ops.py as -DDT_CONV_THREADS */
#endif
#define DT_CONV_BLOCK_FLOATS 65536 /* a patch buffer's size: 256 KiB of float32 */

typedef struct {
    int n, h, w, c;      /* the input images */
    int kh, kw, f;       /* the kernel */
    int oh, ow;          /* the output images */
    int s, top, left;    /* stride, padding before the first row and column */
} dt_geom;

/* Rows of a patch block: at least 16, at most 1024, about DT_CONV_BLOCK_FLOATS values. */
static inline int dt_block_rows(const dt_geom *g)
{
    long k = (long)g->kh * g->kw * g->c;
    long rows = DT_CONV_BLOCK_FLOATS / (k > 0 ? k : 1);
    if (rows < 16)
        rows = 16;
    if (rows > 1024)
        rows = 1024;
    return (int)rows;
}

/* Threads for `pieces` independent pieces of work: one per piece, at most DT_CONV_THREADS. */
static inline int dt_conv_threads(long pieces)
{
    if (pieces < 1)
        return 1;
    return pieces < DT_CONV_THREADS ? (int)pieces : DT_CONV_THREADS;
}

#define DT_DEFINE_CONV(T, GEMM)                                                                \
    /* The patches of output rows [r0, r0 + rows) into cols (rows x kh * kw * c). */            \
    static void dt_gather_##T(const T *x, const dt_geom *g, long r0, int rows, T *cols)        \
    {                                                                                          \
        const long pixels = (long)g->oh * g->ow;                                               \
        for (int r = 0; r < rows; r++) {                                                       \
            long row = r0 + r, img = row / pixels, p = row % pixels;                           \
            int oy = (int)(p / g->ow), ox = (int)(p % g->ow);                                  \
            T *dst = cols + (long)r * g->kh * g->kw * g->c;                                    \
            for (int i = 0; i < g->kh; i++) {                                                  \
                int iy = oy * g->s + i - g->top;                                               \
                for (int j = 0; j < g->kw; j++, dst += g->c) {                                 \
                    int ix = ox * g->s + j - g->left;                                          \
                    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) {                        \
                        memset(dst, 0, sizeof(T) * g->c);                                      \
                    } else {                                                                   \
                        const T *src = x + ((img * g->h + iy) * g->w + ix) * g->c;             \
                        for (int ch = 0; ch < g->c; ch++)                                      \
                            dst[ch] = src[ch];                                                 \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    /* Adds the patches cols of output rows [r0, r0 + rows) back onto the pixels they came     \
     * from in dx: the adjoint of the gather. */                                               \
    static void dt_scatter_##T(T *dx, const dt_geom *g, long r0, int rows, const T *cols)      \
    {                                                                                          \
        const long pixels = (long)g->oh * g->ow;                                               \
        for (int r = 0; r < rows; r++) {                                                       \
            long row = r0 + r, img = row / pixels, p = row % pixels;                           \
            int oy = (int)(p / g->ow), ox = (int)(p % g->ow);                                  \
            const T *src = cols + (long)r * g->kh * g->kw * g->c;                              \
            for (int i = 0; i < g->kh; i++) {                                                  \
                int iy = oy * g->s + i - g->top;                                               \
                for (int j = 0; j < g->kw; j++, src += g->c) {                                 \
                    int ix = ox * g->s + j - g->left;                                          \
                    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)                          \
                        continue;                                                              \
                    T *dst = dx + ((img * g->h + iy) * g->w + ix) * g->c;                      \
                    for (int ch = 0; ch < g->c; ch++)                                          \
                        dst[ch] += src[ch];                                                    \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    /* y (n * oh * ow x f) = patches(x) K. 0 on success, -1 when a buffer could not be had. */ \
    static int dt_conv_forward_##T(const T *x, const T *k, T *y, const dt_geom *g)             \
    {                                                                                          \
        const long m = (long)g->n * g->oh * g->ow;                                             \
        int kk = g->kh * g->kw * g->c, block = dt_block_rows(g), failed = 0;                   \
        long blocks = (m + block - 1) / block;                                                 \
        int threads = dt_conv_threads(blocks);                                                 \
        _Pragma("omp parallel num_threads(threads) reduction(|:failed)")                       \
        {                                                                                      \
            T *cols = (T *)malloc(sizeof(T) * block * kk);                                     \
            T one = 1, zero = 0;                                                               \
            char nn = 'N';                                                                     \
            if (cols == NULL) {                                                                \
                failed = 1;                                                                    \
            } else {                                                                           \
                _Pragma("omp for schedule(static)")                                            \
                for (long b = 0; b < blocks; b++) {                                            \
                    long r0 = b * block;                                                       \
                    int rows = (int)(m - r0 < block ? m - r0 : block);                         \
                    dt_gather_##T(x, g, r0, rows, cols);                                       \
                    GEMM(&nn, &nn, &g->f, &rows, &kk, &one, k, &g->f, cols, &kk, &zero,        \
                         y + r0 * g->f, &g->f);                                                \
                }                                                                              \
                free(cols);                                                                    \
            }                                                                                  \
        }                                                                                      \
        return failed ? -1 : 0;                                                                \
    }                                                                                          \
    /* dx (n x h x w x c) = the adjoint of the forward map in x, applied to dy. */             \
    static int dt_conv_input_grad_##T(const T *dy, const T *k, T *dx, const dt_geom *g)        \
    {                                                                                          \
        const long pixels = (long)g->oh * g->ow, image = (long)g->h * g->w * g->c;             \
        int kk = g->kh * g->kw * g->c, block = dt_block_rows(g), failed = 0;                   \
        int threads = dt_conv_threads(g->n);                                                   \
        _Pragma("omp parallel num_threads(threads) reduction(|:failed)")                       \
        {                                                                                      \
            T *cols = (T *)malloc(sizeof(T) * block * kk);                                     \
            T one = 1, zero = 0;                                                               \
            char tt = 'T', nn = 'N';                                                           \
            if (cols == NULL) {                                                                \
                failed = 1;                                                                    \
            } else {                                                                           \
                /* whole images per thread: no two threads add into the same pixel */         \
                _Pragma("omp for schedule(static)")                                            \
                for (int img = 0; img < g->n; img++) {                                         \
                    memset(dx + img * image, 0, sizeof(T) * image);                            \
                    for (long p0 = 0; p0 < pixels; p0 += block) {                              \
                        int rows = (int)(pixels - p0 < block ? pixels - p0 : block);           \
                        long r0 = img * pixels + p0;                                           \
                        GEMM(&tt, &nn, &kk, &rows, &g->f, &one, k, &g->f, dy + r0 * g->f,      \
                             &g->f, &zero, cols, &kk);                                         \
                        dt_scatter_##T(dx, g, r0, rows, cols);                                 \
                    }                                                                          \
                }                                                                              \
                free(cols);                                                                    \
            }                                                                                  \
        }                                                                                      \
        return failed ? -1 : 0;                                                                \
    }                                                                                          \
    /* dk (kh * kw * c x f) = patches(x)' dy, each thread summing its blocks of rows. */       \
    static int dt_conv_kernel_grad_##T(const T *x, const T *dy, T *dk, const dt_geom *g)       \
    {                                                                                          \
        const long m = (long)g->n * g->oh * g->ow;                                             \
        int kk = g->kh * g->kw * g->c, block = dt_block_rows(g), failed = 0;                   \
        long blocks = (m + block - 1) / block, cells = (long)kk * g->f;                        \
        int threads = dt_conv_threads(blocks);                                                 \
        T *sums;                                                                               \
        sums = (T *)calloc(cells * threads, sizeof(T));                                        \
        if (sums == NULL)                                                                      \
            return -1;                                                                         \
        _Pragma("omp parallel num_threads(threads) reduction(|:failed)")                       \
        {                                                                                      \
            T *cols = (T *)malloc(sizeof(T) * block * kk);                                     \
            T *sum = sums + cells * omp_get_thread_num();                                      \
            T one = 1;                                                                         \
            char tt = 'T', nn = 'N';                                                           \
            if (cols == NULL) {                                                                \
                failed = 1;                                                                    \
            } else {                                                                           \
                _Pragma("omp for schedule(static)")                                            \
                for (long b = 0; b < blocks; b++) {                                            \
                    long r0 = b * block;                                                       \
                    int rows = (int)(m - r0 < block ? m - r0 : block);                         \
                    dt_gather_##T(x, g, r0, rows, cols);                                       \
                    GEMM(&nn, &tt, &g->f, &kk, &rows, &one, dy + r0 * g->f, &g->f, cols, &kk,  \
                         &one, sum, &g->f);                                                    \
                }                                                                              \
                free(cols);                                                                    \
            }                                                                                  \
        }                                                                                      \
        for (long i = 0; i < cells; i++) {                                                     \
            T total = 0;                                                                       \
            for (int t = 0; t < threads; t++)                                                  \
                total += sums[cells * t + i];                                                  \
            dk[i] = total;                                                                     \
        }                                                                                      \
        free(sums);                                                                            \
        return failed ? -1 : 0;                                                                \
    }

DT_DEFINE_CONV(float, sgemm_)
DT_DEFINE_CONV(double, dgemm_)
