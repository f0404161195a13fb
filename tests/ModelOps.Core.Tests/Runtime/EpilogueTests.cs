using ModelOps.Core.Runtime.Kernels;
using System.Runtime.Intrinsics;
using Xunit;

namespace ModelOps.Core.Tests.Runtime;

/// <summary>Fused epilogues: act(x·scale + shift + residual) per row, every activation, against double precision.</summary>
public class EpilogueTests
{
    [Fact]
    public unsafe void PartialVec_moves_exactly_the_first_n_floats()
    {
        if (!System.Runtime.Intrinsics.X86.Avx.IsSupported) return; // the helper is only called on AVX machines
        for (int n = 0; n < 8; n++)
        {
            var src = Enumerable.Range(1, 8).Select(i => (float)i).ToArray();
            var dst = Enumerable.Repeat(-1f, 10).ToArray();
            fixed (float* ps = src)
            fixed (float* pd = dst)
            {
                var v = PartialVec.Load(ps, n);
                for (int i = 0; i < 8; i++) Assert.Equal(i < n ? src[i] : 0f, v.GetElement(i));
                PartialVec.Store(pd + 1, v + Vector256.Create(100f), n);
            }
            for (int i = 0; i < 10; i++) Assert.Equal(i >= 1 && i <= n ? src[i - 1] + 100f : -1f, dst[i]);
        }
    }

    private static double Act(FusedActivation act, double v, double alpha) => act switch
    {
        FusedActivation.None => v,
        FusedActivation.Relu => Math.Max(v, 0),
        FusedActivation.Relu6 => Math.Clamp(v, 0, 6),
        FusedActivation.LeakyRelu => v < 0 ? v * alpha : v,
        FusedActivation.Sigmoid => 1 / (1 + Math.Exp(-v)),
        FusedActivation.Tanh => Math.Tanh(v),
        FusedActivation.Elu => v < 0 ? Math.Exp(v) - 1 : v,
        FusedActivation.GeluApproximate => 0.5 * v * (1 + Math.Tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))),
        FusedActivation.GeluExact => 0.5 * v * (1 + SpecialFunctions.Erf(v / Math.Sqrt(2))),
        _ => throw new ArgumentException(act.ToString()),
    };

    [Theory]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(15)]
    [InlineData(33)]
    public unsafe void ContiguousNarrowRowsGiveTheBitsOfRowByRow(int cols)
    {
        // Contiguous rows narrower than 64 run as one flat array with repeated scale/shift patterns; rows one column
        // apart in memory (ldc = cols + 1) run row by row. Both must give the same bits, for every piecewise-linear act.
        const int rows = 13;
        var rng = new Random(cols);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var scale = R(cols);
        var shift = R(cols);
        var data = R(rows * cols);
        var residual = R(rows * cols);
        foreach (var act in new[] { FusedActivation.None, FusedActivation.Relu, FusedActivation.Relu6, FusedActivation.LeakyRelu })
            foreach (var (withScale, withRes) in new[] { (true, true), (false, false), (false, true) })
            {
                var flat = (float[])data.Clone();
                var strided = new float[rows * (cols + 1)];
                var stridedRes = new float[rows * (cols + 1)];
                for (int r = 0; r < rows; r++)
                {
                    Array.Copy(data, r * cols, strided, r * (cols + 1), cols);
                    Array.Copy(residual, r * cols, stridedRes, r * (cols + 1), cols);
                }
                fixed (float* pf = flat)
                fixed (float* ps = strided)
                fixed (float* pScale = scale)
                fixed (float* pShift = shift)
                fixed (float* pRes = residual)
                fixed (float* pStridedRes = stridedRes)
                {
                    Epilogue.ApplyBlock(pf, cols, rows, cols, withScale ? pScale : null, pShift, withRes ? pRes : null, act, 0.1f);
                    Epilogue.ApplyBlock(ps, cols + 1, rows, cols, withScale ? pScale : null, pShift, withRes ? pStridedRes : null, act, 0.1f);
                }
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < cols; j++)
                        Assert.True(BitConverter.SingleToInt32Bits(flat[r * cols + j]) == BitConverter.SingleToInt32Bits(strided[r * (cols + 1) + j]),
                            $"{act} scale={withScale} res={withRes} [{r},{j}]: {flat[r * cols + j]:R} vs {strided[r * (cols + 1) + j]:R}");
            }
    }

    [Theory]
    [InlineData(7, 3)]
    [InlineData(5, 16)]
    [InlineData(3, 37)]
    [InlineData(4, 9)]
    [InlineData(2, 10)]
    [InlineData(3, 14)]
    [InlineData(2, 15)]
    public void EveryActivationWithScaleShiftAndResidual(int rows, int cols)
    {
        var rng = new Random(rows * 100 + cols);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var scale = R(cols);
        var shift = R(cols);
        var residual = R(rows * cols);
        foreach (var act in Enum.GetValues<FusedActivation>())
            foreach (bool full in new[] { true, false })
            {
                var c = R(rows * cols);
                var input = (float[])c.Clone();
                var e = full
                    ? new Epilogue { Scale = scale, Shift = shift, Residual = residual, Activation = act, LeakyAlpha = 0.1f }
                    : new Epilogue { Activation = act, LeakyAlpha = 0.1f };
                // Rows in two calls, as the convolution kernels apply them per block of rows.
                e.Apply(c, 0, 0, rows / 2, cols);
                e.Apply(c, 0, rows / 2, rows, cols);
                for (int i = 0; i < c.Length; i++)
                {
                    // The pre-activation sum is rounded to float as the kernel does; the activation is compared in double.
                    float pre = input[i];
                    if (full) pre = pre * scale[i % cols] + shift[i % cols] + residual[i];
                    double expected = Act(act, pre, 0.1f);
                    double err = Math.Abs(c[i] - expected);
                    Assert.True(err <= 1e-6 * Math.Max(1, Math.Abs(expected)), $"{act} full={full} [{i}]: {c[i]:R}, expected {expected:R}");
                }
            }
    }
}
