namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// Splits a range of independent work items over at most <c>threads</c> workers (EngineOptions.IntraOpThreads).
/// Small jobs run inline: a chunk gets at least <c>minWorkPerChunk</c> units of (items × workPerItem).
/// </summary>
public static class KernelParallel
{
    /// <summary>Runs body(start, end) over [0, count) in contiguous chunks.</summary>
    public static void For(int threads, int count, long workPerItem, Action<int, int> body, long minWorkPerChunk = 32_768)
    {
        if (count <= 0) return;
        long total = Math.Max(1, workPerItem) * count;
        int chunks = (int)Math.Min(Math.Min(threads, count), Math.Max(1, total / Math.Max(1, minWorkPerChunk)));
        if (chunks <= 1)
        {
            body(0, count);
            return;
        }
        Run(chunks, chunks, c =>
        {
            int start = (int)((long)count * c / chunks);
            int end = (int)((long)count * (c + 1) / chunks);
            if (end > start) body(start, end);
        });
    }

    /// <summary>Runs body(i) for each i in [0, count), at most <c>threads</c> at a time, in dynamic order.</summary>
    public static void ForEach(int threads, int count, Action<int> body)
    {
        if (count <= 0) return;
        if (threads <= 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Run(Math.Min(threads, count), count, body);
    }

    /// <summary>
    /// body(i) for i in [0, count) on this thread and parallel − 1 helpers: the engine's <see cref="WorkerPool"/>,
    /// or, when another session holds it, the .NET thread pool; inline when called from inside a job's item.
    /// </summary>
    private static void Run(int parallel, int count, Action<int> body)
    {
        if (WorkerPool.InJob)
        {
            // already one item of a parallel job: the other threads are busy with its siblings
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        if (WorkerPool.Shared is { } pool && pool.TryRun(count, parallel - 1, body)) return;
        // As on the worker pool: every item runs, and the first exception reaches the caller as thrown (not wrapped).
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? error = null;
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
        {
            try
            {
                body(i);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref error, System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex), null);
            }
        });
        error?.Throw();
    }
}
