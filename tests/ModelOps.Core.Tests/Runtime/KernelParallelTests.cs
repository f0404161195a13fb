using ModelOps.Core.Runtime.Kernels;
using Xunit;

namespace ModelOps.Core.Tests.Runtime;

public class KernelParallelTests
{
    [Fact]
    public void ForCoversEveryItemOnceInContiguousChunks()
    {
        foreach (int count in new[] { 1, 2, 7, 1000, 100_000 })
            foreach (int threads in new[] { 1, 2, 4 })
            {
                var hits = new int[count];
                KernelParallel.For(threads, count, 1, (s, e) =>
                {
                    for (int i = s; i < e; i++) Interlocked.Increment(ref hits[i]);
                }, minWorkPerChunk: 1);
                Assert.All(hits, h => Assert.Equal(1, h));
            }
    }

    [Fact]
    public void ForEachRunsEveryItemOnceAndNestedCallsRunInline()
    {
        var hits = new int[64 * 50];
        for (int round = 0; round < 50; round++)
        {
            int r = round;
            KernelParallel.ForEach(2, 8, i =>
            {
                // a kernel inside a kernel's item (conv tasks calling the GEMM): runs inline, still complete
                KernelParallel.For(2, 8, 1_000_000, (s, e) =>
                {
                    for (int j = s; j < e; j++) Interlocked.Increment(ref hits[r * 64 + i * 8 + j]);
                });
            });
        }
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void AnItemsExceptionReachesTheCallerAfterTheOthersFinish()
    {
        int done = 0;
        var ex = Assert.Throws<InvalidOperationException>(() => KernelParallel.ForEach(2, 16, i =>
        {
            if (i == 5) throw new InvalidOperationException("item 5");
            Thread.SpinWait(1000);
            Interlocked.Increment(ref done);
        }));
        Assert.Equal("item 5", ex.Message);
        Assert.Equal(15, done);
        // the pool is usable again afterwards
        var hits = new int[32];
        KernelParallel.ForEach(2, 32, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ConcurrentCallersFromSeveralThreadsAllComplete()
    {
        // several sessions at once: one holds the worker pool, the others fall back to the .NET thread pool
        const int callers = 4, rounds = 200, items = 16;
        var totals = new long[callers];
        var threads = Enumerable.Range(0, callers).Select(c => new Thread(() =>
        {
            for (int r = 0; r < rounds; r++)
                KernelParallel.ForEach(2, items, i => Interlocked.Add(ref totals[c], i + 1));
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.All(totals, t => Assert.Equal(rounds * items * (items + 1) / 2, t));
    }
}
