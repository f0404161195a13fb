namespace ModelOps.Core.Tests;

/// <summary>
/// Locates the shared test corpus: env MODELOPS_CORPUS, else ../shared/corpus above the repository
/// root. <see cref="Root"/> is null when it is absent (tests that need it skip with a reason).
/// </summary>
public static class Corpus
{
    public static string? Root { get; set; } = Locate();

    /// <summary>A path inside the corpus, or null when the corpus is absent.</summary>
    public static string? Path(params string[] parts) =>
        Root is null ? null : System.IO.Path.Combine(new[] { Root }.Concat(parts).ToArray());

    private static string? Locate()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_CORPUS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? System.IO.Path.GetFullPath(env) : null;
        // Walk up from the test binaries to the repository root (the folder holding ModelOps.sln).
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (!File.Exists(System.IO.Path.Combine(d.FullName, "ModelOps.sln"))) continue;
            string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(d.FullName, "..", "shared", "corpus"));
            if (Directory.Exists(candidate)) return candidate;
            // Worktrees live one level deeper (…/wt/<name>): try the parent's sibling too.
            candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(d.FullName, "..", "..", "shared", "corpus"));
            return Directory.Exists(candidate) ? candidate : null;
        }
        return null;
    }
}
