/* BLAS calls split into blocks of their output, one per OpenMP thread (threaded_blas.py).
 *
 * Appended to the C support code of the Threaded* ops, after PyTensor's BLAS declarations:
 * it defines dt_split_sgemm, dt_split_sgemv, dt_split_sger (and the double versions) with the
 * Fortran signatures, then re-points sgemm_, sgemv_, sger_ (...) at them, so that PyTensor's
 * own C templates call the split versions.
 *
 * Why: OpenBLAS runs a GEMM on one thread when a side of the result is shorter than
 * threads x SWITCH_RATIO (64 with 2 threads): every product with the dA's batch of 20 on one
 * side. Here each block is one single-threaded BLAS call (fastpath/blas.py sets OpenBLAS to one
 * thread), so OpenMP's threads are the only ones and never wait for another pool's.
 *
 * The output is cut along one side; each block reads its own part of one operand and all of
 * the other. A GEMM whose result is too small to cut but whose sum is long (a convolution
 * kernel's gradient: 32 x 32, summed over every pixel of a batch) is cut along the sum
 * instead: each thread multiplies its stretch of both operands, and the partial results are
 * added. Every output element is the same sum, but OpenBLAS groups its terms by its own
 * blocking, which depends on the size of each call, and a cut sum adds its pieces last: the
 * last bits can differ from one whole call's. Everything is column-major, as in Fortran BLAS.
 */

#ifndef DT_THREADS
#define DT_THREADS 1 /* given by threaded_blas.py as -DDT_THREADS */
#endif
#define DT_BLOCK_ALIGN 16 /* block starts: a multiple of OpenBLAS's micro-kernel tiles */
#define DT_MIN_BLOCK 64   /* fewest rows or columns a thread gets */
/* Fewest multiply-adds for a split at all, that of a 512 x 512 matrix-vector product: smaller
 * calls are left whole (a round figure, not tuned). */
#define DT_MIN_MULADDS 262144.0
/* Shortest stretch of a sum a thread gets when a GEMM is cut along its sum (a round figure). */
#define DT_MIN_SUM_BLOCK 4096

static inline int dt_threads(int len, double muladds)
{
    int threads = DT_THREADS;
    if (threads > len / DT_MIN_BLOCK)
        threads = len / DT_MIN_BLOCK;
    if (muladds < DT_MIN_MULADDS || omp_in_parallel())
        threads = 1;
    return threads;
}

/* Threads for a GEMM cut along its sum of length k: only when its result is too small to
 * cut (fewer than two blocks along its longer side). */
static inline int dt_sum_threads(int len, int k, double muladds)
{
    int threads = DT_THREADS;
    if (len >= 2 * DT_MIN_BLOCK)
        return 1;
    if (threads > k / DT_MIN_SUM_BLOCK)
        threads = k / DT_MIN_SUM_BLOCK;
    if (muladds < DT_MIN_MULADDS || omp_in_parallel())
        threads = 1;
    return threads;
}

/* Block t of nt along a side of length len is [dt_start(t), dt_start(t + 1)). */
static inline int dt_start(int len, int t, int nt)
{
    if (t >= nt)
        return len;
    return (int)((long long)len * t / nt) / DT_BLOCK_ALIGN * DT_BLOCK_ALIGN;
}

static inline int dt_notrans(const char *trans) { return *trans == 'N' || *trans == 'n'; }

/* Runs the body (the variadic part: it may hold commas) once per block, with the block's
 * `start` and `size` in scope. */
#define DT_FOR_BLOCKS(len, threads, ...)                                                       \
    _Pragma("omp parallel num_threads(threads)")                                               \
    {                                                                                          \
        int nt_ = omp_get_num_threads(), t_ = omp_get_thread_num();                            \
        int start = dt_start(len, t_, nt_);                                                    \
        int size = dt_start(len, t_ + 1, nt_) - start;                                         \
        if (size > 0) {                                                                        \
            __VA_ARGS__                                                                        \
        }                                                                                      \
    }

/* C (m x n) = alpha op(A) op(B) + beta C: cut along C's longer side. Rows of C take their
 * rows of op(A), columns their columns of op(B). */
#define DT_DEFINE_GEMM(NAME, BLAS, T)                                                          \
    static inline void NAME##_blas(                                                            \
        char *ta, char *tb, const int *m, const int *n, const int *k, const T *alpha,          \
        const T *a, const int *lda, const T *b, const int *ldb, const T *beta, T *c,           \
        const int *ldc)                                                                        \
    {                                                                                          \
        BLAS(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);                            \
    }                                                                                          \
    /* The product cut along its sum: thread 0 writes its piece into C (with beta), the others \
     * into zeroed scratch blocks (one that a thread leaves unwritten adds nothing), which are \
     * added to C after. 0 if the scratch could not be had. */                                 \
    static inline int NAME##_cut_sum(                                                          \
        char *ta, char *tb, const int *m, const int *n, const int *k, const T *alpha,          \
        const T *a, const int *lda, const T *b, const int *ldb, const T *beta, T *c,           \
        const int *ldc, int threads)                                                           \
    {                                                                                          \
        long long cells = (long long)*m * *n;                                                  \
        T *scratch = (T *)calloc(cells * (threads - 1), sizeof(T));                            \
        T zero = 0;                                                                            \
        if (scratch == NULL)                                                                   \
            return 0;                                                                          \
        DT_FOR_BLOCKS(*k, threads, {                                                           \
            const T *a_t = dt_notrans(ta) ? a + (long long)start * *lda : a + start;           \
            const T *b_t = dt_notrans(tb) ? b + start : b + (long long)start * *ldb;           \
            if (t_ == 0)                                                                       \
                NAME##_blas(ta, tb, m, n, &size, alpha, a_t, lda, b_t, ldb, beta, c, ldc);     \
            else                                                                               \
                NAME##_blas(ta, tb, m, n, &size, alpha, a_t, lda, b_t, ldb, &zero,             \
                            scratch + cells * (t_ - 1), m);                                    \
        })                                                                                     \
        for (int p = 0; p < threads - 1; p++)                                                  \
            for (int j = 0; j < *n; j++)                                                       \
                for (int i = 0; i < *m; i++)                                                   \
                    c[i + (long long)j * *ldc] += scratch[cells * p + i + (long long)j * *m];  \
        free(scratch);                                                                         \
        return 1;                                                                              \
    }                                                                                          \
    static inline void NAME(                                                                   \
        char *ta, char *tb, const int *m, const int *n, const int *k, const T *alpha,          \
        const T *a, const int *lda, const T *b, const int *ldb, const T *beta, T *c,           \
        const int *ldc)                                                                        \
    {                                                                                          \
        int by_rows = *m >= *n, len = by_rows ? *m : *n;                                       \
        int threads = dt_threads(len, (double)*m * *n * *k);                                   \
        int sum_threads = dt_sum_threads(len, *k, (double)*m * *n * *k);                       \
        if (sum_threads > 1 && NAME##_cut_sum(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, \
                                              ldc, sum_threads))                              \
            return;                                                                            \
        if (threads <= 1) {                                                                    \
            NAME##_blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);                 \
            return;                                                                            \
        }                                                                                      \
        DT_FOR_BLOCKS(len, threads, {                                                          \
            if (by_rows) {                                                                     \
                const T *a_t = dt_notrans(ta) ? a + start : a + (long long)start * *lda;       \
                NAME##_blas(ta, tb, &size, n, k, alpha, a_t, lda, b, ldb, beta, c + start,     \
                            ldc);                                                              \
            } else {                                                                           \
                const T *b_t = dt_notrans(tb) ? b + (long long)start * *ldb : b + start;       \
                NAME##_blas(ta, tb, m, &size, k, alpha, a, lda, b_t, ldb, beta,                \
                            c + (long long)start * *ldc, ldc);                                 \
            }                                                                                  \
        })                                                                                     \
    }

/* y = alpha op(A) x + beta y, A m x n: cut along y, i.e. A's rows ('N') or columns ('T'). */
#define DT_DEFINE_GEMV(NAME, BLAS, T)                                                          \
    static inline void NAME##_blas(                                                            \
        char *trans, const int *m, const int *n, const T *alpha, const T *a,                   \
        const int *lda, const T *x, const int *incx, const T *beta, T *y,                      \
        const int *incy)                                                                       \
    {                                                                                          \
        BLAS(trans, m, n, alpha, a, lda, x, incx, beta, y, incy);                              \
    }                                                                                          \
    static inline void NAME(                                                                   \
        char *trans, const int *m, const int *n, const T *alpha, const T *a,                   \
        const int *lda, const T *x, const int *incx, const T *beta, T *y,                      \
        const int *incy)                                                                       \
    {                                                                                          \
        int by_rows = dt_notrans(trans), len = by_rows ? *m : *n;                              \
        int threads = dt_threads(len, (double)*m * *n);                                        \
        if (threads <= 1 || *incx <= 0 || *incy <= 0) {                                        \
            NAME##_blas(trans, m, n, alpha, a, lda, x, incx, beta, y, incy);                   \
            return;                                                                            \
        }                                                                                      \
        DT_FOR_BLOCKS(len, threads, {                                                          \
            T *y_t = y + (long long)start * *incy;                                             \
            if (by_rows)                                                                       \
                NAME##_blas(trans, &size, n, alpha, a + start, lda, x, incx, beta, y_t,        \
                            incy);                                                             \
            else                                                                               \
                NAME##_blas(trans, m, &size, alpha, a + (long long)start * *lda, lda, x,       \
                            incx, beta, y_t, incy);                                            \
        })                                                                                     \
    }

/* A (m x n) += alpha x y': cut along A's columns, each a contiguous piece of memory. */
#define DT_DEFINE_GER(NAME, BLAS, T)                                                           \
    static inline void NAME##_blas(                                                            \
        const int *m, const int *n, const T *alpha, const T *x, const int *incx,               \
        const T *y, const int *incy, T *a, const int *lda)                                     \
    {                                                                                          \
        BLAS(m, n, alpha, x, incx, y, incy, a, lda);                                           \
    }                                                                                          \
    static inline void NAME(                                                                   \
        const int *m, const int *n, const T *alpha, const T *x, const int *incx,               \
        const T *y, const int *incy, T *a, const int *lda)                                     \
    {                                                                                          \
        int threads = dt_threads(*n, (double)*m * *n);                                         \
        if (threads <= 1 || *incy <= 0) {                                                      \
            NAME##_blas(m, n, alpha, x, incx, y, incy, a, lda);                                \
            return;                                                                            \
        }                                                                                      \
        DT_FOR_BLOCKS(*n, threads, {                                                           \
            NAME##_blas(m, &size, alpha, x, incx, y + (long long)start * *incy, incy,          \
                        a + (long long)start * *lda, lda);                                     \
        })                                                                                     \
    }

/* The routines may be macros (blas.py's -D renames): the _blas wrappers above call what
 * they name here, before they are re-pointed below. */
DT_DEFINE_GEMM(dt_split_sgemm, sgemm_, float)
DT_DEFINE_GEMM(dt_split_dgemm, dgemm_, double)
DT_DEFINE_GEMV(dt_split_sgemv, sgemv_, float)
DT_DEFINE_GEMV(dt_split_dgemv, dgemv_, double)
DT_DEFINE_GER(dt_split_sger, sger_, float)
DT_DEFINE_GER(dt_split_dger, dger_, double)

#undef sgemm_
#define sgemm_ dt_split_sgemm
#undef dgemm_
#define dgemm_ dt_split_dgemm
#undef sgemv_
#define sgemv_ dt_split_sgemv
#undef dgemv_
#define dgemv_ dt_split_dgemv
#undef sger_
#define sger_ dt_split_sger
#undef dger_
#define dger_ dt_split_dger
