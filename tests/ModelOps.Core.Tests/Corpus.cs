namespace ModelOps.Core.Tests;

/// <summary>
/// Locates the shared corpus of real TensorFlow files: env MODELOPS_CORPUS, else &lt;repo&gt;/../shared/corpus
/// where &lt;repo&gt; is the first folder above the test binaries holding `.git` or `ModelOps.sln`
/// (for a git worktree, the first ancestor with shared/corpus).
/// </summary>
public static class Corpus
{
    public static string? Root = Locate();

    public static string Path(params string[] parts) =>
        System.IO.Path.Combine(new[] { Root ?? "<no corpus>" }.Concat(parts).ToArray());

    private static string? Locate()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_CORPUS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? System.IO.Path.GetFullPath(env) : null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (Directory.Exists(System.IO.Path.Combine(d.FullName, ".git")) || File.Exists(System.IO.Path.Combine(d.FullName, ".git"))
                || File.Exists(System.IO.Path.Combine(d.FullName, "ModelOps.sln")))
            {
                string c = System.IO.Path.GetFullPath(System.IO.Path.Combine(d.FullName, "..", "shared", "corpus"));
                if (Directory.Exists(c)) return c;
            }
            // A git worktree sits deeper than the main checkout: also accept <ancestor>/shared/corpus.
            string s = System.IO.Path.Combine(d.FullName, "shared", "corpus");
            if (Directory.Exists(s)) return s;
        }
        return null;
    }
}
