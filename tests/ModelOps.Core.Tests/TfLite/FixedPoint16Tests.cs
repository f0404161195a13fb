using System.Security.Cryptography;
using ModelOps.Core.Runtime.TfLite.Kernels;
using Xunit;

namespace ModelOps.Core.Tests.TfLite;

/// <summary>
/// The int16 gemmlowp functions behind the integer LSTM, over every one of the 65536 inputs. The digests are of the
/// outputs (int16 little-endian, inputs −32768 … 32767 in order) of gemmlowp's own fixedpoint/fixedpoint.h
/// (google/gemmlowp 16e8662c34917be0065110bfcd9cc27d30f52fdf, scalar code, compiled with g++ -O1): logistic of
/// FixedPoint&lt;int16, 3&gt; and tanh of FixedPoint&lt;int16, n&gt;, n = 0 … 6, as TFLite's ApplySigmoid / ApplyTanh call them.
/// </summary>
public class FixedPoint16Tests
{
    private static string Digest(Func<short, short> f)
    {
        var bytes = new byte[65536 * 2];
        for (int raw = short.MinValue; raw <= short.MaxValue; raw++)
            BitConverter.TryWriteBytes(bytes.AsSpan((raw - short.MinValue) * 2), f((short)raw));
        return Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
    }

    [Fact]
    public void LogisticEqualsGemmlowpOnEveryInput()
    {
        Assert.Equal("44168980e98373fcf68adda21fdb4d006b79a4ca14df0269ff958e49f9fa6062", Digest(x => QuantMath.FixedPoint16.Logistic(x, 3)));
        // gemmlowp's 16-bit Newton-Raphson is not monotonic everywhere; it is what TFLite computes.
        Assert.Equal(845, QuantMath.FixedPoint16.Logistic(-14886, 3));
        Assert.Equal(839, QuantMath.FixedPoint16.Logistic(-14885, 3));
        Assert.Equal(16384, QuantMath.FixedPoint16.Logistic(0, 3));
    }

    [Theory]
    [InlineData(0, "7dfff607d0ea23f26e97381570dc526c09e7e35712bb5189e3446a74c40195fd")]
    [InlineData(1, "fb776c014fac7629065f2a77399d275a8aaf30392a9fbe0199d7218f3a06e0e4")]
    [InlineData(2, "ad9e4552d55f09f5540bf0bffc1b4ed83c2c7ce5d77cb51fef2e900d4e4147ba")]
    [InlineData(3, "6d2c95677d4eb6e25f2c8bec6e3135082a0f64cdde758d75414b7c1de542115f")]
    [InlineData(4, "22e8b026529f39771f93c8fb7ecff865c9e75fca5923a2a8e63c21380d6be4e0")]
    [InlineData(5, "4aad698c1ba273d4966d2b3cc31fa76d30322d1f05339bc5626965be88d5e904")]
    [InlineData(6, "fd771a11c73c2d1390c3b8289e6c61c290d6c399bdf63a79f1d09a49b53af09f")]
    public void TanhEqualsGemmlowpOnEveryInput(int integerBits, string digest) =>
        Assert.Equal(digest, Digest(x => QuantMath.FixedPoint16.Tanh(x, integerBits)));

    [Fact]
    public void BothAreCloseToTheRealFunctions()
    {
        double worstSigmoid = 0, worstTanh = 0;
        for (int raw = short.MinValue; raw <= short.MaxValue; raw++)
        {
            worstSigmoid = Math.Max(worstSigmoid, Math.Abs(QuantMath.FixedPoint16.Logistic((short)raw, 3) / 32768.0 - 1 / (1 + Math.Exp(-raw / 4096.0))));
            worstTanh = Math.Max(worstTanh, Math.Abs(QuantMath.FixedPoint16.Tanh((short)raw, 3) / 32768.0 - Math.Tanh(raw / 4096.0)));
        }
        Assert.InRange(worstSigmoid, 0, 1e-3);
        Assert.InRange(worstTanh, 0, 1e-3);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1000)]
    [InlineData(123456)]
    [InlineData(1 << 29)]
    [InlineData(int.MaxValue)]
    public void InvSqrtMultiplierIsOneOverTheSquareRoot(int input)
    {
        // With reverse_shift 1, (m, s) stands for m · 2^s / 2^31, which the layer norm applies to values scaled by 2^10:
        // up to that power of two it is 1/sqrt(input), to the Newton-Raphson iteration's accuracy.
        var (m, s) = QuantMath.InvSqrtQuantizedMultiplierExp(input, 1);
        double relative = m * Math.Pow(2, s) / Math.Pow(2, 31) * Math.Sqrt(input);
        Assert.True(m > 0);
        Assert.InRange(relative / Math.Pow(2, Math.Round(Math.Log2(relative))), 0.9999, 1.0001);
    }
}
