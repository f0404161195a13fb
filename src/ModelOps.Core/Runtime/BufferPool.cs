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
/// The first run of a plan rents arrays of exactly the size asked for, keyed by element type and length, and
/// records every rent (type, length, whether the kernel takes a longer array) and when its array came back.
/// From that record the pool plans buffers for the next runs: each rent shares the smallest buffer that is long
/// enough and free over its whole lifetime, else lengthens one, else gets a new one (a greedy assignment, tried in
/// several orders, the plan of fewest bytes kept: see <see cref="BuildPlan"/>). A rent whose kernel takes longer
/// arrays (<see cref="Ops.KernelTraits.SpareCapacity"/>) may share a longer buffer; any other only a buffer of its
/// exact length. Plans are deterministic for fixed shapes, so
/// later runs rent in the same order and the k-th rent gets its planned buffer; a run that rents otherwise
/// (new input shapes) falls back to exact arrays for what no longer matches and replans from its own record.
/// Rents never given back in the recorded run (the fetched results) stay exact arrays outside the plan.
/// Between runs the pool keeps the planned buffers, and fallback arrays up to <see cref="RetainLimitBytes"/>.
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

    /// <summary>One rent of a run: what was asked for, and when (on the pool's clock) it was rented and given back (-1: never).</summary>
    private struct RentRecord
    {
        public required Type Type;
        public required int Length;
        public required bool Spare;
        public required long Bytes;
        public required int Rented;
        public int Released;
    }

    /// <summary>Per rent of a run, in order: the signature expected and the planned buffer (-1: not planned).</summary>
    private readonly record struct PlannedRent(Type Type, int Length, bool Spare, int Buffer);

    private readonly Dictionary<(Type, int), Bucket> _buckets = new();
    private RentRecord[] _log = new RentRecord[64]; // this run's rents, in order (kept between runs: no allocation per rent)
    private int _logCount;
    private readonly Dictionary<Array, int> _logIndex = new(ReferenceEqualityComparer.Instance);
    private int _clock;
    private PlannedRent[]? _plan;
    private Array?[] _buffers = Array.Empty<Array?>();
    private (Type Type, int Length)[] _bufferShape = Array.Empty<(Type, int)>();
    private readonly Dictionary<Array, int> _bufferOf = new(ReferenceEqualityComparer.Instance);
    private long _plannedBytes;
    private bool _deviated;
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
    public T[] Rent<T>(int length, bool clear) where T : unmanaged => Rent<T>(length, clear, spare: false);

    /// <summary>
    /// A T[] of <paramref name="length"/> elements, or more when <paramref name="spare"/> (the caller uses the first
    /// <paramref name="length"/>); those are zeroed when <paramref name="clear"/> (else contents are undefined).
    /// </summary>
    public T[] Rent<T>(int length, bool clear, bool spare) where T : unmanaged
    {
        long bytes = (long)length * Unsafe.SizeOf<T>();
        // Elements over 16 bytes are never pooled (no storage type has them): Untracked relies on it.
        if (bytes < MinPooledBytes || Unsafe.SizeOf<T>() > 16) return length == 0 ? Array.Empty<T>() : new T[length];
        lock (_lock)
        {
            int k = _logCount++;
            if (k == _log.Length) Array.Resize(ref _log, 2 * k);
            _log[k] = new RentRecord { Type = typeof(T), Length = length, Spare = spare, Bytes = bytes, Rented = _clock++, Released = -1 };
            if (Planned<T>(k, length, spare) is { } p)
            {
                if (clear) Array.Clear(p, 0, length);
                _state[p] = 0;
                _logIndex[p] = k;
                _rentedBytes += Bytes(p);
                Reused++;
                _peakRented = Math.Max(_peakRented, _rentedBytes);
                _peakBytes = Math.Max(_peakBytes, _rentedBytes + _freeBytes + FreePlannedBytes);
                return p;
            }
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
            _logIndex[a] = k;
            _rentedBytes += bytes;
            _peakRented = Math.Max(_peakRented, _rentedBytes);
            _peakBytes = Math.Max(_peakBytes, _rentedBytes + _freeBytes + FreePlannedBytes);
            return a;
        }
    }

    // Bytes of planned buffers in use (counted in _rentedBytes too while rented).
    private long _plannedRentedBytes;

    /// <summary>Bytes of the planned buffers that exist and are free now.</summary>
    private long FreePlannedBytes => _plannedBytes - _plannedRentedBytes;

    /// <summary>
    /// Rent k's planned buffer when this run still follows the plan and the buffer is free; else null: the rent was
    /// not planned (a result), or the run has deviated from the record (other sizes, other lifetimes).
    /// </summary>
    private T[]? Planned<T>(int k, int length, bool spare) where T : unmanaged
    {
        if (_plan is null) return null;
        if (k >= _plan.Length || _plan[k].Type != typeof(T) || _plan[k].Length != length || _plan[k].Spare != spare)
        {
            _deviated = true;
            return null;
        }
        int b = _plan[k].Buffer;
        if (b < 0) return null;
        if (_buffers[b] is T[] existing)
        {
            if (_state.TryGetValue(existing, out int r) && r >= 0)
            {
                _deviated = true; // still in use: lifetimes differ from the record
                return null;
            }
            _plannedRentedBytes += Bytes(existing);
            return existing;
        }
        var a = GC.AllocateUninitializedArray<T>(_bufferShape[b].Length);
        _buffers[b] = a;
        _bufferOf[a] = b;
        _plannedBytes += Bytes(a);
        _plannedRentedBytes += Bytes(a);
        Allocated++;
        return a;
    }

    /// <summary>True when <paramref name="a"/> is an array this pool rented out in the current run.</summary>
    public bool IsRented(Array a)
    {
        if (Untracked(a)) return false;
        lock (_lock) return _state.TryGetValue(a, out int r) && r >= 0;
    }

    /// <summary>Live slots holding a rented array (0 for arrays the pool does not own).</summary>
    public int RefCount(Array a)
    {
        if (Untracked(a)) return 0;
        lock (_lock) return _state.TryGetValue(a, out int r) && r > 0 ? r : 0;
    }

    /// <summary>
    /// True for an array too short to be one of the pool's whatever its element type (elements take at most 16 bytes, and
    /// the pool tracks only arrays of <see cref="MinPooledBytes"/> or more): the executor asks about every tensor of a run,
    /// and the tiny ones (scalars, shapes) need no lock and no lookup.
    /// </summary>
    private static bool Untracked(Array a) => a.Length < MinPooledBytes / 16;

    /// <summary>A slot now holds a tensor over <paramref name="a"/>.</summary>
    public void AddRef(Array a)
    {
        if (Untracked(a)) return;
        lock (_lock)
        {
            if (_state.TryGetValue(a, out int r) && r >= 0) _state[a] = r + 1;
        }
    }

    /// <summary>A slot holding a tensor over <paramref name="a"/> was dropped; the array is free again when no slot holds it.</summary>
    public void Release(Array a)
    {
        if (Untracked(a)) return;
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
            if (_logIndex.Remove(a, out int k)) _log[k].Released = _clock++;
            if (_bufferOf.ContainsKey(a))
            {
                _state[a] = -1; // a planned buffer: free until its next planned rent
                _plannedRentedBytes -= bytes;
                return;
            }
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
            _peakBytes = Math.Max(_peakBytes, _rentedBytes + _freeBytes + FreePlannedBytes);
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
    /// beyond <see cref="RetainLimitBytes"/> are left to the GC. After a run that completed without a plan
    /// or off its plan, the next runs' buffers are planned from its record.
    /// </summary>
    public void EndRun() => EndRun(completed: true);

    /// <inheritdoc cref="EndRun()"/>
    public void EndRun(bool completed)
    {
        lock (_lock)
        {
            var escaped = new List<Array>();
            foreach (var (a, r) in _state)
                if (r >= 0) escaped.Add(a);
            foreach (var a in escaped)
            {
                _state.Remove(a);
                if (_bufferOf.Remove(a, out int pb))
                {
                    _buffers[pb] = null; // a planned buffer the caller now holds: made anew when next planned
                    _plannedBytes -= Bytes(a);
                }
            }
            _rentedBytes = 0;
            _plannedRentedBytes = 0;
            if (completed && (_plan is null || _deviated || _logCount != _plan.Length)) BuildPlan();
            Array.Clear(_log, 0, _logCount); // drop the Type references
            _logCount = 0;
            _logIndex.Clear();
            _clock = 0;
            _deviated = false;
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
            _peakBytes = _freeBytes + _plannedBytes;
        }
    }

    /// <summary>Bytes of the buffers the plan holds now (made at their first planned rent, kept between runs).</summary>
    public long PlannedBytes
    {
        get { lock (_lock) return _plannedBytes; }
    }

    /// <summary>Number of buffers in the current plan (0 before the first run completes).</summary>
    public int PlannedBuffers
    {
        get { lock (_lock) return _bufferShape.Length; }
    }

    /// <summary>
    /// Plans buffers from this run's record with <see cref="Assign"/> in several orders (TFLite's GPU delegate plans its
    /// shared objects with the same kind of greedy assignment). Rents never given back are left out. Buffers of the old plan with the shape a new
    /// one needs are carried over; the rest, and the fallback arrays kept free, are left to the GC.
    /// </summary>
    private void BuildPlan()
    {
        // Several orders of assignment, the plan of fewest bytes kept (none wins on every model): largest rent first;
        // rents alive at the busiest moments first (breadth: bytes in use when a rent is taken; peak breadth: the most
        // over its lifetime); the order of the run; largest and longest-lived first; size times lifetime; and ten
        // sizes jittered by up to ±20% (a fixed seed: plans stay deterministic).
        var planned = Enumerable.Range(0, _logCount).Where(i => _log[i].Released >= 0).ToArray();
        var breadth = new long[_logCount];
        foreach (int i in planned)
            foreach (int j in planned)
                if (_log[j].Rented <= _log[i].Rented && _log[i].Rented < _log[j].Released) breadth[i] += _log[j].Bytes;
        (int[] Buffer, List<(Type Type, int Length)> Shapes, long Bytes)? best = null;
        var peakBreadth = new long[_logCount];
        foreach (int i in planned)
            foreach (int j in planned)
                if (_log[i].Rented <= _log[j].Rented && _log[j].Rented < _log[i].Released) peakBreadth[i] = Math.Max(peakBreadth[i], breadth[j]);
        var rnd = new Random(1);
        var orders = new List<int[]>
        {
            planned.OrderByDescending(i => _log[i].Bytes).ThenBy(i => _log[i].Rented).ToArray(),
            planned.OrderByDescending(i => breadth[i]).ThenByDescending(i => _log[i].Bytes).ToArray(),
            planned,
            planned.OrderByDescending(i => peakBreadth[i]).ThenByDescending(i => _log[i].Bytes).ToArray(),
            planned.OrderByDescending(i => _log[i].Bytes).ThenByDescending(i => _log[i].Released - _log[i].Rented).ToArray(),
            planned.OrderByDescending(i => (double)_log[i].Bytes * (_log[i].Released - _log[i].Rented)).ToArray(),
        };
        for (int q = 0; q < 10; q++) orders.Add(planned.OrderByDescending(i => _log[i].Bytes * (0.8 + 0.4 * rnd.NextDouble())).ToArray());
        foreach (var order in orders)
        {
            var candidate = Assign(order);
            if (best is null || candidate.Bytes < best.Value.Bytes) best = candidate;
        }
        var shapes = best!.Value.Shapes;
        var plan = new PlannedRent[_logCount];
        for (int i = 0; i < plan.Length; i++) plan[i] = new PlannedRent(_log[i].Type, _log[i].Length, _log[i].Spare, best.Value.Buffer[i]);

        // Carry over the old plan's buffers and the free fallback arrays of a needed shape; the rest is left to the GC.
        var old = new Dictionary<(Type, int), Stack<Array>>();
        void Offer(Array a)
        {
            var key = (a.GetType().GetElementType()!, a.Length);
            (old.TryGetValue(key, out var st) ? st : old[key] = new Stack<Array>()).Push(a);
            _state.Remove(a);
        }
        foreach (var a in _buffers)
            if (a is not null) Offer(a);
        foreach (var bucket in _buckets.Values)
            while (bucket.Free.Count > 0)
            {
                var a = bucket.Free.Pop();
                _freeBytes -= Bytes(a);
                Offer(a);
            }
        _bufferOf.Clear();
        _plannedBytes = 0;
        _buffers = new Array?[shapes.Count];
        for (int b = 0; b < shapes.Count; b++)
            if (old.TryGetValue(shapes[b], out var st) && st.Count > 0)
            {
                var a = st.Pop();
                _buffers[b] = a;
                _bufferOf[a] = b;
                _state[a] = -1;
                _plannedBytes += Bytes(a);
            }
        _bufferShape = shapes.ToArray();
        _plan = plan;
    }

    /// <summary>
    /// Buffers for the recorded rents taken in <paramref name="order"/>: each goes to the smallest buffer free over its
    /// lifetime that is long enough (a rent needing an exact array: of its very length); else a free buffer of
    /// spare rents only is lengthened to it (the longest such, so the least is added); else a new buffer.
    /// </summary>
    private (int[] Buffer, List<(Type Type, int Length)> Shapes, long Bytes) Assign(int[] order)
    {
        var shapes = new List<(Type Type, int Length)>();
        var exact = new List<bool>();
        var lifetimes = new List<List<(int From, int To)>>();
        var buffer = new int[_logCount];
        Array.Fill(buffer, -1);
        foreach (int i in order)
        {
            var r = _log[i];
            int fit = -1, grow = -1;
            for (int b = 0; b < shapes.Count; b++)
            {
                var (t, len) = shapes[b];
                if (t != r.Type) continue;
                bool fits = r.Spare ? len >= r.Length : len == r.Length;
                bool growable = r.Spare && !exact[b] && len < r.Length;
                if (!fits && !growable) continue;
                if (fits && fit >= 0 && len >= shapes[fit].Length) continue;
                if (!fits && grow >= 0 && len <= shapes[grow].Length) continue;
                bool free = true;
                foreach (var (from, to) in lifetimes[b])
                    if (r.Rented < to && from < r.Released) { free = false; break; }
                if (!free) continue;
                if (fits) fit = b;
                else grow = b;
            }
            int chosen = fit >= 0 ? fit : grow;
            if (chosen < 0)
            {
                chosen = shapes.Count;
                shapes.Add((r.Type, r.Length));
                exact.Add(false);
                lifetimes.Add(new List<(int, int)>());
            }
            else if (shapes[chosen].Length < r.Length) shapes[chosen] = (r.Type, r.Length);
            if (!r.Spare) exact[chosen] = true;
            lifetimes[chosen].Add((r.Rented, r.Released));
            buffer[i] = chosen;
        }
        long bytes = 0;
        for (int b = 0; b < shapes.Count; b++) bytes += (long)shapes[b].Length * ElementSize(shapes[b].Type);
        return (buffer, shapes, bytes);
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
