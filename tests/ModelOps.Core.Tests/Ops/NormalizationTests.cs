using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

public class NormalizationTests
{
    [Fact]
    public void FusedBatchNormInference()
    {
        var x = K.F([1, 2, 3, 4, 5, 6], 1, 1, 3, 2);
        var attrs = K.A(("is_training", Attr.Bool(false)), ("epsilon", Attr.Float(0.01f)));
        float[] scale = [2, 0.5f], offset = [1, -1], mean = [3, 4], variance = [4, 0.99f];
        var r = K.Run("FusedBatchNormV3", attrs, 6, x, K.F(scale, 2), K.F(offset, 2), K.F(mean, 2), K.F(variance, 2))[0];
        var exp = x.As<float>().Select((v, i) => (v - mean[i % 2]) * scale[i % 2] / MathF.Sqrt(variance[i % 2] + 0.01f) + offset[i % 2]).ToArray();
        K.Close(exp, r.As<float>());
    }

    [Fact]
    public void FusedBatchNormTrainingUsesBatchStatistics()
    {
        var x = K.F([1, 10, 3, 20, 5, 30, 7, 40], 1, 2, 2, 2);
        var attrs = K.A(("is_training", Attr.Bool(true)), ("epsilon", Attr.Float(0f)));
        var outs = K.Run("FusedBatchNorm", attrs, 5, x, K.F([1, 1], 2), K.F([0, 0], 2), K.F([], 0), K.F([], 0));
        // channel 0: 1,3,5,7 mean 4 var 5; channel 1: 10..40 mean 25 var 125
        var exp = x.As<float>().Select((v, i) => i % 2 == 0 ? (v - 4) / MathF.Sqrt(5) : (v - 25) / MathF.Sqrt(125)).ToArray();
        K.Close(exp, outs[0].As<float>(), 1e-5f);
        K.Close([4, 25], outs[1].As<float>());
        K.Close([20f / 3, 500f / 3], outs[2].As<float>(), 1e-5f); // unbiased running variance
    }

    [Fact]
    public void NchwBatchNormAndGlobalNormalization()
    {
        var x = K.F([1, 2, 3, 4, 10, 20, 30, 40], 1, 2, 2, 2); // NCHW: channel 0 = 1..4, channel 1 = 10..40
        var attrs = K.A(("is_training", Attr.Bool(false)), ("epsilon", Attr.Float(0f)), ("data_format", Attr.String("NCHW")));
        var r = K.Run("FusedBatchNormV2", attrs, 5, x, K.F([1, 2], 2), K.F([0, 1], 2), K.F([1, 10], 2), K.F([1, 4], 2))[0];
        K.Close([0, 1, 2, 3, 1 + 0, 1 + 10, 1 + 20, 1 + 30], r.As<float>());
        var g = K.Run1("BatchNormWithGlobalNormalization",
            K.A(("variance_epsilon", Attr.Float(0f)), ("scale_after_normalization", Attr.Bool(true))),
            K.F([2, 4], 1, 2), K.F([1, 2], 2), K.F([4, 1], 2), K.F([10, 20], 2), K.F([3, 5], 2));
        K.Close([10 + 3 * (2 - 1) / 2f, 20 + 5 * (4 - 2) / 1f], g.As<float>());
    }

    [Fact]
    public void Lrn()
    {
        var x = K.F([1, 2, 3], 1, 1, 1, 3);
        var r = K.Run1("LRN", K.A(("depth_radius", Attr.Int(1)), ("bias", Attr.Float(1)), ("alpha", Attr.Float(0.5f)), ("beta", Attr.Float(1))), x);
        K.Close([1 / (1 + 0.5f * 5), 2 / (1 + 0.5f * 14), 3 / (1 + 0.5f * 13)], r.As<float>());
    }
}
