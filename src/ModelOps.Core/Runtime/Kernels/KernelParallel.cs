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
        var po = new ParallelOptions { MaxDegreeOfParallelism = chunks };
        Parallel.For(0, chunks, po, c =>
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
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(threads, count) }, body);
    }
}
