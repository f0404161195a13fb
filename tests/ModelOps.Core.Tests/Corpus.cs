namespace ModelOps.Core.Tests;

/// <summary>
/// Finds the shared corpus of real TensorFlow artifacts: $MODELOPS_CORPUS, else &lt;repo&gt;/../shared/corpus.
/// Tests that need it skip (with this reason) where it is absent.
/// </summary>
public static class Corpus
{
    public static readonly string? Root = Locate();

    public const string Missing = "The shared corpus is absent (set MODELOPS_CORPUS or place it at <repo>/../shared/corpus).";

    public static bool Available => Root is not null;

    public static string Path(params string[] parts) =>
        System.IO.Path.Combine(new[] { Root ?? throw new InvalidOperationException(Missing) }.Concat(parts).ToArray());

    /// <summary>Files under the corpus matching a predicate on the relative path (sorted); empty when absent.</summary>
    public static IEnumerable<string> Files(Func<string, bool> predicate)
    {
        if (Root is null) return Array.Empty<string>();
        return Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories)
            .Select(f => System.IO.Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Where(predicate)
            .OrderBy(f => f, StringComparer.Ordinal);
    }

    private static string? Locate()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_CORPUS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? System.IO.Path.GetFullPath(env) : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "ModelOps.sln")) || Directory.Exists(System.IO.Path.Combine(dir.FullName, ".git")))
            {
                string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, "..", "shared", "corpus"));
                if (Directory.Exists(candidate)) return candidate;
            }
            // A git worktree sits deeper than the main checkout: accept <ancestor>/shared/corpus too.
            string nested = System.IO.Path.Combine(dir.FullName, "shared", "corpus");
            if (Directory.Exists(nested)) return nested;
        }
        return null;
    }
}
