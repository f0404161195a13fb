namespace ModelOps.Core.Runtime.Kernels;

/// <summary>Math functions .NET does not provide, accurate to double precision.</summary>
public static class SpecialFunctions
{
    private const double TwoOverSqrtPi = 1.1283791670955126;
    private const double InvSqrtPi = 0.5641895835477563;

    /// <summary>The error function.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        double ax = Math.Abs(x);
        if (ax < 2.5)
        {
            // Maclaurin series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)).
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 80; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            return TwoOverSqrtPi * sum;
        }
        double r = 1.0 - ErfcLarge(ax);
        return x < 0 ? -r : r;
    }

    /// <summary>The complementary error function 1 - erf(x), without cancellation for large x.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x < 2.5) return 1.0 - Erf(x);
        return ErfcLarge(x);
    }

    // erfc for x >= 2.5 from its continued fraction
    //   erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
    // evaluated bottom-up with a fixed depth that is ample for x >= 2.5.
    private static double ErfcLarge(double x)
    {
        if (x > 27) return 0.0;
        double f = x;
        for (int k = 60; k >= 1; k--) f = x + (k * 0.5) / f;
        return Math.Exp(-x * x) * InvSqrtPi / f;
    }
}
