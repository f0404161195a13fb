using System.Runtime.CompilerServices;

namespace ModelOps.Core.Runtime;

/// <summary>
/// Recycles the arrays of intermediate tensors within a run and across runs of one execution plan.
/// <para>
/// Kernels rent output arrays (through <see cref="Ops.KernelContext.Allocate{T}"/>); the executor counts,
/// per rented array, how many live value slots hold a tensor over it (Reshape, Identity, Squeeze ...
/// share arrays, so several slots may) and gives the array back when the count drops to zero. Only
/// arrays this pool handed out are ever recycled: constants, feeds and arrays a kernel allocated itself
/// are never touched. Arrays still held when a run ends (the fetched results, or anything a kernel
/// rented and did not output) leave the pool for good, so results handed to the caller stay valid.
/// </para>
/// <para>
/// Arrays are keyed by element type and exact length (a <see cref="Tensors.Tensor"/>'s array is exactly
/// its size). Between runs the pool keeps what the last runs used, up to <see cref="RetainLimitBytes"/>.
/// Rent/Return are locked so kernels may allocate from worker threads.
/// </para>
/// </summary>
internal sealed class BufferPool
{
    /// <summary>Arrays smaller than this many bytes are not pooled (allocating them is cheaper than tracking).</summary>
    internal const int MinPooledBytes = 1024;

    private sealed class Bucket
    {
        public readonly Stack<Array> Free = new();
        public int LastRun;
        /// <summary>Rents of this size in the previous run and so far in this one (plans are deterministic for fixed shapes).</summary>
        public int RentsLastRun, RentsThisRun;
    }

    private readonly Dictionary<(Type, int), Bucket> _buckets = new();
    // Every array the pool knows: -1 when free, else the number of live slots holding it (rented).
    private readonly Dictionary<Array, int> _state = new(ReferenceEqualityComparer.Instance);
    private readonly object _lock = new();
    private int _run;
    private long _freeBytes, _rentedBytes, _peakBytes, _peakRented, _lastPeakRented;

    /// <summary>Bytes of free arrays kept between runs at most (the rest is left to the GC).</summary>
    public long RetainLimitBytes { get; set; } = long.MaxValue;

    /// <summary>Bytes of free arrays the pool holds now.</summary>
    public long FreeBytes
    {
        get { lock (_lock) return _freeBytes; }
    }

    /// <summary>Most bytes the pool's arrays (free and rented) took at once in the last run.</summary>
    public long PeakBytes
    {
        get { lock (_lock) return _peakBytes; }
    }

    /// <summary>Number of rents served from a free array (reuse) and by a new allocation, over the pool's life.</summary>
    public long Reused { get; private set; }

    public long Allocated { get; private set; }

    /// <summary>A T[] of exactly <paramref name="length"/> elements, zeroed when <paramref name="clear"/> (else contents are undefined).</summary>
    public T[] Rent<T>(int length, bool clear) where T : unmanaged
    {
        long bytes = (long)length * Unsafe.SizeOf<T>();
        if (bytes < MinPooledBytes) return length == 0 ? Array.Empty<T>() : new T[length];
        lock (_lock)
        {
            var key = (typeof(T), length);
            if (!_buckets.TryGetValue(key, out var b)) _buckets[key] = b = new Bucket();
            b.LastRun = _run;
            b.RentsThisRun++;
            T[] a;
            if (b.Free.Count > 0)
            {
                a = (T[])b.Free.Pop();
                _freeBytes -= bytes;
                Reused++;
                if (clear) Array.Clear(a);
            }
            else
            {
                if (_lastPeakRented > 0) MakeRoom(bytes, Limit);
                a = GC.AllocateUninitializedArray<T>(length);
                if (clear) Array.Clear(a);
                Allocated++;
            }
            _state[a] = 0;
            _rentedBytes += bytes;
            _peakRented = Math.Max(_peakRented, _rentedBytes);
            _peakBytes = Math.Max(_peakBytes, _rentedBytes + _freeBytes);
            return a;
        }
    }

    /// <summary>True when <paramref name="a"/> is an array this pool rented out in the current run.</summary>
    public bool IsRented(Array a)
    {
        lock (_lock) return _state.TryGetValue(a, out int r) && r >= 0;
    }

    /// <summary>Live slots holding a rented array (0 for arrays the pool does not own).</summary>
    public int RefCount(Array a)
    {
        lock (_lock) return _state.TryGetValue(a, out int r) && r > 0 ? r : 0;
    }

    /// <summary>A slot now holds a tensor over <paramref name="a"/>.</summary>
    public void AddRef(Array a)
    {
        lock (_lock)
        {
            if (_state.TryGetValue(a, out int r) && r >= 0) _state[a] = r + 1;
        }
    }

    /// <summary>A slot holding a tensor over <paramref name="a"/> was dropped; the array is free again when no slot holds it.</summary>
    public void Release(Array a)
    {
        lock (_lock)
        {
            if (!_state.TryGetValue(a, out int r) || r <= 0) return;
            if (r > 1)
            {
                _state[a] = r - 1;
                return;
            }
            long bytes = Bytes(a);
            _rentedBytes -= bytes;
            var b = _buckets[(a.GetType().GetElementType()!, a.Length)];
            if (!Keep(b, bytes))
            {
                _state.Remove(a); // left to the GC
                return;
            }
            _state[a] = -1;
            _freeBytes += bytes;
            b.Free.Push(a);
        }
    }

    /// <summary>
    /// Whether a released array is kept. The pool holds (in use and free together) at most
    /// <see cref="HoldFactor"/> × the last run's peak of arrays in use. An array whose size is rented
    /// again later in this run (as in the last run: plans are deterministic for fixed shapes) is kept,
    /// evicting free arrays that are only kept for the next run if need be; any other is kept for the
    /// next run while the bound allows.
    /// </summary>
    private bool Keep(Bucket b, long bytes)
    {
        if (_lastPeakRented == 0) return true; // first run: nothing known yet
        long limit = Limit;
        if (b.RentsThisRun < b.RentsLastRun) MakeRoom(bytes, limit);
        return _rentedBytes + _freeBytes + bytes <= limit && _freeBytes + bytes <= RetainLimitBytes;
    }

    private long Limit => double.IsPositiveInfinity(HoldFactor) ? long.MaxValue : (long)(HoldFactor * _lastPeakRented);

    /// <summary>Drops free arrays no rent of this run will take (largest first) until <paramref name="bytes"/> more fit the limit.</summary>
    private void MakeRoom(long bytes, long limit)
    {
        while (_rentedBytes + _freeBytes + bytes > limit)
        {
            Bucket? victim = null;
            long victimBytes = 0;
            foreach (var b in _buckets.Values)
            {
                if (b.Free.Count == 0 || b.RentsThisRun < b.RentsLastRun) continue;
                long vb = Bytes(b.Free.Peek());
                if (vb > victimBytes) { victim = b; victimBytes = vb; }
            }
            if (victim is null) return;
            Drop(victim.Free.Pop());
        }
    }

    /// <summary>Bound of the bytes the pool holds (in use and free), as a multiple of the last run's peak in use (∞: keep every array).</summary>
    public double HoldFactor { get; set; } = double.PositiveInfinity;

    /// <summary>
    /// Takes back, as a free array, one this pool rented in an earlier run and handed to the caller (a result the
    /// caller has said it no longer uses: <see cref="Ops.EngineOptions.ReuseOutputBuffers"/>). Kept like any
    /// released array, within the hold bound.
    /// </summary>
    public void Adopt(Array a)
    {
        long bytes = Bytes(a);
        if (bytes < MinPooledBytes) return;
        lock (_lock)
        {
            if (_state.ContainsKey(a)) return;
            var key = (a.GetType().GetElementType()!, a.Length);
            if (!_buckets.TryGetValue(key, out var b)) _buckets[key] = b = new Bucket { LastRun = _run };
            if (!Keep(b, bytes)) return;
            _state[a] = -1;
            _freeBytes += bytes;
            b.Free.Push(a);
            _peakBytes = Math.Max(_peakBytes, _rentedBytes + _freeBytes);
        }
    }

    /// <summary>A kernel gives back a scratch array it rented and did not output.</summary>
    public void ReturnScratch(Array a)
    {
        lock (_lock)
        {
            if (!_state.TryGetValue(a, out int r) || r != 0) return;
            _state[a] = 1;
        }
        Release(a);
    }

    /// <summary>
    /// Ends a run (normally or by an exception): every array still rented leaves the pool (it is a
    /// result now, or nobody holds it); buckets unused in the last two runs are dropped, and free arrays
    /// beyond <see cref="RetainLimitBytes"/> are left to the GC.
    /// </summary>
    public void EndRun()
    {
        lock (_lock)
        {
            var escaped = new List<Array>();
            foreach (var (a, r) in _state)
                if (r >= 0) escaped.Add(a);
            foreach (var a in escaped) _state.Remove(a);
            _rentedBytes = 0;
            List<(Type, int)>? stale = null;
            foreach (var (key, b) in _buckets)
                if (_run - b.LastRun >= 2) (stale ??= new()).Add(key);
            if (stale is not null)
                foreach (var key in stale)
                {
                    foreach (var a in _buckets[key].Free) Drop(a);
                    _buckets.Remove(key);
                }
            _lastPeakRented = _peakRented;
            long keep = Math.Min(RetainLimitBytes, _lastPeakRented > 0 ? Limit : long.MaxValue);
            if (_freeBytes > keep)
                foreach (var b in _buckets.Values.OrderByDescending(b => b.Free.Count > 0 ? Bytes(b.Free.Peek()) : 0))
                    while (_freeBytes > keep && b.Free.Count > 0) Drop(b.Free.Pop());
            foreach (var b in _buckets.Values)
            {
                b.RentsLastRun = b.RentsThisRun;
                b.RentsThisRun = 0;
            }
            _peakRented = 0;
            _run++;
            _peakBytes = _freeBytes;
        }
    }

    private void Drop(Array a)
    {
        _state.Remove(a);
        _freeBytes -= Bytes(a);
    }

    internal static long Bytes(Array a) => (long)a.Length * ElementSize(a.GetType().GetElementType()!);

    private static int ElementSize(Type t) =>
        t == typeof(double) || t == typeof(long) || t == typeof(ulong) ? 8
        : t == typeof(float) || t == typeof(int) || t == typeof(uint) ? 4
        : t == typeof(short) || t == typeof(ushort) || t == typeof(Half) || t == typeof(char) ? 2
        : t == typeof(byte) || t == typeof(sbyte) || t == typeof(bool) ? 1
        : System.Runtime.InteropServices.Marshal.SizeOf(t);
}
