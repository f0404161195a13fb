using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// The kernels' own worker threads (one fewer than the processor count): a job of N independent items is
/// shared by the calling thread and the workers, each taking the next item until none is left. Workers spin
/// for a short while after a job (the next kernel of a run follows within microseconds) and then sleep, so an
/// idle engine costs no CPU. This avoids the task machinery of <see cref="Parallel.For(int, int, Action{int})"/>
/// (allocations, thread-pool wake-up latency) on kernels that take only tens of microseconds.
/// <para>
/// One job at a time: a job started while another runs (a nested kernel call from inside a job, or another
/// session on another thread) is refused, and the caller runs it by other means.
/// </para>
/// </summary>
internal sealed class WorkerPool
{
    /// <summary>How long an idle worker keeps polling for the next job before it sleeps.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 10_000; // 100 µs

    private static readonly Lazy<WorkerPool?> s_shared = new(() => Environment.ProcessorCount > 1 ? new WorkerPool(Environment.ProcessorCount - 1) : null);

    /// <summary>The process-wide pool, or null on a single-processor machine.</summary>
    public static WorkerPool? Shared => s_shared.Value;

    private readonly SemaphoreSlim _wake = new(0);
    private int _busy;       // 1 while a job runs
    private int _sleepers;   // workers waiting on _wake
    private Job? _job;       // the last job published

    /// <summary>One job: its items are claimed through Next; a worker holding a finished job finds nothing left.</summary>
    private sealed class Job(Action<int> body, int count, int seats)
    {
        public readonly Action<int> Body = body;
        public readonly int Count = count;
        public int Next, Seats = seats, Pending = count;
        public ExceptionDispatchInfo? Error;
    }

    private WorkerPool(int workers)
    {
        Workers = workers;
        for (int i = 0; i < workers; i++)
            new Thread(WorkerLoop) { IsBackground = true, Name = "ModelOps kernel worker " + (i + 1) }.Start();
    }

    public int Workers { get; }

    /// <summary>
    /// Runs body(i) for i in [0, count) on the calling thread and up to <paramref name="helpers"/> workers;
    /// returns false at once (nothing run) when another job holds the pool. Rethrows the first exception
    /// of any item after every item has finished.
    /// </summary>
    public bool TryRun(int count, int helpers, Action<int> body)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            var job = new Job(body, count, Math.Min(helpers, Workers));
            Volatile.Write(ref _job, job);
            int sleeping = Interlocked.Exchange(ref _sleepers, 0);
            if (sleeping > 0) _wake.Release(sleeping);
            Drain(job);
            var spin = new SpinWait();
            while (Volatile.Read(ref job.Pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            job.Error?.Throw();
            return true;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>True on a thread while it runs an item of a job (a kernel call nested in one runs inline).</summary>
    public static bool InJob => t_inJob;

    [ThreadStatic] private static bool t_inJob;

    private static void Drain(Job job)
    {
        t_inJob = true;
        for (int i = Interlocked.Increment(ref job.Next) - 1; i < job.Count; i = Interlocked.Increment(ref job.Next) - 1)
        {
            try
            {
                job.Body(i);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref job.Error, ExceptionDispatchInfo.Capture(ex), null);
            }
            finally
            {
                Interlocked.Decrement(ref job.Pending);
            }
        }
        t_inJob = false;
    }

    private void WorkerLoop()
    {
        Job? seen = Volatile.Read(ref _job);
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            Job? job;
            while ((job = Volatile.Read(ref _job)) == seen)
            {
                if (Stopwatch.GetTimestamp() - start > SpinTicks)
                {
                    Interlocked.Increment(ref _sleepers);
                    if (Volatile.Read(ref _job) == seen) _wake.Wait(); // else a job came meanwhile (a spare permit may remain: harmless)
                    start = Stopwatch.GetTimestamp();
                    continue;
                }
                Thread.SpinWait(20);
            }
            seen = job;
            // A seat per helper the job asked for; a worker without one goes back to waiting.
            if (job is not null && Interlocked.Decrement(ref job.Seats) >= 0) Drain(job);
        }
    }
}
