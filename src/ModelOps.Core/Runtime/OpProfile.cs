using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ModelOps.Core.Runtime;

/// <summary>
/// Per-op-type timing collected by the managed engine when given as <see cref="Ops.EngineOptions.Profile"/>:
/// for every op type, how many kernel calls ran and their total wall time. Accumulates over runs until
/// <see cref="Reset"/>. Safe to share between sessions (updates are locked).
/// </summary>
public sealed class OpProfile
{
    private readonly Dictionary<string, Entry> _byOp = new(StringComparer.Ordinal);

    public OpProfile(bool byShape = false) => ByShape = byShape;

    /// <summary>When true, entries are keyed by op type and input shapes ("Conv2D [1,64,64,3] [3,3,3,16]").</summary>
    public bool ByShape { get; }

    /// <summary>One op type's totals.</summary>
    public sealed record Entry(string Op, long Calls, double TotalMs)
    {
        /// <summary>Bytes the kernel calls allocated on the calling thread (GC allocations; worker threads not counted).</summary>
        public long AllocatedBytes { get; init; }
    }

    /// <summary>The totals so far, the most expensive op type first.</summary>
    public IReadOnlyList<Entry> Entries
    {
        get
        {
            lock (_byOp) return _byOp.Values.OrderByDescending(e => e.TotalMs).ThenBy(e => e.Op, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Sum of all kernel time recorded, in milliseconds.</summary>
    public double TotalMs
    {
        get
        {
            lock (_byOp) return _byOp.Values.Sum(e => e.TotalMs);
        }
    }

    private long _largest, _second;

    /// <summary>Bytes of the two largest tensors any kernel produced (activations; constants and feeds excluded).</summary>
    public (long Largest, long Second) LargestOutputs
    {
        get
        {
            lock (_byOp) return (_largest, _second);
        }
    }

    private long _peakLive, _peakPool;

    /// <summary>
    /// Most bytes of kernel outputs alive at once during a run (distinct arrays held for later readers,
    /// constants and feeds excluded): the activation memory a run needs with immediate release.
    /// </summary>
    public long PeakLiveBytes
    {
        get
        {
            lock (_byOp) return _peakLive;
        }
    }

    /// <summary>Most bytes the plan's buffer pool held at once (rented and free arrays) during a run.</summary>
    public long PeakPoolBytes
    {
        get
        {
            lock (_byOp) return _peakPool;
        }
    }

    public void Reset()
    {
        lock (_byOp)
        {
            _byOp.Clear();
            _largest = _second = 0;
            _peakLive = _peakPool = 0;
        }
    }

    internal void AddLive(long bytes)
    {
        lock (_byOp) _peakLive = Math.Max(_peakLive, bytes);
    }

    internal void AddPool(long bytes)
    {
        lock (_byOp) _peakPool = Math.Max(_peakPool, bytes);
    }

    internal void AddOutput(long bytes)
    {
        lock (_byOp)
        {
            if (bytes > _largest) { _second = _largest; _largest = bytes; }
            else if (bytes > _second) _second = bytes;
        }
    }

    internal void Add(string op, long stopwatchTicks, long allocatedBytes = 0)
    {
        double ms = stopwatchTicks * 1000.0 / Stopwatch.Frequency;
        lock (_byOp)
        {
            _byOp[op] = _byOp.TryGetValue(op, out var e)
                ? e with { Calls = e.Calls + 1, TotalMs = e.TotalMs + ms, AllocatedBytes = e.AllocatedBytes + allocatedBytes }
                : new Entry(op, 1, ms) { AllocatedBytes = allocatedBytes };
        }
    }

    /// <summary>A table of the <paramref name="top"/> most expensive op types with their share of the total.</summary>
    public string Format(int top = 10)
    {
        var entries = Entries;
        double total = entries.Sum(e => e.TotalMs);
        var sb = new StringBuilder();
        foreach (var e in entries.Take(top))
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"  {e.Op,-28} {e.Calls,7} calls {e.TotalMs,10:F2} ms {(total > 0 ? 100 * e.TotalMs / total : 0),5:F1}% {e.AllocatedBytes / 1e6,9:F2} MB alloc"));
        return sb.ToString();
    }
}
